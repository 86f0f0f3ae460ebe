"""IAM of the packaged module, evaluated: the caller-role matrix, external IDs, the Lambda role, the key policy.

The policy documents are read from the packaged Terraform and their few
expressions rendered with the values Terraform would give them (the API's
execution ARN, the stage name, caller_roles.json), then evaluated like IAM
does for an Allow: action and resource must match a statement's patterns.
"""
import ast
import fnmatch
import json
import re
from pathlib import Path

import pytest

from devtools import package as pkg
from devtools.infra_hcl import load_module

ROOT = Path(__file__).resolve().parent.parent
CALLER_ROLES = json.loads((ROOT / "infra" / "caller_roles.json").read_text())["roles"]
EXECUTION_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5"
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/simple-log-service-prod"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-1111-2222-3333-444455556666"
PARAMETER_ARN = "arn:aws:ssm:us-east-1:123456789012:parameter/simple-log-service/prod/cursor-signing-key"
SHARD_PARAMETER_ARN = "arn:aws:ssm:us-east-1:123456789012:parameter/simple-log-service/prod/shard-key"
# The function's secrets: (resource name, prefix of the locals <prefix>_name and <prefix>_arn, its ARN in prod).
SECRET_PARAMETERS = [("cursor_signing_key", "cursor_key_parameter", PARAMETER_ARN),
                     ("shard_key", "shard_key_parameter", SHARD_PARAMETER_ARN)]
LOG_GROUP_ARN = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/simple-log-service-prod"
_FOR = re.compile(r'^\$\{\[for (\w+) in ([\w.]+) : "(.*)"\]\}$')
_INTERPOLATION = re.compile(r"\$\{([^{}]+)\}")


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    return load_module(pkg.package("prod", tmp_path_factory.mktemp("build") / "prod"))


def render(value, env, loop=None):
    """A policy-document value as Terraform would compute it, for the expressions these documents use."""
    if isinstance(value, list):
        rendered = []
        for item in value:
            result = render(item, env, loop)
            rendered.extend(result if isinstance(result, list) else [result])
        return rendered
    match = _FOR.match(value)
    if match:
        name, collection, template = match.groups()
        return [render(template.replace('\\"', '"'), env, {name: item}) for item in env[collection]]
    whole = _INTERPOLATION.fullmatch(value)
    if whole and isinstance(env.get(whole.group(1)), list):
        return env[whole.group(1)]

    def substitute(found):
        expression = found.group(1)
        if loop and expression in loop:
            return loop[expression]
        indexed = re.fullmatch(r"(\w+)\[(\d+)\]", expression)
        if indexed and loop and indexed.group(1) in loop:
            return loop[indexed.group(1)][int(indexed.group(2))]
        return env[expression]

    return _INTERPOLATION.sub(substitute, value)


def statements(document, env):
    return [
        {
            "effect": statement.get("effect", "Allow"),
            "actions": render(statement.get("actions", []), env),
            "resources": render(statement.get("resources", ["*"]), env),
            "conditions": [
                (condition["test"], condition["variable"], render(condition["values"], env))
                for condition in statement.get("condition", [])
            ],
            "principals": [identifier for principal in statement.get("principals", [])
                           for identifier in render(principal["identifiers"], env)],
        }
        for statement in document["statement"]
    ]


def _condition_holds(test, key, values, context):
    """One IAM condition against a request context (the operators these policies use)."""
    present = key in context
    value = context.get(key)
    if test == "StringEquals":
        return present and value in values
    if test == "Bool":
        return present and str(value).lower() in [v.lower() for v in values]
    if test in ("ArnEquals", "ArnLike", "StringLike"):
        return present and any(fnmatch.fnmatchcase(value, pattern) for pattern in values)
    if test in ("ArnNotEquals", "ArnNotLike"):
        return not present or not any(fnmatch.fnmatchcase(value, pattern) for pattern in values)
    raise AssertionError(f"the evaluator does not know {test}")


def allowed(policy, action, resource, context=None, principal=None):
    """IAM for one request: an Allow whose action, resource, principal (if given) and conditions match, and no
    matching Deny."""
    context = context or {}

    def matches(statement):
        if not any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in statement["actions"]):
            return False
        if not any(fnmatch.fnmatchcase(resource, pattern) for pattern in statement["resources"]):
            return False
        if principal is not None and not {principal, "*"} & set(statement["principals"]):
            return False
        return all(_condition_holds(test, key, values, context) for test, key, values in statement["conditions"])

    hits = [statement for statement in policy if matches(statement)]
    return any(s["effect"] == "Allow" for s in hits) and not any(s["effect"] == "Deny" for s in hits)


def api_method_arns(stage="api", execution_arn=EXECUTION_ARN):
    """Every route of the Chalice app, as execute-api method ARNs."""
    from app import app

    return {(method, path): f"{execution_arn}/{stage}/{method}{path}"
            for path, methods in app.routes.items() for method in methods}


def caller_env(module, role):
    assert module.locals["api_execution_arn"] == "${aws_api_gateway_rest_api.rest_api.execution_arn}"
    return {
        "local.api_execution_arn": EXECUTION_ARN,
        "local.api_stage_name": module.locals["api_stage_name"],
        "each.value.routes": CALLER_ROLES[role]["routes"],
    }


# --- caller roles ----------------------------------------------------------------

