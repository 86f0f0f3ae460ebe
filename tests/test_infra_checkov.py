"""checkov over the packaged module of every stage: Chalice's resources scanned, zero failed checks.

checkov runs from .venv-checkov (a `make test` prerequisite), offline, with
the repository's .checkov.yaml: every skip is listed there with its reason.
"""
from pathlib import Path

import pytest

from devtools import infra_checkov
from devtools import package as pkg

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "staging", "prod")
CHALICE_RESOURCES = {"aws_lambda_function", "aws_api_gateway_rest_api", "aws_api_gateway_deployment",
                     "aws_lambda_permission"}



@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    # Not a skip: a run without checkov would pass while verifying nothing.
    assert infra_checkov.CHECKOV.exists(), "checkov is missing: `make test` installs .venv-checkov (mk/infra.mk)"
    base = tmp_path_factory.mktemp("build")
    return {stage: pkg.package(stage, base / stage) for stage in STAGES}


@pytest.mark.parametrize("stage", STAGES)
def test_checkov_finds_nothing_and_scanned_chalices_resources(builds, stage):
    report = infra_checkov.run_checkov(builds[stage])
    assert report.failed == []
    assert report.parsing_errors == ()
    scanned = report.resources_in(pkg.CHALICE_FILE)
    assert scanned, "checkov scanned no resource of chalice.tf.json"
    assert "aws_lambda_function.api_handler" in scanned
    hand_written = {finding.resource.split(".")[0] for finding in report.findings if finding.file.endswith(".tf")}
    assert {"aws_dynamodb_table", "aws_kms_key", "aws_iam_role", "aws_cloudwatch_log_group", "aws_sns_topic",
            "aws_api_gateway_stage"} <= hand_written


def test_prod_settings_pass_checkov_too(builds):
    report = infra_checkov.run_checkov(builds["prod"], var_file=builds["prod"] / "prod.tfvars")
    assert report.failed == []


def test_custom_check_catches_a_table_without_deletion_protection(builds):
    report = infra_checkov.run_checkov(builds["dev"], var_file=builds["dev"] / "dev.tfvars")
    assert [(f.check_id, f.resource) for f in report.failed] == [("CKV_SLS_1", "aws_dynamodb_table.logs")]


def test_every_skip_in_the_config_has_a_written_reason():
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    previous = None
    skips = 0
    for line in lines[lines.index("skip-check:") + 1:]:
        stripped = line.strip()
        if stripped.startswith("- "):
            # a skip follows its reason (a comment) or shares it with the skip above
            assert previous is not None and previous.startswith(("#", "- ")), line
            skips += 1
        previous = stripped
    assert skips >= 1


def test_checkov_errors_surface(tmp_path):
    with pytest.raises(RuntimeError, match="checkov failed"):
        infra_checkov.run_checkov(tmp_path, checkov=ROOT / ".venv-checkov" / "bin" / "python",
                                  config=ROOT / ".checkov.yaml")


def test_command_line_summary(builds, capsys):
    assert infra_checkov.main([str(builds["prod"])]) == 0
    assert "0 failed" in capsys.readouterr().out
