"""The commands and names of README.md and docs/*.md resolve to something real.

Every shell command of the docs' fenced blocks (tests/support/docs_commands.py) is
checked: `make` targets and variables against the makefiles' own database,
`slog` subcommands and options against the CLI's argparse parser, repository
paths against the tree (build/<stage>/ against what `make package` writes),
`terraform output`/`-var`/`TF_VAR_` names against infra/, `aws` commands and
their options against botocore's service models, and every resource name
against the names infra/'s templates give for each stage's tfvars.
"""
import fnmatch
import functools
import json
import posixpath
import re
import subprocess
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name
from slog.cli import build_parser

from devtools import package as pkg
from devtools.infra_hcl import load_module
from tests.support import docs_commands as dc

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
STAGES = dc.stages()


@functools.cache
def all_commands():
    return [command for doc in DOCS for command in dc.commands(doc, ROOT)]


def commands_named(*programs):
    return [c for c in all_commands() if Path(c.argv[0]).name in programs]


def test_the_docs_have_the_commands_a_deployment_needs():
    found = {" ".join([Path(c.argv[0]).name, *c.argv[1:2]]) for c in all_commands()}
    for expected in ("make package", "make test", "terraform apply", "terraform output", "slog smoke",
                     "aws sts", "aws dynamodb", "aws cloudwatch", "aws logs", "terraform destroy"):
        assert any(text.startswith(expected) for text in found), expected


# --- make ------------------------------------------------------------------------

@functools.cache
def make_database():
    """(targets, variables defined in the makefiles) from `make -p`, which reads Makefile and mk/*.mk itself."""
    out = subprocess.run(["make", "-pRrq", "-C", str(ROOT), "__no_such_target__"], capture_output=True, text=True,
                         check=False).stdout
    targets = {m.group(1) for m in re.finditer(r"^([A-Za-z0-9_./-]+):(?!=)", out, re.M)}
    variables = set(re.findall(r"^# makefile \(from '[^']+', line \d+\)\n([A-Za-z_][A-Za-z0-9_]*) [:?+]?=", out, re.M))
    return targets - {"__no_such_target__"}, variables


def check_make(command):
    targets, variables = make_database()
    problems = []
    for word in command.argv[1:]:
        if word.startswith("-"):
            continue
        if "=" in word:
            name = word.split("=", 1)[0]
            if name not in variables:
                problems.append(f"make variable {name} is not defined in Makefile or mk/*.mk")
        elif word not in targets:
            problems.append(f"make target {word} does not exist")
    return problems


def test_every_make_target_and_variable_exists():
    problems = [f"{c}: {p}" for c in commands_named("make") for p in check_make(c)]
    assert commands_named("make") and not problems, "\n".join(problems)


# --- slog --------------------------------------------------------------------------

@functools.cache
def slog_options():
    """``{"recent": {options}, "archive get": {options}, ...}``: every command's options, subcommands' too."""
    found = {}

    def walk(parser, name):
        subcommands = next((action for action in parser._actions
                            if action.choices and hasattr(action, "_name_parser_map")), None)
        if subcommands is None:
            found[name] = {option for action in parser._actions for option in action.option_strings}
            return
        for sub_name, sub in subcommands.choices.items():
            walk(sub, f"{name} {sub_name}".strip())

    walk(build_parser(), "")
    return found


def check_slog(command):
    options = slog_options()
    words = command.argv[1:]
    if not words or words[0] in ("-h", "--help"):
        return []
    name = next((name for name in options if list(words[:len(name.split())]) == name.split()), None)
    if name is None:
        return [f"slog has no subcommand {' '.join(word for word in words[:2] if not word.startswith('-'))}"]
    return [f"slog {name} has no option {word.split('=')[0]}" for word in words[len(name.split()):]
            if word.startswith("-") and word != "-" and word.split("=")[0] not in options[name]]


def test_every_slog_subcommand_and_option_exists():
    slog = commands_named("slog")
    problems = [f"{c}: {p}" for c in slog for p in check_slog(c)]
    assert slog and not problems, "\n".join(problems)


# --- files ---------------------------------------------------------------------------

@functools.cache
def packaged_files(stage):
    """What `make package STAGE=<stage>` writes into build/<stage>/."""
    return {*pkg.infra_files(), pkg.CHALICE_FILE, pkg.ZIP_FILE, f"{stage}.tfvars"}