def test_each_caller_role_may_invoke_exactly_its_routes(module):
    document = module.data[("aws_iam_policy_document", "caller_invoke")]
    assert document["for_each"] == "${local.caller_roles}"
    assert module.locals["api_stage_name"] == json.loads((ROOT / ".chalice" / "config.json").read_text())[
        "api_gateway_stage"]
    expected = {
        "log-ingest": {("POST", "/logs"), ("POST", "/v1/logs")},
        "log-read": {("GET", "/logs/recent")},
        "log-full-access": {("POST", "/logs"), ("GET", "/logs/recent"), ("POST", "/v1/logs")},
    }
    assert set(CALLER_ROLES) == set(expected)
    for role, routes in expected.items():
        policy = statements(document, caller_env(module, role))
        granted = {route for route, arn in api_method_arns().items() if allowed(policy, "execute-api:Invoke", arn)}
        assert granted == routes, role
        for route in routes:
            method, path = route
            assert allowed(policy, "execute-api:Invoke", f"{EXECUTION_ARN}/api/{method}{path}")
            assert not allowed(policy, "execute-api:Invoke", f"{EXECUTION_ARN}/other/{method}{path}")
            assert not allowed(policy, "execute-api:Invoke", f"{EXECUTION_ARN[:-1]}X/api/{method}{path}")
            assert not allowed(policy, "execute-api:ManageConnections", f"{EXECUTION_ARN}/api/{method}{path}")


def test_every_api_route_is_granted_to_some_caller_role():
    granted = {tuple(route) for spec in CALLER_ROLES.values() for route in spec["routes"]}
    assert set(api_method_arns()) == granted


def test_caller_roles_are_named_per_stage_and_get_their_grant(module):
    role = module.resource("aws_iam_role", "caller")
    assert role["for_each"] == "${local.caller_roles}"
    assert role["name"] == "${local.name}-${each.key}"
    grant = module.resource("aws_iam_role_policy", "caller_invoke")
    assert grant["for_each"] == "${{for role, spec in local.caller_roles : role => spec if local.api_attached}}"
    assert module.locals["api_attached"] is True
    assert grant["policy"] == "${data.aws_iam_policy_document.caller_invoke[each.key].json}"


def test_each_trust_policy_requires_its_own_external_id(module):
    document = module.data[("aws_iam_policy_document", "caller_trust")]
    external_ids = {name: f"id-of-{name}-0123456789" for name in module.locals["external_ids"]}
    for name, expression in module.locals["external_ids"].items():
        assert expression == f"${{var.{name}}}"
        variable = module.variables[name]
        assert variable["sensitive"] is True and "default" not in variable and variable["validation"]
    for role, spec in CALLER_ROLES.items():
        own = external_ids[spec["external_id_variable"]]
        env = {"local.external_ids[each.value.external_id_variable]": own,
               "local.principal_arns[each.value.principals_variable]": ["arn:aws:iam::123456789012:role/app"]}
        policy = statements(document, env)
        assert allowed(policy, "sts:AssumeRole", "role", {"sts:ExternalId": own}), role
        assert not allowed(policy, "sts:AssumeRole", "role", {}), role
        for other in set(external_ids.values()) - {own}:
            assert not allowed(policy, "sts:AssumeRole", "role", {"sts:ExternalId": other}), role
    assert len({spec["external_id_variable"] for spec in CALLER_ROLES.values()}) == len(CALLER_ROLES)


def test_each_caller_role_trusts_exactly_its_own_principals_and_no_list_has_a_default(module):
    """No silent account-wide trust, and no trust borrowed from another role: whoever may assume a caller role is
    named in that role's own list, so an ingest application cannot assume log-read or log-full-access, whatever
    external ID it learnt (the ID is in the trust policy, readable with iam:GetRole)."""
    names = {spec["principals_variable"] for spec in CALLER_ROLES.values()}
    assert len(names) == len(CALLER_ROLES) and "caller_principal_arns" not in module.variables
    for name, expression in module.locals["principal_arns"].items():
        assert expression == f"${{var.{name}}}"
        variable = module.variables[name]
        assert "default" not in variable and variable["type"] == "${list(string)}" and variable["description"]
        assert f"length(var.{name}) > 0" in variable["validation"][0]["condition"]
    assert set(module.locals["principal_arns"]) == names
    document = module.data[("aws_iam_policy_document", "caller_trust")]
    [statement] = document["statement"]
    assert [p["identifiers"] for p in statement["principals"]] == [
        "${local.principal_arns[each.value.principals_variable]}"]
    lists = {"ingest_principal_arns": [f"arn:aws:iam::{ACCOUNT}:role/billing-app"],
             "read_principal_arns": [f"arn:aws:iam::{ACCOUNT}:role/oncall-readers"],
             "full_access_principal_arns": [f"arn:aws:iam::{ACCOUNT}:role/smoke-ci"]}
    external_id = "id-0123456789abcdef"
    context = {"sts:ExternalId": external_id}
    trusted = {}
    for role, spec in CALLER_ROLES.items():
        env = {"local.external_ids[each.value.external_id_variable]": external_id,
               "local.principal_arns[each.value.principals_variable]": lists[spec["principals_variable"]]}
        policy = statements(document, env)
        principals = [arn for arns in lists.values() for arn in arns] + [
            ROOT_PRINCIPAL, f"arn:aws:iam::{ACCOUNT}:role/any-other-role"]
        trusted[role] = {arn for arn in principals if allowed(policy, "sts:AssumeRole", "role", context, arn)}
    assert trusted == {"log-ingest": {f"arn:aws:iam::{ACCOUNT}:role/billing-app"},
                       "log-read": {f"arn:aws:iam::{ACCOUNT}:role/oncall-readers"},
                       "log-full-access": {f"arn:aws:iam::{ACCOUNT}:role/smoke-ci"}}


# --- the Lambda execution role ---------------------------------------------------------

# The archive function's own module: it runs as the archive role, never as the API's.
ARCHIVE_MODULE = ROOT / "chalicelib" / "archiving.py"


def _code_operations(paths=None):
    """(service, Operation) pairs the code calls on boto3 clients: the API function's (chalicelib but the archive
    module) unless told which files."""
    calls = set()
    if paths is None:
        paths = [path for path in (ROOT / "chalicelib").rglob("*.py") if path != ARCHIVE_MODULE]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            target = node.func.value
            operation = "".join(part.title() for part in node.func.attr.split("_"))
            if (isinstance(target, ast.Attribute) and target.attr in ("_client", "client")
                    and not (isinstance(target.value, ast.Name) and target.value.id == "aws")):  # not aws.client
                calls.add(("dynamodb", operation))
            elif (isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute)
                  and target.func.attr == "client" and isinstance(target.args[0], ast.Constant)):
                calls.add((target.args[0].value, operation))
    return calls


