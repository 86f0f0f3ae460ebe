"""`make package STAGE=<stage>`: build/<stage>/, one Terraform root module.

It holds Chalice's generated Terraform (``chalice package --pkg-format
terraform``), rewritten to fit the hand-written ``infra/*.tf`` beside it, plus
the stage's tfvars. Everything it writes is written anew each time (Chalice
never cleans its output folder), byte-for-byte the same on each run; Terraform's
own files there (TERRAFORM_WORKING_FILES: state, providers, lock, backend.tf)
are kept. ``--clean-build build`` removes build output, never those files.

The rewrite of ``chalice.tf.json``:

* drops Chalice's ``terraform`` block (it pins Terraform < 1.4 and the AWS
  provider < 5); ``infra/versions.tf`` holds the only constraints;
* drops Chalice's roles and inline policies (built from the stage's policy
  files, whose ``${aws:...}`` IAM variables Terraform would read as
  interpolation): the API's function runs as ``aws_iam_role.lambda`` of
  ``infra/iam.tf``, the archive function as ``aws_iam_role.archive`` of
  ``infra/archive.tf``;
* points each function's environment at the Terraform-managed table, cursor and
  shard key parameters and retention (and the archive's at its bucket), and its
  logs at its encrypted log group, and takes its runtime from
  ``var.lambda_runtime`` (Chalice writes the version of the Python that runs
  it), and its reserved concurrency from its variable;
* names the REST API per stage (Chalice gives every stage's API the app's
  name, which would mix the stages' metrics) and replaces it before
  destroying it; its resource policy names the caller roles of the deploying
  account only (the stage's policy file, which cannot know the account, names
  them in any account); its definition calls the function by a built ARN
  (``local.lambda_invoke_arn``) rather than by reference, so that the key
  policy can name the API's execution log group without a dependency cycle;
* removes the stage from Chalice's deployment: ``infra/chalice/api_wiring.tf``
  owns the stage (access logs, tracing), and a new deployment is triggered
  whenever the API definition changes;
* drops the unused ``null_data_source`` (it needs the null provider) and the
  outputs (``infra/outputs.tf`` has them, described).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
STAGES = ("dev", "staging", "prod")
CHALICE_FILE = "chalice.tf.json"
ZIP_FILE = "deployment.zip"
# Terraform's own files in build/<stage>/, the deployer's: state (it holds the cursor
# signing key and the shard key), workspaces' states, the lock, providers and the
# backend block. Neither repackaging nor `make clean-build` touches them.
TERRAFORM_WORKING_FILES = (".terraform", ".terraform.lock.hcl", "terraform.tfstate", "terraform.tfstate.backup",
                           "terraform.tfstate.d", ".terraform.tfstate.lock.info", "backend.tf")
# How Chalice's API definition calls the function; the rewrite calls it by a
# built ARN (local.lambda_invoke_arn) so that the API does not depend on the
# function: the key policy names the API's execution log group, and the
# function's own log group needs the key.
FUNCTION_INVOKE_ARN = "${aws_lambda_function.api_handler.invoke_arn}"
# How the stage's API resource policy (.chalice/api-policy-<stage>.json) names the caller roles: in
# any account, since Chalice's files cannot know it. Terraform knows it, and the rewrite pins it.
ANY_ACCOUNT_ROLE = "arn:aws:iam::*:role/"
DEPLOYING_ACCOUNT_ROLE = "arn:${local.partition}:iam::${local.account_id}:role/"
# 1980-01-01, the earliest time a zip entry can carry.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

# What the functions get from Terraform instead of .chalice/config.json.
TERRAFORM_ENVIRONMENT = {
    "LOG_TABLE_NAME": "${aws_dynamodb_table.logs.name}",
    "LOG_RETENTION_DAYS": "${var.log_retention_days}",
    "CURSOR_KEY_PARAMETER": "${aws_ssm_parameter.cursor_signing_key.name}",
    "SHARD_KEY_PARAMETER": "${aws_ssm_parameter.shard_key.name}",
}
# The archive function's own (.chalice/config.json: the stage's lambda_functions.archive).
ARCHIVE_ENVIRONMENT = {"ARCHIVE_BUCKET": "${aws_s3_bucket.archive.bucket}"}


@dataclass(frozen=True)
class Function:
    """What Terraform gives one of Chalice's functions: its role, log group and environment."""

    role: str
    log_group: str
    environment: dict
    reserved_concurrency: str


