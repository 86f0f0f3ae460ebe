"""Every stage's packaged module, and infra/ alone, against the AWS provider's own schema.

The checker is the shared offline one (``../shared/tools/tfschema/validate.py`` beside
this checkout, or ``$TFSCHEMA_VALIDATOR``): arguments, blocks, attribute references
and dependency cycles against hashicorp/aws 5.99.1, read from the cdktf provider
wheels in ``$TFSCHEMA_CACHE/dl`` (default ``build/tfschema/dl``). Neither the checker
nor the wheels are in the repository and tests never download: ``make test`` downloads
the wheels once when the checker is beside this checkout (``mk/infra.mk``); without
either, this test is skipped and says what is missing. With them it takes a few
seconds (the first run extracts the schema once, about 10 s).

    mkdir -p build/tfschema/dl
    pip download -q --no-deps -d build/tfschema/dl cdktf-cdktf-provider-aws==19.65.1 cdktf-cdktf-provider-random==12.0.1
"""
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import package as pkg

ROOT = Path(__file__).resolve().parent.parent
VALIDATOR = Path(os.environ.get("TFSCHEMA_VALIDATOR", ROOT.parent / "shared" / "tools" / "tfschema" / "validate.py"))
CACHE = Path(os.environ.get("TFSCHEMA_CACHE", ROOT / "build" / "tfschema"))


def _check(*modules):
    """The checker over ``modules``, one run at a time: the first extracts the schema into the cache,
    which two pytest workers at once would race."""
    with open(CACHE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return subprocess.run([sys.executable, str(VALIDATOR), *map(str, modules)], capture_output=True,
                              text=True, env={**os.environ, "TFSCHEMA_CACHE": str(CACHE)}, timeout=300)


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    if not VALIDATOR.is_file():
        pytest.skip(f"the provider-schema checker is not at {VALIDATOR} (set TFSCHEMA_VALIDATOR)")
    if not list((CACHE / "dl").glob("cdktf_cdktf_provider_aws-*.whl")):
        pytest.skip(f"no cdktf provider wheels in {CACHE / 'dl'} (set TFSCHEMA_CACHE; see this file's docstring)")
    base = tmp_path_factory.mktemp("schema")
    folders = [pkg.package(stage, base / stage) for stage in pkg.STAGES]
    standalone = base / "infra"
    standalone.mkdir()
    for path in [*(ROOT / "infra").glob("*.tf"), *(ROOT / "infra").glob("*.json")]:
        shutil.copy(path, standalone)
    return [*folders, standalone]


def test_every_module_matches_the_aws_provider_schema(modules):
    result = _check(*modules)
    summaries = [line for line in result.stdout.splitlines() if line.strip().startswith("->")]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert len(summaries) == len(modules) and all(line.strip() == "-> 0 error(s), 0 warning(s)"
                                                  for line in summaries), result.stdout[-4000:]


def test_the_checker_catches_errors_so_a_pass_means_something(modules):
    broken = VALIDATOR.parent / "selftest"
    if not broken.is_dir():
        pytest.skip(f"the checker's selftest module is not at {broken}")
    result = _check(broken)
    assert result.returncode == 1 and "ERROR" in result.stdout