INDEXES = [index["name"] for index in
           json.loads((ROOT / "infra" / "table_schema.json").read_text())["global_secondary_indexes"]]


def for_stage(arn, stage):
    return arn.replace("simple-log-service-prod", f"simple-log-service-{stage}").replace("/prod/", f"/{stage}/")


def lambda_policy(module, stage="prod"):
    table_arn = for_stage(TABLE_ARN, stage)
    env = {
        "aws_dynamodb_table.logs.arn": table_arn,
        "local.log_table_arns": [table_arn] + [f"{table_arn}/index/{name}" for name in INDEXES],
        "aws_kms_key.this.arn": KEY_ARN,
        **{f"aws_ssm_parameter.{name}.arn": for_stage(arn, stage) for name, _, arn in SECRET_PARAMETERS},
        "aws_cloudwatch_log_group.lambda.arn": for_stage(LOG_GROUP_ARN, stage),
        "local.region": "us-east-1",
    }
    return statements(module.data[("aws_iam_policy_document", "lambda")], env)


def test_lambda_role_grants_exactly_what_the_code_calls(module):
    policy = lambda_policy(module)
    code = _code_operations()
    assert ("dynamodb", "Scan") not in code
    granted = {action for statement in policy for action in statement["actions"]}
    assert granted == {f"{service}:{operation}" for service, operation in code} | {
        "kms:Decrypt", "kms:GenerateDataKey", "logs:CreateLogStream", "logs:PutLogEvents"}
    assert {f"dynamodb:{operation}" for operation in ("BatchGetItem", "BatchWriteItem", "PutItem", "Query")} <= granted
    for statement in policy:
        assert statement["effect"] == "Allow"
        assert not [action for action in statement["actions"] if "*" in action]
        assert "*" not in statement["resources"]
        assert not [resource for resource in statement["resources"] if resource.endswith(":*") and ":log-stream:" not in
                    resource]


def test_lambda_role_reaches_only_its_table_index_key_parameter_and_log_group(module):
    policy = lambda_policy(module)
    for action in ("dynamodb:PutItem", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:Query"):
        assert allowed(policy, action, TABLE_ARN)
    for index in ("timeline", "pack_timeline", "severity", "service_severity"):
        assert allowed(policy, "dynamodb:Query", f"{TABLE_ARN}/index/{index}")
    assert not allowed(policy, "dynamodb:Scan", TABLE_ARN)
    assert not allowed(policy, "dynamodb:DeleteItem", TABLE_ARN)
    assert not allowed(policy, "dynamodb:Query", TABLE_ARN.replace("-prod", "-dev"))
    via_dynamodb = {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}
    assert allowed(policy, "kms:Decrypt", KEY_ARN, via_dynamodb)
    assert not allowed(policy, "kms:Decrypt", KEY_ARN)
    for _, _, parameter in SECRET_PARAMETERS:
        assert allowed(policy, "ssm:GetParameter", parameter)
        assert not allowed(policy, "ssm:GetParameter", parameter.replace("/prod/", "/dev/"))
    assert not allowed(policy, "ssm:GetParameter", PARAMETER_ARN.replace("cursor-signing-key", "other"))
    assert allowed(policy, "logs:PutLogEvents", f"{LOG_GROUP_ARN}:log-stream:2026/11/28/[$LATEST]abc")
    assert not allowed(policy, "logs:PutLogEvents", LOG_GROUP_ARN.replace("simple-log-service-prod", "other"))


@pytest.mark.parametrize("name, local, parameter_arn", SECRET_PARAMETERS)
def test_each_secret_parameter_is_encrypted_with_the_stage_key_which_the_function_decrypts_for_it_only(
        module, name, local, parameter_arn):
    parameter = module.resource("aws_ssm_parameter", name)
    assert parameter["key_id"] == "${aws_kms_key.this.arn}"
    assert module.locals[f"{local}_arn"].endswith(f":parameter${{local.{local}_name}}")
    assert parameter["name"] == f"${{local.{local}_name}}"
    function = lambda_policy(module)
    via_ssm = {"kms:ViaService": "ssm.us-east-1.amazonaws.com", "kms:EncryptionContext:PARAMETER_ARN": parameter_arn}
    another = {"kms:EncryptionContext:PARAMETER_ARN": parameter_arn.rsplit("/", 1)[0] + "/other"}
    assert allowed(function, "kms:Decrypt", KEY_ARN, via_ssm)
    assert not allowed(function, "kms:Decrypt", KEY_ARN, {**via_ssm, **another})
    assert not allowed(function, "kms:Encrypt", KEY_ARN, via_ssm)
    assert not allowed(function, "kms:Decrypt", KEY_ARN, {**via_ssm, "kms:ViaService": "s3.us-east-1.amazonaws.com"})
    key = key_policy(module)
    through_ssm = {**via_ssm, "kms:CallerAccount": ACCOUNT}
    for action in ("kms:Decrypt", "kms:Encrypt"):  # the function reads it; Terraform writes it
        assert allowed(key, action, "*", through_ssm, ROOT_PRINCIPAL), action
    assert not allowed(key, "kms:Decrypt", "*", {
        **through_ssm, "kms:EncryptionContext:PARAMETER_ARN": parameter_arn.replace("/prod/", "/dev/")}, ROOT_PRINCIPAL)
    assert not allowed(key, "kms:Decrypt", "*", {**through_ssm, **another}, ROOT_PRINCIPAL)
    assert not allowed(key, "kms:Decrypt", "*", {**through_ssm, "kms:CallerAccount": "999999999999"}, ROOT_PRINCIPAL)


def test_lambda_role_is_wired_to_chalices_function(module):
    function = module.resource("aws_lambda_function", "api_handler")
    assert function["role"] == "${aws_iam_role.lambda.arn}"
    role = module.resource("aws_iam_role", "lambda")
    attachment = module.resource("aws_iam_role_policy", "lambda")
    assert attachment["role"] == "${aws_iam_role.lambda.id}"
    assert attachment["policy"] == "${data.aws_iam_policy_document.lambda.json}"
    assume = statements(module.data[("aws_iam_policy_document", "lambda_assume")], {})
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.lambda_assume.json}"
    assert [identifier for s in assume for identifier in s["principals"]] == ["lambda.amazonaws.com"]


