"""make package: build/<stage> is one valid, deterministic Terraform root module (no Terraform needed).

Every stage is packaged once per session into a temporary folder by the same
code `make package` runs; the tests read it with devtools.infra_hcl.
"""
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chalicelib import settings
from devtools import package as pkg
from devtools.infra_hcl import ModuleError, load_module, references, unresolved_references

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "staging", "prod")
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    base = tmp_path_factory.mktemp("build")
    return {stage: pkg.package(stage, base / stage) for stage in STAGES}


@pytest.fixture(scope="module")
def modules(builds):
    return {stage: load_module(folder) for stage, folder in builds.items()}


def chalice_doc(build):
    return json.loads((build / pkg.CHALICE_FILE).read_text())


# --- the folder ----------------------------------------------------------------

def test_build_holds_chalice_output_infra_files_and_the_stage_tfvars(builds):
    expected = {"chalice.tf.json", "deployment.zip", "table_schema.json", "caller_roles.json"}
    expected |= {path.name for path in (ROOT / "infra").glob("*.tf")}
    expected |= {path.name for path in (ROOT / "infra" / "chalice").glob("*.tf")}
    for stage, build in builds.items():
        assert {path.name for path in build.iterdir()} == expected | {f"{stage}.tfvars"}
        assert (build / f"{stage}.tfvars").read_bytes() == (ROOT / "infra" / "env" / f"{stage}.tfvars").read_bytes()


def test_merged_build_takes_the_chalice_api_wiring_instead_of_the_standalone_one(builds):
    wiring = (builds["prod"] / "api_wiring.tf").read_text()
    assert wiring == (ROOT / "infra" / "chalice" / "api_wiring.tf").read_text()
    assert "aws_api_gateway_rest_api.rest_api" in wiring


def test_packaging_twice_gives_byte_identical_files(builds, tmp_path):
    again = pkg.package("prod", tmp_path / "again")
    first = {path.name: path.read_bytes() for path in builds["prod"].iterdir()}
    second = {path.name: path.read_bytes() for path in again.iterdir()}
    assert first == second


def test_packaging_starts_from_an_empty_folder(tmp_path):
    out = tmp_path / "prod"
    out.mkdir()
    (out / "stale.tf").write_text('resource "aws_s3_bucket" "left_over" {}\n')
    pkg.package("prod", out)
    assert not (out / "stale.tf").exists()


def test_repackaging_keeps_terraform_state_and_backend(tmp_path):
    out = tmp_path / "prod"
    out.mkdir()
    (out / "terraform.tfstate").write_text('{"version": 4}')
    (out / "backend.tf").write_text('terraform {\n  backend "s3" {}\n}\n')
    (out / ".terraform").mkdir()
    (out / ".terraform" / "environment").write_text("default")
    (out / "terraform.tfstate.d" / "blue").mkdir(parents=True)
    (out / "terraform.tfstate.d" / "blue" / "terraform.tfstate").write_text('{"version": 4}')
    pkg.package("prod", out)
    assert (out / "terraform.tfstate.d" / "blue" / "terraform.tfstate").exists()
    assert (out / "terraform.tfstate").read_text() == '{"version": 4}'
    assert (out / "backend.tf").exists() and (out / ".terraform" / "environment").exists()
    assert (out / pkg.CHALICE_FILE).exists()


def test_deployment_zip_is_normalized_and_holds_the_app_source(builds):
    with zipfile.ZipFile(builds["prod"] / pkg.ZIP_FILE) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names == sorted(names)
        assert {info.date_time for info in infos} == {pkg.ZIP_EPOCH}
        assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
        sources = ["app.py"] + [f"chalicelib/{path.name}" for path in (ROOT / "chalicelib").glob("*.py")]
        for name in sources:
            assert archive.read(name) == (ROOT / name).read_bytes(), name