TOP_LEVEL = {path.name for path in ROOT.iterdir()} | {"build"}
FILE_SUFFIXES = (".py", ".tf", ".tfvars", ".json", ".md", ".txt", ".yaml", ".mk", ".zip", ".cfg", ".toml")
# Written by tools the docs run, not kept in the repository.
GENERATED = {".chalice/deployed": "chalice deploy", ".terraform": "terraform init", "build/bench": "make bench"}


def path_words(command):
    """Words of a command that name files of the repository, with where they resolve."""
    for word in command.argv[1:]:
        assignment = word.startswith("-") or re.match(r"[A-Za-z_][A-Za-z0-9_]*=", word)
        value = word.split("=", 1)[1] if assignment and "=" in word else word
        value = value.removeprefix("file://")
        if not value or any(ch in value for ch in "$<>*{}?:") or value.startswith(("/", "http", "~", "-")):
            continue
        first = value.split("/", 1)[0]
        if value.startswith("./") or first in TOP_LEVEL or value.endswith(FILE_SUFFIXES):
            if command.cwd is None:
                continue
            relative = posixpath.normpath(posixpath.join(command.cwd, value))
            if not relative.startswith(".."):  # a file of the reader's, outside the repository
                yield value, Path(relative)


def check_path(relative, created):
    parts = relative.parts
    if parts[0] == "build" and len(parts) >= 2 and parts[1] in STAGES:
        if len(parts) == 2 or (len(parts) == 3 and parts[2] in packaged_files(parts[1])):
            return None
        return f"make package STAGE={parts[1]} writes no {relative}"
    if any(str(relative) == prefix or str(relative).startswith(prefix + "/") for prefix in GENERATED):
        return None
    if (ROOT / relative).exists() or str(relative) in created or relative.name in created:
        return None
    return f"{relative} does not exist in the repository"


def test_every_repository_path_exists():
    created = {name for c in all_commands() for target in c.redirects for name in (target, Path(target).name)}
    problems = []
    for command in all_commands():
        if command.argv[0].startswith((".venv/bin/", "./")):
            program = Path(command.cwd or ".", command.argv[0])
            if not (ROOT / program).exists():
                problems.append(f"{command}: {program} does not exist")
        for word, relative in path_words(command):
            problem = check_path(Path(*relative.parts), created)
            if problem and word not in created:
                problems.append(f"{command}: {problem}")
        if Path(command.argv[0]).name.startswith("python") and "-m" in command.argv:
            module = command.argv[command.argv.index("-m") + 1]
            if module.split(".")[0] in TOP_LEVEL:
                base = ROOT / module.replace(".", "/")
                if not (base.with_suffix(".py").exists() or (base / "__main__.py").exists()):
                    problems.append(f"{command}: no module {module}")
    assert not problems, "\n".join(problems)


def files_the_docs_have_people_write():
    """Repository paths the docs' commands write (redirections) or have people write (-backend-config files)."""
    written = set()
    for command in all_commands():
        if command.cwd is None:
            continue
        targets = list(command.redirects)
        targets += [word.split("=", 1)[1] for word in command.argv if word.startswith("-backend-config=")]
        for target in targets:
            if target.startswith(("/", "$", "~")) or target == "/dev/null":
                continue
            relative = posixpath.normpath(posixpath.join(command.cwd, target))
            if not relative.startswith(".."):
                written.add(relative)
    return written