# Chalice's name of each function in chalice.tf.json (app.py) -> what infra/ gives it.
FUNCTIONS = {
    "api_handler": Function("lambda", "lambda", TERRAFORM_ENVIRONMENT, "${var.lambda_reserved_concurrency}"),
    "archive": Function("archive", "archive", {**TERRAFORM_ENVIRONMENT, **ARCHIVE_ENVIRONMENT},
                        "${var.archive_reserved_concurrency}"),
}


class PackageError(RuntimeError):
    """Chalice's output is not what this packaging step knows how to merge."""


def chalice_environment():
    """Environment for `chalice package`: no AWS account, no metadata probe."""
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env.setdefault("AWS_ACCESS_KEY_ID", "packaging-needs-no-credentials")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "packaging-needs-no-credentials")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def run_chalice_package(stage, out_dir, project_dir=ROOT):
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run(
        [str(chalice), "--project-dir", str(project_dir), "package", "--pkg-format", "terraform",
         "--stage", stage, str(out_dir)],
        check=True, env=chalice_environment(), stdout=subprocess.DEVNULL,
    )


def _take(mapping, *path):
    for key in path:
        if not isinstance(mapping, dict) or key not in mapping:
            raise PackageError(f"chalice.tf.json has no {'.'.join(path)}")
        mapping = mapping[key]
    return mapping


def rewrite_chalice_terraform(doc):
    """Chalice's generated Terraform, fitted to infra/ (see the module docstring)."""
    _take(doc, "terraform")
    del doc["terraform"]
    doc.get("data", {}).pop("null_data_source", None)
    if not doc.get("data", True):
        del doc["data"]
    doc.pop("output", None)

    resources = _take(doc, "resource")
    for kind in ("aws_iam_role", "aws_iam_role_policy"):
        generated = resources.pop(kind, {})
        if set(generated) - {f"{name}_role" for name in FUNCTIONS}:
            raise PackageError(f"unexpected {kind} resources in chalice.tf.json: {sorted(generated)}")
    functions = _take(resources, "aws_lambda_function")
    if set(functions) != set(FUNCTIONS):
        raise PackageError(f"chalice.tf.json has the functions {sorted(functions)}, not {sorted(FUNCTIONS)}")
    for name, wiring in FUNCTIONS.items():
        _wire_function(functions[name], wiring)

    rest_api = _take(resources, "aws_api_gateway_rest_api", "rest_api")
    rest_api["name"] = "${local.name}"
    rest_api["lifecycle"] = {"create_before_destroy": True}
    swagger = _take(doc, "locals", "chalice_api_swagger")
    if FUNCTION_INVOKE_ARN not in swagger:
        raise PackageError(f"the API definition does not call the function by {FUNCTION_INVOKE_ARN}")
    policy = _take(rest_api, "policy")
    if ANY_ACCOUNT_ROLE not in policy:
        raise PackageError(f"the API resource policy names no caller role as {ANY_ACCOUNT_ROLE}<name>")
    rest_api["policy"] = policy.replace(ANY_ACCOUNT_ROLE, DEPLOYING_ACCOUNT_ROLE)
    doc["locals"]["chalice_api_swagger"] = swagger.replace(FUNCTION_INVOKE_ARN, "${local.lambda_invoke_arn}").replace(
        ANY_ACCOUNT_ROLE, DEPLOYING_ACCOUNT_ROLE)

    deployment = _take(resources, "aws_api_gateway_deployment", "rest_api")
    deployment.pop("stage_name", None)
    deployment.pop("stage_description", None)
    # The API names the function by ARN, not by reference: deploy it only once the function may be invoked.
    deployment["depends_on"] = ["aws_lambda_permission.rest_api_invoke"]
    # Gateway responses take effect only in a new deployment.
    deployment["triggers"] = {
        "api_definition": "${sha256(local.chalice_api_swagger)}",
        "gateway_responses": "${sha256(jsonencode(aws_api_gateway_gateway_response.contract_shape))}",
    }
    return doc