def test_zip_rewrite_drops_bytecode_and_keeps_executable_bits(tmp_path):
    source = tmp_path / "in.zip"
    with zipfile.ZipFile(source, "w") as archive:
        script = zipfile.ZipInfo("bin/tool", date_time=(2024, 5, 1, 12, 0, 0))
        script.external_attr = 0o100755 << 16
        archive.writestr(script, b"#!/bin/sh\n")
        archive.writestr(zipfile.ZipInfo("pkg/__pycache__/m.cpython-311.pyc"), b"bytecode")
        archive.writestr(zipfile.ZipInfo("a/"), b"")
        archive.writestr(zipfile.ZipInfo("a/mod.py", date_time=(2030, 1, 1, 0, 0, 0)), b"x = 1\n")
    pkg.write_deterministic_zip(source, tmp_path / "out.zip")
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert modes == {"a/mod.py": 0o100644, "bin/tool": 0o100755}


def test_unknown_stage_is_refused(tmp_path):
    with pytest.raises(pkg.PackageError, match="stage must be one of"):
        pkg.package("local", tmp_path / "local")


def test_cli_packages_into_the_given_folder(tmp_path, capsys):
    pkg.main(["--stage", "dev", "--out", str(tmp_path / "dev")])
    assert (tmp_path / "dev" / "chalice.tf.json").is_file()
    assert "packaged dev" in capsys.readouterr().out


# --- make clean / make clean-build: Terraform's state is never build output ----------------

TERRAFORM_FILES = {
    "terraform.tfstate": '{"version": 4, "resources": ["cursor signing key"]}',
    "terraform.tfstate.backup": '{"version": 4}',
    "terraform.tfstate.d/blue/terraform.tfstate": '{"version": 4}',
    ".terraform/providers/registry.terraform.io/hashicorp/aws/provider": "binary",
    ".terraform.lock.hcl": "# lock",
    ".terraform.tfstate.lock.info": "{}",
    "backend.tf": 'terraform {\n  backend "s3" {}\n}\n',
}
BUILD_OUTPUT = {"chalice.tf.json": "{}", "deployment.zip": "zip", "prod.tfvars": "stage = \"prod\"", "tfplan": "plan"}


@pytest.fixture
def checkout(tmp_path):
    """The makefiles and the packaging module in a scratch folder, with virtual environments and a used build/."""
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copytree(ROOT / "mk", tmp_path / "mk")
    (tmp_path / "devtools").mkdir()
    for name in ("__init__.py", "package.py"):
        shutil.copy(ROOT / "devtools" / name, tmp_path / "devtools" / name)
    files = {".venv/bin/python": "", ".venv-checkov/bin/checkov": "", ".pytest_cache/v": "", ".coverage": "",
             "build/bench/results.json": "{}", "build/dev/chalice.tf.json": "{}"}
    files.update({f"build/prod/{name}": text for name, text in {**TERRAFORM_FILES, **BUILD_OUTPUT}.items()})
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def tree(folder):
    return {str(path.relative_to(folder)): path.read_text() for path in sorted(folder.rglob("*")) if path.is_file()}


def make(folder, target):
    subprocess.run(["make", "-s", "-C", str(folder), target, f"PYTHON={sys.executable}"], check=True,
                   capture_output=True, text=True, timeout=60)


def test_make_clean_removes_environments_and_never_touches_build(checkout):
    before = tree(checkout / "build")
    make(checkout, "clean")
    assert not (checkout / ".venv").exists() and not (checkout / ".venv-checkov").exists()
    assert not (checkout / ".pytest_cache").exists() and not (checkout / ".coverage").exists()
    assert tree(checkout / "build") == before


def test_make_clean_build_removes_build_output_but_keeps_terraform_state_providers_and_backend(checkout):
    make(checkout, "clean-build")
    assert tree(checkout / "build") == {f"prod/{name}": text for name, text in TERRAFORM_FILES.items()}
    assert (checkout / ".venv" / "bin" / "python").exists()


def test_clean_build_reports_what_it_removed_and_keeps_every_terraform_file(checkout, capsys):
    pkg.main(["--clean-build", str(checkout / "build")])
    removed = {Path(line.removeprefix("removed ")).relative_to(checkout / "build").as_posix()
               for line in capsys.readouterr().out.splitlines()}
    assert removed == {"bench", "dev", *(f"prod/{name}" for name in BUILD_OUTPUT)}
    assert tree(checkout / "build") == {f"prod/{name}": text for name, text in TERRAFORM_FILES.items()}