def test_every_file_the_docs_have_people_write_in_the_repository_is_git_ignored():
    written = files_the_docs_have_people_write()
    assert {"outputs-prod.json", "backend-prod.hcl"} <= written
    tracked_or_kept = [path for path in sorted(written) if subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", path]).returncode != 0]
    assert tracked_or_kept == []


# --- terraform -------------------------------------------------------------------------

@functools.cache
def infra_declarations():
    outputs, variables = set(), set()
    for folder in (ROOT / "infra", ROOT / "infra" / "chalice"):
        module = load_module(folder)
        outputs |= set(module.outputs)
        variables |= set(module.variables)
    return outputs, variables


def check_terraform(command):
    outputs, variables = infra_declarations()
    words = [w for w in command.argv[1:] if not w.startswith("-chdir")]
    problems = []
    if words[:1] == ["output"]:
        problems += [f"no output {name} in infra/" for name in words[1:] if not name.startswith("-")
                     and name not in outputs]
    for index, word in enumerate(words):
        assignment = None
        if word == "-var" and index + 1 < len(words):
            assignment = words[index + 1]
        elif word.startswith("-var="):
            assignment = word[len("-var="):]
        if assignment is not None and assignment.split("=", 1)[0] not in variables:
            problems.append(f"no variable {assignment.split('=', 1)[0]} in infra/")
        if word.startswith("-var-file=") and command.cwd and command.cwd.startswith("build/"):
            stage = command.cwd.split("/")[1]
            if word != f"-var-file={stage}.tfvars":
                problems.append(f"build/{stage} must be applied with -var-file={stage}.tfvars")
    if words[:1] in (["apply"], ["plan"], ["destroy"], ["init"], ["output"], ["state"], ["import"]) \
            and command.cwd not in {"infra", *(f"build/{stage}" for stage in STAGES)} \
            and not any(w.startswith("-chdir=") for w in command.argv):
        problems.append(f"runs in {command.cwd}, which is not a root module (infra/ or build/<stage>/)")
    return problems


def test_every_terraform_output_and_variable_is_declared():
    terraform = commands_named("terraform")
    problems = [f"{c}: {p}" for c in terraform for p in check_terraform(c)]
    _, variables = infra_declarations()
    for doc in DOCS:
        for name in re.findall(r"\bTF_VAR_(\w+)", doc.read_text()):
            if name not in variables:
                problems.append(f"{doc.name}: TF_VAR_{name} names no variable in infra/")
    assert terraform and not problems, "\n".join(problems)


def documented_outputs():
    """The output names of the first column of docs/DEPLOYMENT.md's outputs table."""
    text = (ROOT / "docs" / "DEPLOYMENT.md").read_text()
    section = text[text.index("## 6. Outputs"):]
    section = section[:section.index("\n## ", 1)]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}


def test_the_outputs_table_lists_exactly_the_outputs_infra_declares():
    outputs, _ = infra_declarations()
    assert documented_outputs() == outputs


# --- what the guide's checks show: this stage, and only what is there -----------------------

def deployment_commands(program, *words):
    found = []
    for command in all_commands():
        if command.doc == "docs/DEPLOYMENT.md" and Path(command.argv[0]).name == program \
                and list(command.argv[1:1 + len(words)]) == list(words):
            found.append(command)
    return found


def option(command, name):
    return command.argv[command.argv.index(name) + 1] if name in command.argv else None


def section_of(line):
    """The number of the DEPLOYMENT.md section (## N. ...) a line is in."""
    headings = [(number, int(match.group(1))) for number, text in
                enumerate((ROOT / "docs" / "DEPLOYMENT.md").read_text().splitlines(), 1)
                if (match := re.match(r"## (\d+)\. ", text))]
    return max((section for start, section in headings if start <= line), default=0)


def test_gateway_response_check_lists_only_the_stacks_own_responses():
    commands = deployment_commands("aws", "apigateway", "get-gateway-responses")
    assert commands and all("defaultResponse==`false`" in option(c, "--query") for c in commands)


def test_execution_log_checks_name_this_stages_api_not_every_api():
    prefixes = [option(c, "--log-group-name-prefix") for c in deployment_commands("aws", "logs", "describe-log-groups")]
    execution = [prefix for prefix in prefixes if prefix.startswith("API-Gateway-Execution-Logs_")]
    assert execution and all(prefix != "API-Gateway-Execution-Logs_" and dc.SUBSTITUTION in prefix
                             for prefix in execution)


def test_no_check_reads_terraform_outputs_after_the_destroy_that_removed_them():
    destroys = {(section_of(c.line), c.line) for c in deployment_commands("terraform", "destroy")}
    assert destroys
    for command in all_commands():
        if command.doc != "docs/DEPLOYMENT.md" or Path(command.argv[0]).name != "terraform":
            continue
        words = [w for w in command.argv[1:] if not w.startswith("-chdir")]
        if words[:1] == ["output"]:
            assert not any(section == section_of(command.line) and line < command.line
                           for section, line in destroys), command


