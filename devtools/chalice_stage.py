"""The `chalice deploy` path's stage files, written from infra/: ``python -m devtools.chalice_stage``.

infra/ is the one definition of a deployed stage. `chalice deploy` cannot read
Terraform, so this writes what it reads, for every stage of ``infra/env/``:

* ``.chalice/policy-<stage>.json``: the API function role's policy, rendered from
  ``data.aws_iam_policy_document.lambda`` (infra/iam.tf), and
  ``.chalice/policy-archive-<stage>.json``, the archive function's, from
  ``data.aws_iam_policy_document.archive`` (infra/archive.tf). What Terraform knows
  only after apply is written with IAM policy variables (``${aws:RequestedRegion}``,
  ``${aws:PrincipalAccount}``); the key, whose id is random, is matched by its alias,
  and the table's stream, whose label is the time it was enabled, as ``stream/*``.
* ``.chalice/api-policy-<stage>.json``: the REST API's resource policy, on
  both paths (``chalice package`` puts it on the API of the packaged module
  too). It denies ``execute-api:Invoke`` to every principal but the stage's
  caller roles (infra/caller_roles.json, named as infra/iam.tf names them);
  each role's own policy then limits it to its routes. The roles' account is
  left open (``*``), since these files cannot know it: ``make package`` pins it
  to the deploying account (``devtools.package``); on the `chalice deploy`
  path a role of that name in another account still gets nothing, since a
  cross-account call needs an Allow in this policy, which allows nothing.
* the stage's keys in ``.chalice/config.json``: the two policy files, the
  stage's tags (Application, Stage, Stack, as Terraform tags its resources),
  the settings Terraform gives the function on the packaged path (table,
  retention, cursor and shard key parameters) and, per function
  (``lambda_functions``), the API function's reserved concurrency
  (``lambda_reserved_concurrency``; none when it is -1) and the archive
  function's policy file, bucket (``ARCHIVE_BUCKET``) and reserved concurrency
  (``archive_reserved_concurrency``).

``--check`` writes nothing and exits 1 when a file differs from what infra/ gives.
"""
import argparse
import json
import sys
from pathlib import Path

from devtools import package
from devtools.infra_hcl import Evaluator, load_module, module_variables

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
CHALICE_DIR = ROOT / ".chalice"
REGION = "${aws:RequestedRegion}"
ACCOUNT = "${aws:PrincipalAccount}"