# --- the key policy ---------------------------------------------------------------

def test_key_policy_lets_only_dynamodb_logs_sns_ssm_s3_and_sqs_use_the_key(module):
    document = module.data[("aws_iam_policy_document", "kms")]
    crypto = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKey*", "kms:Decrypt*",
              "kms:Encrypt*", "kms:ReEncrypt*"}
    usage = []
    for statement in document["statement"]:
        if not crypto & set(statement["actions"]):
            assert not [a for a in statement["actions"] if a in ("kms:*", "*")], statement["sid"]
            continue
        principals = [identifier for p in statement["principals"] for identifier in p["identifiers"]]
        conditions = {condition["variable"]: condition["values"] for condition in statement.get("condition", [])}
        usage.append((statement["sid"], principals, conditions))
    for sid, principals, conditions in usage:
        via = conditions.get("kms:ViaService", [""])[0]
        context = [key for key in conditions if key.startswith("kms:EncryptionContext:")]
        assert via.startswith(("dynamodb.", "sns.")) or context, sid
        assert "*" not in principals, sid
    services = {principal for _, principals, _ in usage for principal in principals if "amazonaws.com" in principal}
    assert services == {"logs.${local.region}.amazonaws.com", "cloudwatch.amazonaws.com", "budgets.amazonaws.com"}
    assert {c["kms:ViaService"][0].split(".")[0] for _, _, c in usage if "kms:ViaService" in c} == {
        "dynamodb", "sns", "ssm", "s3", "sqs"}


ACCOUNT = "123456789012"
ROOT_PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:root"
API_ID = EXECUTION_ARN.rsplit(":", 1)[1]
STAGE_LOG_GROUPS = ["/aws/lambda/simple-log-service-prod", "/aws/apigateway/simple-log-service-prod/access",
                    f"API-Gateway-Execution-Logs_{API_ID}/api", "/aws/lambda/simple-log-service-prod-archive"]
BUCKET_ARN = "arn:aws:s3:::simple-log-service-prod-us-east-1-archive"
DLQ_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:simple-log-service-prod-archive-dlq"


def key_policy(module):
    """The key policy as Terraform renders it for prod in us-east-1, the API being API_ID."""
    expression = module.locals["log_group_names"]
    for part in ("local.lambda_log_group", "local.archive_log_group", "local.api_access_log_group", "local.rest_api_id",
                 '"API-Gateway-Execution-Logs_${id}/${local.api_stage_name}"'):
        assert part in expression, part
    execution_group = module.resource("aws_cloudwatch_log_group", "api_execution")["name"]
    assert execution_group.replace("${local.rest_api_id}", API_ID).replace("${local.api_stage_name}", "api") == \
        STAGE_LOG_GROUPS[2]
    env = {"local.partition": "aws", "local.account_id": ACCOUNT, "local.region": "us-east-1",
           "local.log_group_names": STAGE_LOG_GROUPS,
           "local.archive_bucket_arn": BUCKET_ARN, "local.archive_dlq_arn": DLQ_ARN,
           "local.alarm_topic_arn": f"arn:aws:sns:us-east-1:{ACCOUNT}:simple-log-service-prod-alarms",
           **{f"local.{local}_arn": arn for _, local, arn in SECRET_PARAMETERS}}
    return statements(module.data[("aws_iam_policy_document", "kms")], env)


# What Terraform calls on the key and its alias (the deployer's IAM policy allows them, the key policy must too).
KEY_ADMINISTRATION = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus",
                      "kms:EnableKeyRotation", "kms:ListResourceTags", "kms:TagResource", "kms:UntagResource",
                      "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
                      "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias", "kms:RevokeGrant"]


def test_key_administration_can_administer_but_neither_use_nor_grant_the_key(module):
    policy = key_policy(module)
    in_account = {"kms:CallerAccount": ACCOUNT}
    for action in KEY_ADMINISTRATION:
        assert allowed(policy, action, "*", in_account, ROOT_PRINCIPAL), action
    for action in ("kms:CreateGrant", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom",
                   "kms:GenerateDataKeyWithoutPlaintext"):
        assert not allowed(policy, action, "*", in_account, ROOT_PRINCIPAL), action
    for statement in policy:
        if ROOT_PRINCIPAL in statement["principals"]:
            assert not [a for a in statement["actions"] if "*" in a and not a.startswith(
                ("kms:GenerateDataKey", "kms:ReEncrypt"))], statement["actions"]
    assert not allowed(policy, "kms:PutKeyPolicy", "*", {"kms:CallerAccount": "999999999999"}, ROOT_PRINCIPAL)