def test_the_chalice_path_is_destroyed_by_terraform_before_chalice_deletes_its_api():
    [delete] = deployment_commands("chalice", "delete")
    [destroy] = [c for c in deployment_commands("terraform", "destroy") if c.cwd == "infra"]
    assert destroy.line < delete.line
    assert any(w.startswith("rest_api_id=") for w in destroy.argv)


def test_capacity_is_shown_for_the_table_and_for_its_index():
    dimensions = [" ".join(c.argv[c.argv.index("--dimensions") + 1:]).split(" --")[0]
                  for c in deployment_commands("aws", "cloudwatch", "get-metric-statistics")
                  if option(c, "--metric-name") == "ConsumedWriteCapacityUnits"]
    assert any("GlobalSecondaryIndexName" not in d for d in dimensions)
    assert any("GlobalSecondaryIndexName" in d for d in dimensions)


def test_every_profile_the_docs_use_is_defined_in_the_docs_or_the_local_credentials():
    text = "\n".join(doc.read_text() for doc in DOCS)
    defined = set(re.findall(r"^\[profile ([\w-]+)\]", text, re.M))
    defined |= set(re.findall(r"^\[([\w-]+)\]", (ROOT / "local" / "aws-credentials").read_text(), re.M))
    used = set()
    for command in all_commands():
        used |= {assignment.split("=", 1)[1] for assignment in command.env if assignment.startswith("AWS_PROFILE=")}
        used |= {command.argv[i + 1] for i, word in enumerate(command.argv[:-1]) if word == "--profile"}
    assert used and used <= defined, used - defined


# --- aws ---------------------------------------------------------------------------------

CLI_SERVICES = {"configservice": "config", "s3api": "s3"}
GLOBAL_OPTIONS = {"--query", "--output", "--region", "--profile", "--no-cli-pager", "--cli-binary-format",
                  "--endpoint-url", "--debug", "--no-paginate", "--max-items", "--starting-token", "--page-size",
                  "--cli-input-json", "--no-verify-ssl", "--color"}
# AWS CLI commands that are customizations, not API operations, with their options.
CUSTOM_COMMANDS = {
    ("logs", "tail"): {"--follow", "--since", "--format", "--filter-pattern", "--log-stream-names",
                       "--log-stream-name-prefix"},
    ("configure", "list"): set(), ("configure", "get"): set(), ("configure", "set"): set(),
}


@functools.cache
def botocore_operation(service, operation):
    session = botocore.session.get_session()
    model = session.get_service_model(CLI_SERVICES.get(service, service))
    for name in model.operation_names:
        if xform_name(name, "-") == operation:
            shape = model.operation_model(name).input_shape
            members = shape.members if shape is not None else {}
            options = set()
            for member, member_shape in members.items():
                options.add("--" + xform_name(member, "-"))
                if member_shape.type_name == "boolean":
                    options.add("--no-" + xform_name(member, "-"))
            return options
    return None


def check_aws(command):
    words = [w for w in command.argv[1:]]
    positional = [w for w in words if not w.startswith("-")]
    if positional == [] and words in (["--version"], ["help"]) or positional == ["configure"]:
        return []
    if len(positional) < 2:
        return ["aws needs a service and a command"]
    service, operation = positional[:2]
    if (service, operation) in CUSTOM_COMMANDS:
        allowed = CUSTOM_COMMANDS[(service, operation)]
    else:
        try:
            allowed = botocore_operation(service, operation)
        except Exception:  # noqa: BLE001 - botocore's UnknownServiceError and friends
            return [f"aws has no service {service}"]
        if allowed is None:
            return [f"aws {service} has no command {operation}"]
    return [f"aws {service} {operation} has no option {w.split('=')[0]}" for w in words
            if w.startswith("--") and w.split("=")[0] not in allowed | GLOBAL_OPTIONS]


def test_every_aws_command_and_option_exists():
    aws = commands_named("aws")
    problems = [f"{c}: {p}" for c in aws for p in check_aws(c)]
    assert aws and not problems, "\n".join(problems)


# --- resource names -------------------------------------------------------------------------

@functools.cache
def known_names():
    return dc.expected_names()


