"""Run checkov (from .venv-checkov) over a packaged module, offline, and summarize it.

``python -m devtools.infra_checkov build/prod`` prints the failed checks and
exits non-zero on any failure or when Chalice's resources were not scanned.

checkov scans a copy of the module's Terraform files (never the deployment
zip) with the repository's .checkov.yaml: the frameworks ``terraform``
(the .tf files) and ``terraform_json`` (Chalice's chalice.tf.json), the
skips with their reasons, and the custom checks of infra/checkov/.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".checkov.yaml"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CHALICE_FILE = "chalice.tf.json"


@dataclass(frozen=True)
class Finding:
    check_id: str
    resource: str
    file: str
    passed: bool


@dataclass(frozen=True)
class Report:
    findings: tuple
    parsing_errors: tuple

    @property
    def failed(self):
        return [finding for finding in self.findings if not finding.passed]

    def resources_in(self, file_name):
        """Resources checkov ran at least one check on, in that file."""
        return {finding.resource for finding in self.findings if finding.file.lstrip("/") == file_name}


def offline_environment():
    """checkov's environment: no platform mapping download, and any HTTP attempt fails on loopback."""
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith(("BC_", "PRISMA_"))}
    env.update({
        "BC_SKIP_MAPPING": "TRUE",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
        "LOG_LEVEL": "WARNING",
    })
    return env


def scan_copy(module_dir, target):
    """The module's Terraform (and the JSON files it reads), without the zip or tfvars."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(module_dir).iterdir()):
        if path.name.endswith((".tf", ".tf.json")) or path.suffix == ".json":
            shutil.copyfile(path, target / path.name)
    return target


def parse_report(raw):
    documents = json.loads(raw)
    if isinstance(documents, dict):
        documents = [documents]
    findings = []
    parsing_errors = []
    for document in documents:
        results = document.get("results", {})
        for key, passed in (("passed_checks", True), ("failed_checks", False)):
            for check in results.get(key, []):
                findings.append(Finding(check["check_id"], check["resource"], check["file_path"], passed))
        parsing_errors.extend(results.get("parsing_errors", []))
    return Report(tuple(findings), tuple(parsing_errors))


def run_checkov(module_dir, var_file=None, checkov=CHECKOV, config=CONFIG):
    """checkov over a scan copy of ``module_dir``; ``var_file`` is passed as --var-file if given."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = scan_copy(module_dir, Path(tmp) / "module")
        command = [str(checkov), "--config-file", str(config), "--directory", str(copy), "--output", "json"]
        if var_file is not None:
            shutil.copyfile(var_file, Path(tmp) / Path(var_file).name)
            command += ["--var-file", str(Path(tmp) / Path(var_file).name)]
        result = subprocess.run(command, cwd=ROOT, env=offline_environment(), capture_output=True, text=True,
                                timeout=300)
    # checkov exits 1 when a check fails; anything else non-zero is its own failure.
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"checkov failed ({result.returncode}): {result.stderr[-2000:]}")
    return parse_report(result.stdout)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    module_dir = Path(argv[0])
    report = run_checkov(module_dir)
    for finding in report.failed:
        print(f"FAILED {finding.check_id} {finding.resource} ({finding.file})")
    scanned = report.resources_in(CHALICE_FILE)
    print(f"{len(report.findings)} results, {len(report.failed)} failed; "
          f"{len(scanned)} resources of {CHALICE_FILE} scanned")
    return 1 if report.failed or report.parsing_errors or not scanned else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