class StageFiles:
    """The files of one stage, computed from infra/ and that stage's tfvars."""

    def __init__(self, stage, infra):
        self.stage = stage
        self.module = load_module(infra)
        self.variables = module_variables(self.module, infra / "env" / f"{stage}.tfvars")
        evaluate = Evaluator(self.module, self.variables)
        self.name = evaluate("${local.name}")
        self.table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{evaluate('${aws_dynamodb_table.logs.name}')}"
        self.key_alias = evaluate(self.module.resource("aws_kms_alias", "this")["name"])
        self.lists = {
            "local.log_table_arns": [self.table_arn] + [
                f"{self.table_arn}/index/{index['name']}"
                for index in evaluate.local("table_schema")["global_secondary_indexes"]],
        }
        parameter_arns = {
            f"aws_ssm_parameter.{name}.arn": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{evaluate(parameter['name'])}"
            for name, parameter in self.module.resources_of("aws_ssm_parameter").items()}
        # local.archive_bucket_name is coalesce(var.archive_bucket_name, local.archive_bucket_default_name).
        self.archive_bucket = self.variables.get("archive_bucket_name") or evaluate(
            "${local.archive_bucket_default_name}")
        self.evaluate = Evaluator(self.module, self.variables, known={
            "local.region": REGION,
            "local.account_id": ACCOUNT,
            "local.partition": "aws",
            "aws_dynamodb_table.logs.arn": self.table_arn,
            "aws_kms_key.this.arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*",
            **parameter_arns,
            "aws_cloudwatch_log_group.lambda.arn":
                f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{evaluate('${local.lambda_log_group}')}",
            "aws_dynamodb_table.logs.stream_arn": f"{self.table_arn}/stream/*",
            "aws_s3_bucket.archive.arn": f"arn:aws:s3:::{self.archive_bucket}",
            "aws_s3_bucket.archive.bucket": self.archive_bucket,
            "aws_sqs_queue.archive_dlq.arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{evaluate('${local.archive_dlq_name}')}",
            "aws_cloudwatch_log_group.archive.arn":
                f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{evaluate('${local.archive_log_group}')}",
        })

    def _values(self, values):
        rendered = []
        for value in [values] if isinstance(values, str) else values:
            whole = value[2:-1] if value.startswith("${") and value.endswith("}") else None
            rendered.extend(self.lists[whole] if whole in self.lists else [self.evaluate(value)])
        return rendered

    def function_policy(self, document_name="lambda"):
        """data.aws_iam_policy_document.<document_name> as this stage's chalice deploy role policy."""
        document = self.module.data[("aws_iam_policy_document", document_name)]
        key_arn = self.evaluate("${aws_kms_key.this.arn}")
        statements = []
        for block in document["statement"]:
            resources = self._values(block["resources"])
            statement = {"Sid": block["sid"], "Effect": block.get("effect", "Allow"),
                         "Action": list(block["actions"]), "Resource": resources}
            conditions = {}
            for condition in block.get("condition", []):
                values = self._values(condition["values"])
                conditions.setdefault(condition["test"], {})[condition["variable"]] = (
                    values[0] if len(values) == 1 else values)
            if key_arn in resources:
                # key/* is every key of the account: only the one behind this stage's alias.
                conditions["ForAnyValue:StringEquals"] = {"kms:ResourceAliases": [self.key_alias]}
            if conditions:
                statement["Condition"] = conditions
            statements.append(statement)
        return {"Version": "2012-10-17", "Statement": statements}

    def caller_role_names(self):
        template = self.module.resource("aws_iam_role", "caller")["name"]
        return [self.evaluate(template, role) for role in self.evaluate.local("caller_roles")]

    def api_policy(self):
        """The REST API's resource policy: no principal but the stage's caller roles may invoke it."""
        return {"Version": "2012-10-17", "Statement": [{
            "Sid": "OnlyTheStagesCallerRoles",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "execute-api:Invoke",
            "Resource": "execute-api:/*",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": [
                f"arn:aws:iam::*:role/{name}" for name in self.caller_role_names()]}},
        }]}

    def config(self, current):
        """The stage's entry of .chalice/config.json, keeping the keys this module does not own."""
        environment = dict(current.get("environment_variables", {}))
        for variable, reference in package.TERRAFORM_ENVIRONMENT.items():
            environment[variable] = self.evaluate(reference)
        # What infra/main.tf's local.tags gives Terraform's resources, but ManagedBy: Chalice tags the function
        # with it, so the budget counts it and the Config rules scoped by Stack judge it on this path too.
        tags = {"Application": self.evaluate("${var.app_name}"), "Stage": self.evaluate("${var.stage}"),
                "Stack": self.name}
        api_handler = {}
        reserved = int(self.evaluate("${var.lambda_reserved_concurrency}"))
        if reserved != -1:
            api_handler["reserved_concurrency"] = reserved
        archive = {"iam_policy_file": f"policy-archive-{self.stage}.json",
                   "reserved_concurrency": int(self.evaluate("${var.archive_reserved_concurrency}")),
                   "environment_variables": {name: self.evaluate(reference)
                                             for name, reference in package.ARCHIVE_ENVIRONMENT.items()}}
        owned = {"autogen_policy": False, "iam_policy_file": f"policy-{self.stage}.json",
                 "api_gateway_policy_file": f"api-policy-{self.stage}.json", "tags": tags,
                 "environment_variables": environment,
                 "lambda_functions": {"api_handler": api_handler, "archive": archive}}
        kept = {key: value for key, value in current.items() if key not in owned and key != "reserved_concurrency"}
        return {**owned, **kept}


def dumps(document):
    return json.dumps(document, indent=2) + "\n"


def expected_files(chalice_dir=None, infra=None):
    """{path: text} of every file this module writes (into .chalice/, from infra/ unless told otherwise)."""
    chalice_dir, infra = chalice_dir or CHALICE_DIR, infra or INFRA
    config_path = chalice_dir / "config.json"
    config = json.loads(config_path.read_text())
    files = {}
    for stage in package.STAGES:
        stage_files = StageFiles(stage, infra)
        config["stages"][stage] = stage_files.config(config["stages"].get(stage, {}))
        files[chalice_dir / f"policy-{stage}.json"] = dumps(stage_files.function_policy())
        files[chalice_dir / f"policy-archive-{stage}.json"] = dumps(stage_files.function_policy("archive"))
        files[chalice_dir / f"api-policy-{stage}.json"] = dumps(stage_files.api_policy())
    files[config_path] = dumps(config)
    return files


def stale_files(chalice_dir=None, infra=None):
    return sorted(str(path) for path, text in expected_files(chalice_dir, infra).items()
                  if not path.exists() or path.read_text() != text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"out of date: {path} (run python -m devtools.chalice_stage)")
        return 1 if stale else 0
    for path, text in expected_files().items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