def test_clean_build_of_a_missing_build_folder_does_nothing(tmp_path, capsys):
    pkg.main(["--clean-build", str(tmp_path / "build")])
    assert capsys.readouterr().out == "" and not (tmp_path / "build").exists()
    with pytest.raises(SystemExit):
        pkg.main([])  # neither a stage nor --clean-build


# --- the rewrite of Chalice's Terraform -------------------------------------------

def test_rewrite_refuses_output_it_does_not_know(builds):
    raw = {"resource": {}}
    with pytest.raises(pkg.PackageError, match="no terraform"):
        pkg.rewrite_chalice_terraform(raw)
    doc = chalice_doc(builds["prod"])
    doc["terraform"] = {}
    doc["resource"]["aws_iam_role"] = {"another_role": {}}
    with pytest.raises(pkg.PackageError, match="unexpected aws_iam_role"):
        pkg.rewrite_chalice_terraform(doc)
    for variable in ("CURSOR_KEY_PARAMETER", "SHARD_KEY_PARAMETER"):
        doc = chalice_doc(builds["prod"])
        doc["terraform"] = {}
        del doc["resource"]["aws_lambda_function"]["api_handler"]["environment"]["variables"][variable]
        with pytest.raises(pkg.PackageError, match=variable):
            pkg.rewrite_chalice_terraform(doc)
    doc = chalice_doc(builds["prod"])
    doc["terraform"] = {}
    with pytest.raises(pkg.PackageError, match="does not call the function"):
        pkg.rewrite_chalice_terraform(doc)  # already rewritten: no invoke_arn left to replace
    doc = chalice_doc(builds["prod"])
    doc["terraform"] = {}
    doc["locals"]["chalice_api_swagger"] += pkg.FUNCTION_INVOKE_ARN
    with pytest.raises(pkg.PackageError, match="names no caller role"):
        pkg.rewrite_chalice_terraform(doc)  # already pinned to the deploying account


def test_function_runs_as_the_terraform_role_with_terraform_values(builds):
    for build in builds.values():
        doc = chalice_doc(build)
        assert "aws_iam_role" not in doc["resource"] and "aws_iam_role_policy" not in doc["resource"]
        function = doc["resource"]["aws_lambda_function"]["api_handler"]
        assert function["role"] == "${aws_iam_role.lambda.arn}"
        assert function["runtime"] == "${var.lambda_runtime}"  # not the Python that ran make package
        assert function["logging_config"]["log_group"] == "${aws_cloudwatch_log_group.lambda.name}"
        env = function["environment"]["variables"]
        assert env["LOG_TABLE_NAME"] == "${aws_dynamodb_table.logs.name}"
        assert env["CURSOR_KEY_PARAMETER"] == "${aws_ssm_parameter.cursor_signing_key.name}"
        assert env["SHARD_KEY_PARAMETER"] == "${aws_ssm_parameter.shard_key.name}"
        assert env["LOG_RETENTION_DAYS"] == "${var.log_retention_days}"
        assert "${aws:" not in json.dumps(doc)


def test_the_archive_function_runs_as_its_own_role_with_its_bucket_log_group_and_reservation(builds):
    for stage, build in builds.items():
        doc = chalice_doc(build)
        function = doc["resource"]["aws_lambda_function"]["archive"]
        assert function["handler"] == "app.archive"
        assert function["role"] == "${aws_iam_role.archive.arn}"
        assert function["depends_on"] == ["aws_iam_role_policy.archive"]
        assert function["runtime"] == "${var.lambda_runtime}"
        assert function["logging_config"]["log_group"] == "${aws_cloudwatch_log_group.archive.name}"
        assert function["reserved_concurrent_executions"] == "${var.archive_reserved_concurrency}"
        env = function["environment"]["variables"]
        assert env["ARCHIVE_BUCKET"] == "${aws_s3_bucket.archive.bucket}"
        assert env["LOG_TABLE_NAME"] == "${aws_dynamodb_table.logs.name}"
        # .chalice/config.json's lambda_functions.archive: a batch of 1,000 records has minutes, not the API's 20 s.
        assert (function["memory_size"], function["timeout"]) == (512, 300), stage
        api = doc["resource"]["aws_lambda_function"]["api_handler"]
        assert api["reserved_concurrent_executions"] == "${var.lambda_reserved_concurrency}"
        assert "ARCHIVE_BUCKET" not in api["environment"]["variables"]
        # Beyond the stage's variables, the archive function gets exactly what only it reads.
        assert set(env) - set(api["environment"]["variables"]) == set(settings.ARCHIVE_ONLY)