def test_grants_and_data_use_only_through_dynamodb(module):
    policy = key_policy(module)
    via_dynamodb = {"kms:CallerAccount": ACCOUNT, "kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}
    assert allowed(policy, "kms:Decrypt", "*", via_dynamodb, ROOT_PRINCIPAL)
    assert allowed(policy, "kms:CreateGrant", "*", {**via_dynamodb, "kms:GrantIsForAWSResource": "true"},
                   ROOT_PRINCIPAL)
    assert not allowed(policy, "kms:CreateGrant", "*", {**via_dynamodb, "kms:GrantIsForAWSResource": "false"},
                       ROOT_PRINCIPAL)
    assert not allowed(policy, "kms:CreateGrant", "*", {**via_dynamodb, "kms:ViaService": "s3.us-east-1.amazonaws.com",
                                                        "kms:GrantIsForAWSResource": "true"}, ROOT_PRINCIPAL)
    assert not allowed(policy, "kms:Decrypt", "*", {**via_dynamodb, "kms:ViaService": "s3.us-east-1.amazonaws.com"},
                       ROOT_PRINCIPAL)


def test_cloudwatch_logs_may_use_the_key_for_this_stages_log_groups_only(module):
    policy = key_policy(module)
    logs = "logs.us-east-1.amazonaws.com"

    def for_group(name, account=ACCOUNT):
        return {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:{account}:log-group:{name}"}

    for group in STAGE_LOG_GROUPS:
        assert allowed(policy, "kms:GenerateDataKey", "*", for_group(group), logs), group
    for group in ("/aws/lambda/simple-log-service-dev", "API-Gateway-Execution-Logs_zzzzzzzzzz/api",
                  "/aws/lambda/another-app", "/aws/lambda/simple-log-service-prod-other"):
        assert not allowed(policy, "kms:GenerateDataKey", "*", for_group(group), logs), group
    assert not allowed(policy, "kms:Decrypt", "*", for_group(STAGE_LOG_GROUPS[0], "999999999999"), logs)
    assert not allowed(policy, "kms:Decrypt", "*", {}, logs)


TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:simple-log-service-prod-alarms"


def topic_policy(module):
    env = {"aws_sns_topic.alarms.arn": TOPIC_ARN, "local.partition": "aws", "local.region": "us-east-1",
           "local.account_id": ACCOUNT, "local.name": "simple-log-service-prod"}
    return statements(module.data[("aws_iam_policy_document", "alarm_topic")], env)


def test_alarms_and_budget_encrypt_to_the_topic_for_this_account_only(module):
    policy = key_policy(module)
    topic = {"kms:EncryptionContext:aws:sns:topicArn": TOPIC_ARN}
    for service in ("cloudwatch.amazonaws.com", "budgets.amazonaws.com"):
        assert allowed(policy, "kms:GenerateDataKey", "*", {**topic, "aws:SourceAccount": ACCOUNT}, service), service
        assert not allowed(policy, "kms:GenerateDataKey", "*", {**topic, "aws:SourceAccount": "999999999999"},
                           service), service
        assert not allowed(policy, "kms:Decrypt", "*", topic, service), service


def test_only_this_stages_alarms_and_budget_publish_to_the_topic_over_tls(module):
    assert module.resource("aws_sns_topic_policy", "alarms") == {
        "arn": "${aws_sns_topic.alarms.arn}", "policy": "${data.aws_iam_policy_document.alarm_topic.json}"}
    policy = topic_policy(module)
    tls = {"aws:SecureTransport": "true"}
    alarm = {**tls, "aws:PrincipalIsAWSService": "true", "aws:SourceAccount": ACCOUNT,
             "aws:SourceArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:simple-log-service-prod-api-5xx"}
    budget = {**tls, "aws:PrincipalIsAWSService": "true", "aws:SourceAccount": ACCOUNT,
              "aws:SourceArn": f"arn:aws:budgets::{ACCOUNT}:budget/simple-log-service-prod-monthly"}
    assert allowed(policy, "sns:Publish", TOPIC_ARN, alarm, "cloudwatch.amazonaws.com")
    assert allowed(policy, "sns:Publish", TOPIC_ARN, budget, "budgets.amazonaws.com")
    assert not allowed(policy, "sns:Publish", TOPIC_ARN, {**alarm, "aws:SecureTransport": "false"},
                       "cloudwatch.amazonaws.com")
    assert not allowed(policy, "sns:Publish", TOPIC_ARN, {**alarm, "aws:SourceAccount": "999999999999"},
                       "cloudwatch.amazonaws.com")
    assert not allowed(policy, "sns:Publish", TOPIC_ARN, {
        **alarm, "aws:SourceArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:someone-elses-alarm"},
        "cloudwatch.amazonaws.com")
    assert not allowed(policy, "sns:Publish", TOPIC_ARN, alarm, "events.amazonaws.com")
    # A person or an application of the account is refused, even one whose IAM policy allows sns:Publish on *.
    person = {**tls, "aws:PrincipalIsAWSService": "false"}
    identity_policy = [{"effect": "Allow", "actions": ["sns:*"], "resources": ["*"], "conditions": [],
                        "principals": ["*"]}]
    assert not allowed(identity_policy + policy, "sns:Publish", TOPIC_ARN, person, f"arn:aws:iam::{ACCOUNT}:role/app")


def test_the_budget_alerts_through_the_topic_whatever_alarm_email_is(module):
    budget = module.resource("aws_budgets_budget", "monthly")
    [notification] = [block["notification"] for block in budget["dynamic"] if "notification" in block]
    assert "alarm_email" not in json.dumps(notification["for_each"])
    [content] = notification["content"]
    assert content["subscriber_sns_topic_arns"] == ["${aws_sns_topic.alarms.arn}"]
    assert "subscriber_email_addresses" not in content


def api_resource_policy(stage):
    """The API's resource policy file of a stage, in the evaluator's form."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage]
    document = json.loads((ROOT / ".chalice" / config["api_gateway_policy_file"]).read_text())
    as_list = lambda value: [value] if isinstance(value, str) else list(value)  # noqa: E731
    return [{"effect": s["Effect"], "actions": as_list(s["Action"]),
             "resources": [r.replace("execute-api:/", f"{EXECUTION_ARN}/") for r in as_list(s["Resource"])],
             "principals": as_list(s["Principal"]),
             "conditions": [(test, key, as_list(values)) for test, block in s.get("Condition", {}).items()
                            for key, values in block.items()]}
            for s in document["Statement"]]


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_the_api_admits_only_the_stages_caller_roles_whatever_other_principals_may_do(stage):
    """With the resource policy, a principal whose own policy allows execute-api:Invoke on * is still refused."""
    invoke_anything = [{"effect": "Allow", "actions": ["execute-api:Invoke"], "resources": ["*"], "conditions": [],
                        "principals": ["*"]}]
    policy = invoke_anything + api_resource_policy(stage)
    targets = [*api_method_arns().values(), f"{EXECUTION_ARN}/api/DELETE/logs", f"{EXECUTION_ARN}/other/GET/x"]
    for role in CALLER_ROLES:
        caller = {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/simple-log-service-{stage}-{role}"}
        assert all(allowed(policy, "execute-api:Invoke", arn, caller) for arn in targets), role
    others = [f"arn:aws:iam::{ACCOUNT}:role/app", f"arn:aws:iam::{ACCOUNT}:user/alice", ROOT_PRINCIPAL,
              f"arn:aws:iam::{ACCOUNT}:role/simple-log-service-{'prod' if stage != 'prod' else 'dev'}-log-read",
              f"arn:aws:iam::{ACCOUNT}:role/simple-log-service-{stage}-log-reader"]
    for principal in others:
        assert not any(allowed(policy, "execute-api:Invoke", arn, {"aws:PrincipalArn": principal}) for arn in targets)


def test_the_packaged_api_carries_the_stages_resource_policy_pinned_to_its_account_and_redeploys_with_it(module):
    pinned = (ROOT / ".chalice" / "api-policy-prod.json").read_text().replace(
        "arn:aws:iam::*:role/", "arn:${local.partition}:iam::${local.account_id}:role/")
    rest_api = module.resource("aws_api_gateway_rest_api", "rest_api")
    assert json.loads(rest_api["policy"]) == json.loads(pinned)
    assert json.loads(module.locals["chalice_api_swagger"])["x-amazon-apigateway-policy"] == json.loads(pinned)
    deployment = module.resource("aws_api_gateway_deployment", "rest_api")
    assert deployment["triggers"]["api_definition"] == "${sha256(local.chalice_api_swagger)}"


def test_the_packaged_api_refuses_a_role_of_the_same_name_in_another_account(module):
    """Role names are anyone's to take: only the deploying account's caller roles pass the packaged API's policy."""
    document = json.loads(module.resource("aws_api_gateway_rest_api", "rest_api")["policy"].replace(
        "${local.partition}", "aws").replace("${local.account_id}", ACCOUNT))
    invoke_anything = [{"effect": "Allow", "actions": ["execute-api:Invoke"], "resources": ["*"], "conditions": [],
                        "principals": ["*"]}]
    policy = invoke_anything + [{
        "effect": s["Effect"], "actions": [s["Action"]], "resources": [f"{EXECUTION_ARN}/*"], "principals": ["*"],
        "conditions": [(test, key, values) for test, block in s["Condition"].items() for key, values in block.items()]}
        for s in document["Statement"]]
    target = api_method_arns()[("GET", "/logs/recent")]
    for role in CALLER_ROLES:
        ours = {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/simple-log-service-prod-{role}"}
        theirs = {"aws:PrincipalArn": f"arn:aws:iam::999999999999:role/simple-log-service-prod-{role}"}
        assert allowed(policy, "execute-api:Invoke", target, ours), role
        assert not allowed(policy, "execute-api:Invoke", target, theirs), role


# --- the archive (archive.tf) ------------------------------------------------------------------

STREAM_ARN = f"{TABLE_ARN}/stream/2026-01-05T10:00:00.000"
ARCHIVE_LOG_GROUP_ARN = f"{LOG_GROUP_ARN}-archive"
WORKGROUP_ARN = f"arn:aws:athena:us-east-1:{ACCOUNT}:workgroup/simple-log-service-prod"
GLUE_DATABASE_ARN = f"arn:aws:glue:us-east-1:{ACCOUNT}:database/simple_log_service_prod"
GLUE_TABLE_ARN = f"arn:aws:glue:us-east-1:{ACCOUNT}:table/simple_log_service_prod/events"
VIA_S3 = {"kms:ViaService": "s3.us-east-1.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": BUCKET_ARN}
VIA_SQS = {"kms:ViaService": "sqs.us-east-1.amazonaws.com", "kms:EncryptionContext:aws:sqs:arn": DLQ_ARN}


def archive_env(stage="prod"):
    return {
        "aws_dynamodb_table.logs.stream_arn": for_stage(STREAM_ARN, stage),
        "aws_s3_bucket.archive.arn": for_stage(BUCKET_ARN, stage),
        "local.archive_events_prefix": "events/", "local.athena_results_prefix": "athena-results/",
        "aws_kms_key.this.arn": KEY_ARN, "local.region": "us-east-1", "local.partition": "aws",
        "local.account_id": ACCOUNT,
        "aws_sqs_queue.archive_dlq.arn": for_stage(DLQ_ARN, stage),
        "aws_cloudwatch_log_group.archive.arn": for_stage(ARCHIVE_LOG_GROUP_ARN, stage),
        "aws_athena_workgroup.archive.arn": WORKGROUP_ARN,
        "aws_glue_catalog_database.archive.arn": GLUE_DATABASE_ARN,
        "aws_glue_catalog_table.events.arn": GLUE_TABLE_ARN,
    }


def archive_function_policy(module, stage="prod"):
    return statements(module.data[("aws_iam_policy_document", "archive")], archive_env(stage))


def archive_read_policy(module):
    return statements(module.data[("aws_iam_policy_document", "archive_read")], archive_env())


def test_the_archive_function_may_read_the_stream_and_write_events_and_nothing_else(module):
    policy = archive_function_policy(module)
    for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                   "dynamodb:ListStreams"):
        assert allowed(policy, action, STREAM_ARN), action
        assert not allowed(policy, action, STREAM_ARN.replace("-prod", "-dev")), action
    for action in ("dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"):
        assert not allowed(policy, action, TABLE_ARN), action
    key = f"{BUCKET_ARN}/events/service=checkout/dt=2026-01-05/hour=10/1-e.json.gz"
    assert allowed(policy, "s3:PutObject", key)
    assert not allowed(policy, "s3:PutObject", f"{BUCKET_ARN}/athena-results/q.csv")
    assert not allowed(policy, "s3:PutObject", key.replace("-prod-", "-dev-"))
    for action in ("s3:GetObject", "s3:DeleteObject", "s3:PutObjectAcl", "s3:ListBucket"):
        assert not allowed(policy, action, key) and not allowed(policy, action, BUCKET_ARN), action
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert allowed(policy, action, KEY_ARN, VIA_S3), action
        assert allowed(policy, action, KEY_ARN, VIA_SQS), action
        assert not allowed(policy, action, KEY_ARN, {**VIA_S3, "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::x"})
        assert not allowed(policy, action, KEY_ARN, {**VIA_S3, "kms:ViaService": "dynamodb.us-east-1.amazonaws.com"})
    assert not allowed(policy, "kms:Encrypt", KEY_ARN, VIA_S3)
    assert allowed(policy, "sqs:SendMessage", DLQ_ARN)
    assert not allowed(policy, "sqs:ReceiveMessage", DLQ_ARN)
    assert not allowed(policy, "sqs:SendMessage", DLQ_ARN.replace("-dlq", "-other"))
    assert allowed(policy, "logs:PutLogEvents", f"{ARCHIVE_LOG_GROUP_ARN}:log-stream:2026/01/05/[$LATEST]abc")
    assert not allowed(policy, "logs:PutLogEvents", f"{LOG_GROUP_ARN}:log-stream:x")  # the API function's group
    for statement in policy:
        assert statement["effect"] == "Allow" and "*" not in statement["resources"]
        assert not [action for action in statement["actions"] if "*" in action]


def test_the_archive_role_grants_the_s3_call_the_archive_module_makes_and_the_api_role_none(module):
    archive = {action for statement in archive_function_policy(module) for action in statement["actions"]}
    archive_code = _code_operations([ARCHIVE_MODULE]) if ARCHIVE_MODULE.exists() else set()
    assert {f"{service}:{operation}" for service, operation in archive_code} <= archive
    assert {action for action in archive if action.startswith("s3:")} == {"s3:PutObject"}
    api = {action for statement in lambda_policy(module) for action in statement["actions"]}
    assert not [action for action in api if action.startswith(("s3:", "sqs:", "athena:", "glue:"))]
    assert not {"dynamodb:GetRecords", "dynamodb:GetShardIterator"} & api


def test_the_archive_role_is_wired_to_chalices_archive_function_and_named_apart_from_chalices(module):
    function = module.resource("aws_lambda_function", "archive")
    assert function["role"] == "${aws_iam_role.archive.arn}"
    assert function["function_name"] == "simple-log-service-prod-archive"
    assert module.resource("aws_iam_role_policy", "archive") == {
        "name": "least-privilege", "role": "${aws_iam_role.archive.id}",
        "policy": "${data.aws_iam_policy_document.archive.json}"}
    role = module.resource("aws_iam_role", "archive")
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.lambda_assume.json}"
    # `chalice deploy` names its role for the function <app>-<stage>-archive: Terraform's must not take that name.
    assert role["name"] == "${local.name}-archive-lambda"


def test_the_read_roles_may_read_and_query_the_archive_but_not_change_it(module):
    policy = archive_read_policy(module)
    key = f"{BUCKET_ARN}/events/service=checkout/dt=2026-01-05/hour=10/1-e.json.gz"
    result = f"{BUCKET_ARN}/athena-results/0b1c2d3e.csv"
    assert allowed(policy, "s3:GetObject", key)
    assert allowed(policy, "s3:ListBucket", BUCKET_ARN, {"s3:prefix": "events/service=checkout/dt=2026-01-05/"})
    assert not allowed(policy, "s3:ListBucket", BUCKET_ARN, {"s3:prefix": "other/"})
    assert not allowed(policy, "s3:ListBucket", BUCKET_ARN)
    for action in ("s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"):
        assert allowed(policy, action, result), action
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutBucketPolicy"):
        assert not allowed(policy, action, key) and not allowed(policy, action, BUCKET_ARN), action
    assert not allowed(policy, "s3:GetObject", key.replace("-prod-", "-dev-"))
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        assert allowed(policy, action, KEY_ARN, VIA_S3), action
        assert not allowed(policy, action, KEY_ARN, {**VIA_S3, "kms:ViaService": "dynamodb.us-east-1.amazonaws.com"})
    for action in ("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults"):
        assert allowed(policy, action, WORKGROUP_ARN), action
        assert not allowed(policy, action, WORKGROUP_ARN.replace("workgroup/simple-log-service-prod",
                                                                   "workgroup/primary")), action
    assert not allowed(policy, "athena:UpdateWorkGroup", WORKGROUP_ARN)
    for resource in (GLUE_DATABASE_ARN, GLUE_TABLE_ARN):
        assert allowed(policy, "glue:GetTable", resource) or allowed(policy, "glue:GetDatabase", resource)
    assert not allowed(policy, "glue:UpdateTable", GLUE_TABLE_ARN)
    assert not allowed(policy, "glue:GetTable", GLUE_TABLE_ARN.replace("simple_log_service_prod", "other"))


def caller_role_policies(module):
    """{caller role: [the statements of every policy attached to it]}, as the for_each of each attachment gives."""
    readers = module.locals["archive_reader_roles"]
    assert readers == ('${toset([for role, spec in local.caller_roles : role if contains([for route in spec.routes '
                       ': join(" ", route)], "GET /logs/recent")])}')
    reader_roles = {role for role, spec in CALLER_ROLES.items() if ["GET", "/logs/recent"] in spec["routes"]}
    attached = {role: [] for role in CALLER_ROLES}
    for name, attachment in module.resources_of("aws_iam_role_policy").items():
        if not attachment["role"].startswith("${aws_iam_role.caller["):
            continue
        assert attachment["role"] == "${aws_iam_role.caller[each.key].id}", name
        roles = {"${local.archive_reader_roles}": reader_roles}.get(attachment["for_each"], set(CALLER_ROLES))
        document = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)(?:\[each\.key\])?\.json\}",
                                attachment["policy"]).group(1)
        for role in roles:
            env = {**archive_env(), **caller_env(module, role)}
            attached[role].extend(statements(module.data[("aws_iam_policy_document", document)], env))
    return attached