def check_name(token, is_prefix):
    names, patterns = known_names()
    candidates = [token.replace("<stage>", stage) for stage in STAGES] if "<stage>" in token else [token]
    problems = []
    for candidate in candidates:
        candidate = re.sub(r"<[^<>]+>", dc.PLACEHOLDER_VALUE, candidate)
        if is_prefix:
            ok = any(name.startswith(candidate) for name in names)
        else:
            ok = candidate in names or any(pattern.fullmatch(candidate) for pattern in patterns)
        if not ok:
            problems.append(f"{candidate} is not a name infra/ gives any stage")
    return problems


def name_problems(command):
    problems = []
    for index, word in enumerate(command.argv):
        after_prefix_option = index > 0 and command.argv[index - 1].endswith("-prefix")
        for token, is_prefix in dc.name_tokens(word):
            problems += check_name(token, is_prefix or after_prefix_option)
    return problems


def test_every_resource_name_in_a_command_is_what_terraform_creates():
    problems = [f"{c}: {p}" for c in all_commands() for p in name_problems(c)]
    assert not problems, "\n".join(problems)


def test_every_resource_name_in_inline_code_is_what_terraform_creates():
    problems = []
    for doc in DOCS:
        for line, code in dc.inline_code(doc.read_text()):
            problems += [f"{doc.name}:{line}: {p}" for token, is_prefix in dc.name_tokens(code)
                         for p in check_name(token, is_prefix)]
    assert not problems, "\n".join(problems)


# --- the deployer's IAM policies in docs/DEPLOYMENT.md ----------------------------------------