def test_rewrite_refuses_functions_it_does_not_know_or_an_archive_without_its_bucket(builds):
    doc = chalice_doc(builds["prod"])
    doc["terraform"] = {}
    doc["resource"]["aws_lambda_function"]["another"] = {}
    with pytest.raises(pkg.PackageError, match="functions"):
        pkg.rewrite_chalice_terraform(doc)
    doc = chalice_doc(builds["prod"])
    doc["terraform"] = {}
    del doc["resource"]["aws_lambda_function"]["archive"]["environment"]["variables"]["ARCHIVE_BUCKET"]
    with pytest.raises(pkg.PackageError, match="ARCHIVE_BUCKET"):
        pkg.rewrite_chalice_terraform(doc)


def test_stage_belongs_to_terraform_and_the_deployment_follows_the_api_definition(builds):
    doc = chalice_doc(builds["prod"])
    deployment = doc["resource"]["aws_api_gateway_deployment"]["rest_api"]
    assert "stage_name" not in deployment
    assert "local.chalice_api_swagger" in deployment["triggers"]["api_definition"]
    assert "output" not in doc and "null_data_source" not in doc.get("data", {})


def test_the_api_calls_the_function_by_a_built_arn_so_the_key_policy_may_name_the_api(modules):
    module = modules["prod"]
    swagger = json.loads(module.locals["chalice_api_swagger"])
    uris = {method["x-amazon-apigateway-integration"]["uri"] for path in swagger["paths"].values()
            for method in path.values()}
    assert uris == {"${local.lambda_invoke_arn}"}
    assert "aws_lambda_function" not in json.dumps(module.resource("aws_api_gateway_rest_api", "rest_api"))
    assert module.locals["lambda_invoke_arn"] == (
        "arn:${local.partition}:apigateway:${local.region}:lambda:path/2015-03-31/functions/"
        "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.lambda_function_name}"
        "/invocations")
    assert "local.rest_api_id" in module.locals["log_group_names"]
    deployment = module.resource("aws_api_gateway_deployment", "rest_api")
    assert deployment["depends_on"] == ["aws_lambda_permission.rest_api_invoke"]


# --- a valid root module ------------------------------------------------------------

def test_every_reference_resolves_in_every_stage(modules):
    for stage, module in modules.items():
        assert unresolved_references(module) == {}, stage
        assert ("aws_lambda_function", "api_handler") in module.resources


def test_standalone_infra_folder_resolves_on_its_own(tmp_path):
    for path in list((ROOT / "infra").glob("*.tf")) + list((ROOT / "infra").glob("*.json")):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    module = load_module(tmp_path)
    assert unresolved_references(module) == {}
    assert ("aws_lambda_function", "api_handler") not in module.resources
    assert "rest_api_id" in module.variables


def test_reference_checker_reports_what_is_missing(tmp_path):
    (tmp_path / "main.tf").write_text(
        'resource "aws_sns_topic" "t" {\n  name = "${var.missing}-${local.gone}"\n'
        '  kms_master_key_id = data.aws_kms_key.nope.arn\n  policy = aws_iam_role.absent.arn\n}\n')
    (tmp_path / "x.tf.json").write_text(json.dumps({"resource": {"aws_sqs_queue": {"q": {
        "depends_on": ["aws_sns_topic.t", "aws_sns_topic.other"]}}}}))
    missing = unresolved_references(load_module(tmp_path))
    assert set(missing) == {"var.missing", "local.gone", "data.aws_kms_key.nope", "aws_iam_role.absent",
                            "aws_sns_topic.other"}
    assert references("${each.key} ${count.index} ${path.module} $context.requestId aws:SourceAccount") == set()