def test_the_ingest_role_gets_nothing_of_the_archive_and_the_read_roles_get_it(module):
    policies = caller_role_policies(module)
    key = f"{BUCKET_ARN}/events/service=checkout/dt=2026-01-05/hour=10/1-e.json.gz"
    reads = [("s3:GetObject", key, {}), ("s3:ListBucket", BUCKET_ARN, {"s3:prefix": "events/"}),
             ("kms:Decrypt", KEY_ARN, VIA_S3), ("athena:StartQueryExecution", WORKGROUP_ARN, {}),
             ("glue:GetTable", GLUE_TABLE_ARN, {})]
    for action, resource, context in reads:
        assert not allowed(policies["log-ingest"], action, resource, context), action
        for role in ("log-read", "log-full-access"):
            assert allowed(policies[role], action, resource, context), (role, action)
    for role, statements_of_role in policies.items():
        assert not allowed(statements_of_role, "s3:PutObject", key), role


def test_the_archive_bucket_refuses_requests_without_tls(module):
    assert module.resource("aws_s3_bucket_policy", "archive")["policy"] == (
        "${data.aws_iam_policy_document.archive_bucket.json}")
    policy = statements(module.data[("aws_iam_policy_document", "archive_bucket")], archive_env())
    identity = [{"effect": "Allow", "actions": ["s3:*"], "resources": ["*"], "conditions": [], "principals": ["*"]}]
    key = f"{BUCKET_ARN}/events/service=checkout/dt=2026-01-05/hour=10/1-e.json.gz"
    for action, resource in (("s3:GetObject", key), ("s3:ListBucket", BUCKET_ARN), ("s3:PutObject", key)):
        assert allowed(identity + policy, action, resource, {"aws:SecureTransport": "true"}), action
        assert not allowed(identity + policy, action, resource, {"aws:SecureTransport": "false"}), action