# What Terraform (AWS provider 5.x) calls to create, read, update and delete each resource type.
TERRAFORM_ACTIONS = {
    "aws_api_gateway_account": ["apigateway:GET", "apigateway:PATCH"],
    "aws_api_gateway_deployment": ["apigateway:GET", "apigateway:POST", "apigateway:DELETE"],
    "aws_api_gateway_gateway_response": ["apigateway:GET", "apigateway:PUT", "apigateway:DELETE"],
    "aws_api_gateway_method_settings": ["apigateway:GET", "apigateway:PATCH"],
    "aws_api_gateway_rest_api": ["apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH",
                                 "apigateway:DELETE"],
    "aws_api_gateway_stage": ["apigateway:GET", "apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    "aws_budgets_budget": ["budgets:ModifyBudget", "budgets:ViewBudget"],
    "aws_cloudwatch_dashboard": ["cloudwatch:PutDashboard", "cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards"],
    "aws_cloudwatch_log_group": ["logs:CreateLogGroup", "logs:DescribeLogGroups", "logs:PutRetentionPolicy",
                                 "logs:AssociateKmsKey", "logs:DeleteLogGroup", "logs:ListTagsForResource",
                                 "logs:TagResource"],
    "aws_cloudwatch_metric_alarm": ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms",
                                    "cloudwatch:DeleteAlarms", "cloudwatch:ListTagsForResource",
                                    "cloudwatch:TagResource"],
    "aws_config_config_rule": ["config:PutConfigRule", "config:DescribeConfigRules", "config:DeleteConfigRule",
                               "config:ListTagsForResource", "config:TagResource"],
    "aws_config_configuration_recorder": ["config:PutConfigurationRecorder",
                                          "config:DescribeConfigurationRecorders",
                                          "config:DeleteConfigurationRecorder", "iam:PassRole"],
    "aws_config_configuration_recorder_status": ["config:StartConfigurationRecorder",
                                                 "config:StopConfigurationRecorder",
                                                 "config:DescribeConfigurationRecorderStatus"],
    "aws_config_delivery_channel": ["config:PutDeliveryChannel", "config:DescribeDeliveryChannels",
                                    "config:DeleteDeliveryChannel"],
    "aws_dynamodb_table": ["dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable",
                           "dynamodb:DeleteTable", "dynamodb:DescribeContinuousBackups",
                           "dynamodb:UpdateContinuousBackups", "dynamodb:DescribeTimeToLive",
                           "dynamodb:UpdateTimeToLive", "dynamodb:ListTagsOfResource", "dynamodb:TagResource",
                           "kms:CreateGrant", "kms:DescribeKey"],
    "aws_iam_role": ["iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:UpdateAssumeRolePolicy",
                     "iam:TagRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
                     "iam:ListInstanceProfilesForRole"],
    "aws_iam_role_policy": ["iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"],
    # The archive (infra/archive.tf).
    "aws_s3_bucket": ["s3:CreateBucket", "s3:ListBucket", "s3:DeleteBucket", "s3:GetBucketTagging",
                      "s3:PutBucketTagging", "s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketWebsite",
                      "s3:GetBucketLogging", "s3:GetBucketRequestPayment", "s3:GetBucketObjectLockConfiguration",
                      "s3:GetAccelerateConfiguration", "s3:GetReplicationConfiguration"],
    "aws_s3_bucket_ownership_controls": ["s3:PutBucketOwnershipControls", "s3:GetBucketOwnershipControls"],
    "aws_s3_bucket_public_access_block": ["s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"],
    "aws_s3_bucket_versioning": ["s3:PutBucketVersioning", "s3:GetBucketVersioning"],
    "aws_s3_bucket_server_side_encryption_configuration": ["s3:PutEncryptionConfiguration",
                                                           "s3:GetEncryptionConfiguration"],
    "aws_s3_bucket_lifecycle_configuration": ["s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration"],
    "aws_s3_bucket_policy": ["s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"],
    "aws_sqs_queue": ["sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:DeleteQueue",
                      "sqs:ListQueueTags", "sqs:TagQueue"],
    "aws_lambda_event_source_mapping": ["lambda:CreateEventSourceMapping", "lambda:GetEventSourceMapping",
                                        "lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping",
                                        "dynamodb:DescribeStream", "dynamodb:ListStreams"],
    "aws_glue_catalog_database": ["glue:CreateDatabase", "glue:GetDatabase", "glue:UpdateDatabase",
                                  "glue:DeleteDatabase"],
    "aws_glue_catalog_table": ["glue:CreateTable", "glue:GetTable", "glue:UpdateTable", "glue:DeleteTable"],
    "aws_athena_workgroup": ["athena:CreateWorkGroup", "athena:GetWorkGroup", "athena:UpdateWorkGroup",
                             "athena:DeleteWorkGroup", "athena:ListTagsForResource", "athena:TagResource"],
    "aws_iam_role_policy_attachment": ["iam:AttachRolePolicy", "iam:DetachRolePolicy",
                                       "iam:ListAttachedRolePolicies"],
    "aws_kms_alias": ["kms:CreateAlias", "kms:DeleteAlias", "kms:ListAliases", "kms:UpdateAlias"],
    "aws_kms_key": ["kms:CreateKey", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
                    "kms:EnableKeyRotation", "kms:ListResourceTags", "kms:TagResource", "kms:PutKeyPolicy",
                    "kms:ScheduleKeyDeletion"],
    "aws_lambda_function": ["lambda:CreateFunction", "lambda:GetFunction", "lambda:UpdateFunctionCode",
                            "lambda:UpdateFunctionConfiguration", "lambda:DeleteFunction",
                            "lambda:GetFunctionCodeSigningConfig", "lambda:ListVersionsByFunction",
                            "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency",
                            "lambda:TagResource", "lambda:ListTags", "iam:PassRole"],
    "aws_lambda_permission": ["lambda:AddPermission", "lambda:RemovePermission", "lambda:GetPolicy"],
    "aws_sns_topic": ["sns:CreateTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:DeleteTopic",
                      "sns:ListTagsForResource", "sns:TagResource"],
    "aws_sns_topic_policy": ["sns:SetTopicAttributes", "sns:GetTopicAttributes"],
    "aws_sns_topic_subscription": ["sns:Subscribe", "sns:Unsubscribe", "sns:GetSubscriptionAttributes"],
    "aws_ssm_parameter": ["ssm:PutParameter", "ssm:GetParameter", "ssm:GetParameters", "ssm:DescribeParameters",
                          "ssm:ListTagsForResource", "ssm:AddTagsToResource", "ssm:DeleteParameter"],
    "random_password": [],
}
# What `chalice deploy` calls for a REST API, its function and a policy-file role (chalice/awsclient.py).
CHALICE_DEPLOY_ACTIONS = [
    "iam:GetRole", "iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:ListRolePolicies",
    "iam:DeleteRole", "iam:PassRole", "lambda:GetFunction", "lambda:GetFunctionConfiguration",
    "lambda:CreateFunction", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
    "lambda:DeleteFunction", "lambda:ListTags", "lambda:TagResource", "lambda:UntagResource",
    "lambda:AddPermission", "lambda:RemovePermission", "lambda:GetPolicy", "lambda:DeleteFunctionConcurrency",
    "apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:DELETE",
]