def test_duplicate_declarations_and_broken_files_are_errors(tmp_path):
    (tmp_path / "a.tf").write_text('variable "x" {\n  type = string\n}\n')
    (tmp_path / "b.tf.json").write_text(json.dumps({"variable": {"x": {"type": "string"}}}))
    with pytest.raises(ModuleError, match="declared twice"):
        load_module(tmp_path)
    (tmp_path / "b.tf.json").unlink()
    (tmp_path / "c.tf").write_text("resource {{{\n")
    with pytest.raises(ModuleError, match="c.tf"):
        load_module(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModuleError, match="no .tf"):
        load_module(empty)


def _version(text):
    return tuple(int(part) for part in text.split("."))


def _satisfies(version, constraints):
    """Terraform's version constraint syntax: comma-separated operator/version pairs, all must hold."""
    for clause in constraints.split(","):
        operator, wanted = re.fullmatch(r"\s*(>=|<=|!=|~>|>|<|=)?\s*([\d.]+)\s*", clause).groups()
        have, want = _version(version), _version(wanted)
        width = max(len(have), len(want))
        have, want = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        ok = {None: have == want, "=": have == want, "!=": have != want, ">": have > want, ">=": have >= want,
              "<": have < want, "<=": have <= want,
              "~>": have >= want and have[:len(wanted.split(".")) - 1] == want[:len(wanted.split(".")) - 1]}[operator]
        if not ok:
            return False
    return True


def test_version_constraints_accept_terraform_1_5_and_aws_provider_5_98_up_to_6(modules):
    for stage, module in modules.items():
        required_versions = [block["required_version"] for _, block in module.terraform if "required_version" in block]
        provider_versions = {}
        for _, block in module.terraform:
            for providers in (block.get("required_providers") or []):
                for name, spec in (providers.items() if isinstance(providers, dict) else []):
                    provider_versions.setdefault(name, []).append(spec["version"])
        assert required_versions, stage
        for terraform_version in ("1.5.0", "1.11.4"):
            assert all(_satisfies(terraform_version, c) for c in required_versions), (stage, required_versions)
        assert not any(_satisfies("1.3.9", c) for c in required_versions)
        assert all(_satisfies("5.98.0", c) for c in provider_versions["aws"]), provider_versions
        assert all(_satisfies("5.99.1", c) for c in provider_versions["aws"]), provider_versions
        # recovery_period_in_days (the PITR window) came with 5.98.0
        assert not all(_satisfies("5.97.0", c) for c in provider_versions["aws"])
        assert not any(_satisfies("4.67.0", c) for c in provider_versions["aws"])
        assert not all(_satisfies("6.0.0", c) for c in provider_versions["aws"])
        assert "null" not in provider_versions
        assert [name for name, _ in module.providers] == ["aws"]


def test_constraint_evaluator_reads_terraform_syntax():
    assert _satisfies("1.3.9", ">= 0.12.26, < 1.4.0") and not _satisfies("1.5.0", ">= 0.12.26, < 1.4.0")
    assert _satisfies("5.1.0", "~> 5.0") and not _satisfies("6.0.0", "~> 5.0") and _satisfies("1.2.3", "1.2.3")


# --- OpenTelemetry in: binary bodies and the protobuf runtime -----------------------

def test_the_rest_api_takes_protobuf_bodies_as_binary(builds):
    for stage, build in builds.items():
        (api,) = chalice_doc(build)["resource"]["aws_api_gateway_rest_api"].values()
        assert "application/x-protobuf" in api["binary_media_types"], stage


def test_the_function_carries_the_otlp_schema_and_protobuf_built_for_lambda(builds):
    with zipfile.ZipFile(builds["prod"] / pkg.ZIP_FILE) as archive:
        names = set(archive.namelist())
        assert {"opentelemetry/proto/collector/logs/v1/logs_service_pb2.py", "google/rpc/status_pb2.py"} <= names
        (extension,) = [name for name in names if name.startswith("google/_upb/_message") and name.endswith(".so")]
        header = archive.read(extension)[:20]
    assert header[:4] == b"\x7fELF" and header[18] == 0x3E, "protobuf's extension must be Linux x86-64 (Lambda)"