def test_the_key_serves_the_archive_bucket_and_its_dead_letter_queue_through_their_services_only(module):
    assert module.locals["archive_bucket_arn"] == "arn:${local.partition}:s3:::${local.archive_bucket_name}"
    assert module.locals["archive_dlq_arn"] == (
        "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.archive_dlq_name}")
    policy = key_policy(module)
    in_account = {"kms:CallerAccount": ACCOUNT}
    for context in (VIA_S3, VIA_SQS):
        for action in ("kms:Decrypt", "kms:GenerateDataKey"):
            assert allowed(policy, action, "*", {**context, **in_account}, ROOT_PRINCIPAL), (action, context)
        assert not allowed(policy, "kms:Decrypt", "*", {**context, "kms:CallerAccount": "999999999999"},
                           ROOT_PRINCIPAL)
    assert not allowed(policy, "kms:Decrypt", "*", {**VIA_S3, **in_account,
                                                    "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::another"},
                       ROOT_PRINCIPAL)
    assert not allowed(policy, "kms:Decrypt", "*", {**VIA_SQS, **in_account,
                                                    "kms:EncryptionContext:aws:sqs:arn": DLQ_ARN + "-x"},
                       ROOT_PRINCIPAL)


def test_renderer_refuses_values_it_does_not_know():
    with pytest.raises(KeyError):
        render("${local.unknown}", {})
    assert render(["${local.list}", "x"], {"local.list": ["a", "b"]}) == ["a", "b", "x"]