def _wire_function(function, wiring):
    function["role"] = f"${{aws_iam_role.{wiring.role}.arn}}"
    variables = _take(function, "environment", "variables")
    missing = set(wiring.environment) - set(variables)
    if missing:
        raise PackageError(f"the stage's environment lacks {sorted(missing)}: is it a deployed stage?")
    variables.update(wiring.environment)
    # Chalice takes the runtime from the Python that runs it; the stage's tfvars pin it instead.
    function["runtime"] = "${var.lambda_runtime}"
    function["reserved_concurrent_executions"] = wiring.reserved_concurrency
    function["logging_config"] = {"log_format": "Text",
                                  "log_group": f"${{aws_cloudwatch_log_group.{wiring.log_group}.name}}"}
    function["depends_on"] = [f"aws_iam_role_policy.{wiring.role}"]


def _is_bytecode(name):
    return "__pycache__/" in name or name.endswith((".pyc", ".pyo"))


def write_deterministic_zip(source, target):
    """Copy a zip with sorted entries, one timestamp and normalized permissions.

    Bytecode is left out: Chalice copies whatever ``__pycache__`` the working
    tree has, and a .pyc embeds its source's modification time.
    """
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in sorted(src.infolist(), key=lambda entry: entry.filename):
            if info.is_dir() or _is_bytecode(info.filename):
                continue
            executable = (info.external_attr >> 16) & 0o111
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
            entry.create_system = 3
            entry.external_attr = (0o100755 if executable else 0o100644) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, src.read(info), compresslevel=9)


def infra_files():
    """infra/*.tf and the JSON they read, with infra/chalice/*.tf replacing same-named files."""
    files = {path.name: path for path in sorted(INFRA.glob("*.tf"))}
    files.update({path.name: path for path in sorted((INFRA / "chalice").glob("*.tf"))})
    for name in ("table_schema.json", "caller_roles.json"):
        files[name] = INFRA / name
    return dict(sorted(files.items()))


def package(stage, out_dir=None, project_dir=ROOT):
    """Write the merged root module for ``stage``; returns its folder."""
    if stage not in STAGES:
        raise PackageError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
    out_dir = Path(out_dir) if out_dir is not None else project_dir / "build" / stage
    with tempfile.TemporaryDirectory() as kept:
        _set_aside_terraform_state(out_dir, Path(kept))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True)
        _write_module(stage, out_dir, project_dir)
        for path in Path(kept).iterdir():
            shutil.move(str(path), out_dir / path.name)
    return out_dir


def _set_aside_terraform_state(out_dir, kept):
    """Move Terraform's own files (state, providers, backend) out of the way of a fresh build.

    Everything this module generates is written anew; what ``terraform init`` and
    ``apply`` left there is the deployer's and survives repackaging.
    """
    for name in TERRAFORM_WORKING_FILES:
        if (out_dir / name).exists():
            shutil.move(str(out_dir / name), kept / name)


def _write_module(stage, out_dir, project_dir):
    with tempfile.TemporaryDirectory() as tmp:
        generated = Path(tmp) / "chalice"
        run_chalice_package(stage, generated, project_dir)
        doc = rewrite_chalice_terraform(json.loads((generated / CHALICE_FILE).read_text()))
        (out_dir / CHALICE_FILE).write_text(json.dumps(doc, indent=2) + "\n")
        write_deterministic_zip(generated / ZIP_FILE, out_dir / ZIP_FILE)
    for name, path in infra_files().items():
        shutil.copyfile(path, out_dir / name)
    shutil.copyfile(INFRA / "env" / f"{stage}.tfvars", out_dir / f"{stage}.tfvars")


def clean_build(build_root):
    """Remove what build/ holds, but Terraform's own files in each folder that has some."""
    build_root = Path(build_root)
    if not build_root.is_dir():
        return []
    removed = []
    for path in sorted(build_root.iterdir()):
        if path.is_dir() and any((path / name).exists() for name in TERRAFORM_WORKING_FILES):
            doomed = [child for child in sorted(path.iterdir()) if child.name not in TERRAFORM_WORKING_FILES]
        else:
            doomed = [path]
        for child in doomed:
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
            removed.append(child)
    return removed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=STAGES)
    parser.add_argument("--out", type=Path, help="output folder (default: build/<stage>)")
    parser.add_argument("--clean-build", type=Path, metavar="BUILD",
                        help="remove the build output under BUILD, keeping Terraform's state, providers and backend")
    args = parser.parse_args(argv)
    if args.clean_build is not None:
        for path in clean_build(args.clean_build):
            print(f"removed {path}")
        return
    if args.stage is None:
        parser.error("--stage is required")
    out_dir = package(args.stage, args.out)
    print(f"packaged {args.stage} into {out_dir}")


if __name__ == "__main__":  # pragma: no cover
    main()