def documented_statements(marker):
    """The statements of the JSON policy block that follows ``<!-- deployer-policy: marker -->``."""
    text = (ROOT / "docs" / "DEPLOYMENT.md").read_text()
    match = re.search(rf"<!-- deployer-policy: {marker} -->\s*```json\n(.*?)```", text, re.S)
    assert match, f"docs/DEPLOYMENT.md has no policy marked {marker}"
    statements = json.loads(match.group(1))["Statement"]
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for key in ("Action", "Resource"):
            statement[key] = [statement[key]] if isinstance(statement[key], str) else statement[key]
    return statements


def documented_policy(marker):
    """Allowed actions of the JSON policy block that follows ``<!-- deployer-policy: marker -->``."""
    return {action for statement in documented_statements(marker) for action in statement["Action"]}


def allowing(marker, action, resource):
    """The statements of a documented policy that allow ``action`` on ``resource``."""
    return [s for s in documented_statements(marker) if any(fnmatch.fnmatchcase(action, a) for a in s["Action"])
            and any(fnmatch.fnmatchcase(resource, r) for r in s["Resource"])]


def missing_actions(required, allowed):
    return sorted(a for a in required if not any(fnmatch.fnmatchcase(a, pattern) for pattern in allowed))


@pytest.fixture(scope="module")
def packaged_types(tmp_path_factory):
    module = load_module(pkg.package("prod", tmp_path_factory.mktemp("docs") / "prod"))
    return {kind for kind, _ in module.resources}


def test_terraform_deployer_policy_covers_every_resource_type_of_the_packaged_module(packaged_types):
    assert packaged_types - set(TERRAFORM_ACTIONS) == set(), "a resource type without its deployer actions"
    required = {a for kind in packaged_types for a in TERRAFORM_ACTIONS[kind]}
    assert missing_actions(required, documented_policy("terraform")) == []


def test_chalice_deployer_policy_covers_infra_and_chalice_deploy():
    types = {kind for kind, _ in load_module(ROOT / "infra").resources}
    required = {a for kind in types for a in TERRAFORM_ACTIONS[kind]} | set(CHALICE_DEPLOY_ACTIONS)
    assert missing_actions(required, documented_policy("chalice")) == []


def test_deployer_policies_grant_no_service_wildcard():
    for marker in ("terraform", "chalice"):
        assert not [a for a in documented_policy(marker) if a == "*" or a.endswith(":*")]


@pytest.mark.parametrize("marker", ["terraform", "chalice"])
def test_deployer_may_tag_the_key_it_creates_before_the_key_exists(marker):
    """KMS authorizes CreateKey's tags as kms:TagResource on no particular key: it must be allowed on *."""
    [statement] = allowing(marker, "kms:TagResource", "*")
    assert statement["Condition"] == {"StringLike": {"aws:RequestTag/Stack": "simple-log-service-*"}}
    assert allowing(marker, "kms:CreateKey", "*")


def test_the_state_backend_policy_lets_terraform_take_and_release_its_lock():
    bucket, key = "arn:aws:s3:::my-terraform-state", "arn:aws:s3:::my-terraform-state/slog/prod.tfstate"
    assert allowing("state", "s3:ListBucket", bucket)
    for action in ("s3:GetObject", "s3:PutObject"):
        assert allowing("state", action, key), action
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert allowing("state", action, f"{key}.tflock"), action
    assert not allowing("state", "s3:DeleteObject", key)  # the state itself is never deleted


def test_deployer_policies_name_one_region_and_the_guide_says_to_replace_it():
    text = (ROOT / "docs" / "DEPLOYMENT.md").read_text()
    assert "`us-east-1` by the stage's" in text
    for marker in ("terraform", "chalice"):
        regions = {resource.split(":")[3] for statement in documented_statements(marker)
                   for resource in statement["Resource"] if resource.startswith("arn:")}
        assert regions <= {"us-east-1", ""}, (marker, regions)