def _concrete(text):
    """A policy-file value with its IAM policy variables read for a request in us-east-1 of account 123456789012."""
    return text.replace("${aws:RequestedRegion}", "us-east-1").replace("${aws:PrincipalAccount}", "123456789012")


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
@pytest.mark.parametrize("function, document", [("api_handler", "lambda"), ("archive", "archive")])
def test_chalice_deploy_policy_file_grants_what_the_terraform_role_grants_statement_by_statement(
        module, stage, function, document):
    """Each function's `chalice deploy` role (.chalice/policy-<stage>.json for the API's,
    policy-archive-<stage>.json for the archive's) is its Terraform role, statement by statement.

    The file names the key as key/* narrowed by the stage's alias (its id is random) and the table's stream as
    stream/* (its label is the time it was enabled); every other resource and condition is the Terraform one
    once the IAM policy variables are read.
    """
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage]
    policy_file = config.get("lambda_functions", {}).get(function, {}).get("iam_policy_file", config["iam_policy_file"])
    assert policy_file == {"api_handler": f"policy-{stage}.json", "archive": f"policy-archive-{stage}.json"}[function]
    policy = json.loads((ROOT / ".chalice" / policy_file).read_text())
    terraform = lambda_policy(module, stage) if document == "lambda" else archive_function_policy(module, stage)
    stream = for_stage(STREAM_ARN, stage)
    terraform = [{**s, "resources": [r.replace(stream, stream.rsplit("/", 1)[0] + "/*") for r in s["resources"]]}
                 for s in terraform]
    assert [statement["Sid"] for statement in policy["Statement"]] == [
        block["sid"] for block in module.data[("aws_iam_policy_document", document)]["statement"]]
    for statement, expected in zip(policy["Statement"], terraform, strict=True):
        assert statement["Effect"] == expected["effect"]
        assert statement["Action"] == expected["actions"], statement["Sid"]
        resources = [_concrete(resource) for resource in statement["Resource"]]
        conditions = {test: {key: [_concrete(v) for v in ([value] if isinstance(value, str) else value)]
                             for key, value in block.items()} for test, block in statement.get("Condition", {}).items()}
        if KEY_ARN in expected["resources"]:
            assert resources == ["arn:aws:kms:us-east-1:123456789012:key/*"]
            alias = module.resource("aws_kms_alias", "this")["name"].replace("${local.name}", for_stage(
                "simple-log-service-prod", stage))
            assert conditions.pop("ForAnyValue:StringEquals") == {"kms:ResourceAliases": [alias]}
        else:
            assert resources == expected["resources"], statement["Sid"]
        grouped = {}
        for test, key, values in expected["conditions"]:
            grouped.setdefault(test, {})[key] = values
        assert conditions == grouped, statement["Sid"]