# --- the checks themselves catch what they claim to --------------------------------------------

def fake(argv, cwd=".", redirects=()):
    return dc.Command("doc.md", 1, cwd, tuple(argv), (), tuple(redirects))


def test_the_checks_reject_wrong_commands_and_names():
    assert check_make(fake(["make", "deploy"]))
    assert check_make(fake(["make", "smoke", "SMOKE_OUTPUT=x.json"]))
    assert check_slog(fake(["slog", "smoke", "--ingest-external"]))
    assert check_slog(fake(["slog", "follow"]))
    assert check_slog(fake(["slog", "archive", "put"]))
    assert check_slog(fake(["slog", "archive", "get", "--limit", "5"]))
    assert check_terraform(fake(["terraform", "output", "-raw", "table_name"], "build/prod"))
    assert check_terraform(fake(["terraform", "apply", "-var", "enable_deletion_protection=false"], "build/prod"))
    assert check_terraform(fake(["terraform", "apply", "-var-file=dev.tfvars"], "build/prod"))
    assert check_terraform(fake(["terraform", "output", "-json"], "."))
    assert check_aws(fake(["aws", "dynamodb", "describe-tables", "--table-name", "x"]))
    assert check_aws(fake(["aws", "kms", "get-key-rotation-status", "--key", "x"]))
    assert check_path(Path("build/prod/outputs.tf.json"), set())
    assert check_path(Path("devtools/no_such_tool.py"), set())
    assert name_problems(fake(["aws", "dynamodb", "describe-table", "--table-name", "simple-log-service-logs-prod"]))
    assert name_problems(fake(["aws", "iam", "get-role", "--role-name", "simple-log-service-ingest-prod"]))
    assert check_name("simple-log-service-<stage>-log-writer", False)


def test_the_checks_accept_right_commands_and_names():
    assert not check_make(fake(["make", "package", "STAGE=prod"]))
    assert not check_slog(fake(["slog", "smoke", "--outputs", "o.json", "--ingest-external-id", "x"]))
    assert not check_slog(fake(["slog", "archive", "get", "--service", "s", "--max-bytes", "5"]))
    assert not check_terraform(fake(["terraform", "output", "-raw", "dynamodb_table_name"], "build/prod"))
    assert not check_aws(fake(["aws", "dynamodb", "describe-continuous-backups", "--table-name", "x"]))
    assert not check_aws(fake(["aws", "dynamodb", "update-table", "--no-deletion-protection-enabled"]))
    assert not check_path(Path("build/prod/prod.tfvars"), set())
    assert not name_problems(fake(["aws", "logs", "tail", "/aws/lambda/simple-log-service-prod"]))
    assert not check_name("API-Gateway-Execution-Logs_<rest_api_id>/api", False)


def test_extraction_handles_continuations_prompts_comments_and_substitutions(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("\n".join([
        "```console", "$ cd build/prod   # the stage", "$ FOO=1 terraform output \\", "    -raw kms_key_id",
        "kms-123", "$ aws kms get-key-rotation-status --key-id \"$(terraform output -raw kms_key_id)\" | jq .", "```",
        "```", "make test && make bench; .venv/bin/slog recent > out.json", "```",
        "```", "app.py   routes only", "```",
        "```bash", "cat > x.json <<'EOF'", "make not-a-command", "EOF", "git clone <this repository> x", "```",
    ]))
    found = [(c.cwd, c.argv, c.env, c.redirects) for c in dc.commands(doc, tmp_path)]
    assert found == [
        (".", ("cd", "build/prod"), (), ()),
        ("build/prod", ("terraform", "output", "-raw", "kms_key_id"), ("FOO=1",), ()),
        ("build/prod", ("aws", "kms", "get-key-rotation-status", "--key-id", dc.SUBSTITUTION), (), ()),
        ("build/prod", ("jq", "."), (), ()),
        ("build/prod", ("terraform", "output", "-raw", "kms_key_id"), (), ()),
        (".", ("make", "test"), (), ()),
        (".", ("make", "bench"), (), ()),
        (".", (".venv/bin/slog", "recent"), (), ("out.json",)),
        (".", ("cat",), (), ("x.json",)),
        (".", ("git", "clone", "<this repository>", "x"), (), ()),
    ]
