"""The packaged module creates the promised inventory, and agrees with the code and the local stack."""
import json
import re
from pathlib import Path

import pytest

from chalicelib import repository, settings
from devtools import package as pkg
from devtools import table
from devtools.infra_hcl import load_module, load_tfvars

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "staging", "prod")
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
SCHEMA = json.loads((ROOT / "infra" / "table_schema.json").read_text())
CALLER_ROLES = json.loads((ROOT / "infra" / "caller_roles.json").read_text())["roles"]
TFVARS = {stage: load_tfvars(ROOT / "infra" / "env" / f"{stage}.tfvars") for stage in STAGES}
CLOUDWATCH_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                             2922, 3288, 3653]
KEY_ARN = "${aws_kms_key.this.arn}"


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    return load_module(pkg.package("prod", tmp_path_factory.mktemp("build") / "prod"))


def default(module, expression):
    """The default of the variable an expression like '${var.x}' names."""
    name = re.fullmatch(r"\$\{var\.(\w+)\}", expression).group(1)
    return module.variables[name]["default"]


def stage_value(module, stage, expression):
    """What '${var.x}' is for a stage: its tfvars value, else the variable's default."""
    name = re.fullmatch(r"\$\{var\.(\w+)\}", expression).group(1)
    return TFVARS[stage].get(name, module.variables[name].get("default"))


# --- KMS, DynamoDB, SSM --------------------------------------------------------------

def test_key_is_rotated_and_carries_its_policy(module):
    key = module.resource("aws_kms_key", "this")
    assert key["enable_key_rotation"] is True
    assert key["policy"] == "${data.aws_iam_policy_document.kms.json}"
    assert module.resource("aws_kms_alias", "this")["name"] == "alias/${local.name}"


def test_table_is_encrypted_recoverable_protected_and_expires_items(module):
    logs = module.resource("aws_dynamodb_table", "logs")
    assert logs["server_side_encryption"] == [{"enabled": True, "kms_key_arn": KEY_ARN}]
    pitr = logs["point_in_time_recovery"][0]["enabled"]
    protection = logs["deletion_protection_enabled"]
    assert default(module, pitr) is True and default(module, protection) is True
    assert logs["ttl"] == [{"enabled": True, "attribute_name": "${local.table_schema.ttl_attribute}"}]
    assert default(module, logs["billing_mode"]) == "PAY_PER_REQUEST"
    for stage in STAGES:
        assert stage_value(module, stage, pitr) is True, stage
        assert stage_value(module, stage, protection) is (stage != "dev"), stage


def test_point_in_time_recovery_keeps_no_more_history_than_the_retention(module):
    pitr = module.resource("aws_dynamodb_table", "logs")["point_in_time_recovery"][0]
    period = pitr["recovery_period_in_days"]
    assert period == "${var.point_in_time_recovery ? min(var.log_retention_days, 35) : null}"
    for stage in STAGES:
        retention = stage_value(module, stage, "${var.log_retention_days}")
        days = min(retention, 35)  # the expression, for the stage's values
        assert 1 <= days <= retention and days <= 35, stage
    assert stage_value(module, "dev", "${var.log_retention_days}") == 3  # dev keeps 3 days of history, not 35


def test_environments_follow_the_issue(module):
    expected = {"dev": (3, False), "staging": (7, True), "prod": (7, True)}
    for stage, (retention, protection) in expected.items():
        assert TFVARS[stage]["stage"] == stage
        assert TFVARS[stage]["log_retention_days"] == retention
        assert TFVARS[stage]["deletion_protection"] is protection
        assert TFVARS[stage]["point_in_time_recovery"] is True
        assert set(TFVARS[stage]) <= set(module.variables), stage


def test_every_stage_pins_its_lambda_runtime(module):
    assert re.fullmatch(r"python3\.1[1-9]", module.variables["lambda_runtime"]["default"])
    for stage in STAGES:
        assert re.fullmatch(r"python3\.1[1-9]", TFVARS[stage]["lambda_runtime"]), stage


# (resource name, local naming the parameter, the function's variable, the parameter's last path segment)
SECRET_PARAMETERS = [("cursor_signing_key", "cursor_key_parameter_name", settings.CURSOR_KEY_PARAMETER,
                      "cursor-signing-key"),
                     ("shard_key", "shard_key_parameter_name", settings.SHARD_KEY_PARAMETER, "shard-key")]


@pytest.mark.parametrize("resource, local, variable, segment", SECRET_PARAMETERS)
def test_each_secret_is_a_random_secure_string_named_as_the_stage_config_says(module, resource, local, variable,
                                                                               segment):
    parameter = module.resource("aws_ssm_parameter", resource)
    assert parameter["type"] == "SecureString"
    assert parameter["key_id"] == KEY_ARN
    assert parameter["value"] == f"${{random_password.{resource}.result}}"
    assert module.resource("random_password", resource)["length"] >= 32
    assert parameter["name"] == f"${{local.{local}}}"
    for stage in STAGES:
        name = module.locals[local].replace("${var.app_name}", CONFIG["app_name"]).replace("${var.stage}", stage)
        assert name == f"/simple-log-service/{stage}/{segment}"
        assert CONFIG["stages"][stage]["environment_variables"][variable] == name


def test_the_shard_key_once_generated_is_kept_whatever_its_arguments_become(module):
    """A new shard key would give a resend another log id than its first send: an edit of its arguments must not
    generate one for a live stage. The parameter ignores nothing, so an apply puts back a value overwritten by hand."""
    assert module.resource("random_password", "shard_key")["lifecycle"] == [{"ignore_changes": "all"}]
    assert "lifecycle" not in module.resource("aws_ssm_parameter", "shard_key")


# --- logs and monitoring ----------------------------------------------------------------

def test_every_log_group_is_encrypted_with_the_key_and_keeps_the_stage_retention(module):
    groups = module.resources_of("aws_cloudwatch_log_group")
    assert set(groups) == {"lambda", "archive", "api_access", "api_execution"}
    for name, group in groups.items():
        assert group["kms_key_id"] == KEY_ARN, name
        assert group["retention_in_days"] == "${var.log_retention_days}", name
    condition = module.variables["log_retention_days"]["validation"][0]["condition"]
    allowed = json.loads(re.search(r"contains\((\[[\d, ]+\]), var\.log_retention_days\)", condition).group(1))
    assert allowed == CLOUDWATCH_RETENTION_DAYS


def test_function_and_api_log_where_terraform_created_the_groups(module):
    function = module.resource("aws_lambda_function", "api_handler")
    assert function["logging_config"]["log_group"] == "${aws_cloudwatch_log_group.lambda.name}"
    assert module.locals["lambda_log_group"] == "/aws/lambda/${local.lambda_function_name}"
    assert module.locals["lambda_function_name"] == "${local.name}"
    assert function["function_name"] == "simple-log-service-prod" == f"{CONFIG['app_name']}-prod"
    stage = module.resource("aws_api_gateway_stage", "api")
    assert stage["access_log_settings"][0]["destination_arn"] == "${aws_cloudwatch_log_group.api_access.arn}"
    assert stage["xray_tracing_enabled"] is True
    assert stage["deployment_id"] == "${aws_api_gateway_deployment.rest_api.id}"


def test_stage_is_throttled_and_logs_errors_without_request_data(module):
    settings_block = module.resource("aws_api_gateway_method_settings", "all")
    assert settings_block["stage_name"] == "${aws_api_gateway_stage.api.stage_name}"
    values = settings_block["settings"][0]
    assert values["throttling_rate_limit"] == "${var.throttling_rate_limit}"
    assert values["throttling_burst_limit"] == "${var.throttling_burst_limit}"
    assert values["logging_level"] == "ERROR" and values["data_trace_enabled"] is False
    assert values["metrics_enabled"] is True


def test_topic_is_encrypted_and_every_alarm_reports_to_it(module):
    topic = module.resource("aws_sns_topic", "alarms")
    assert topic["kms_master_key_id"] == KEY_ARN
    assert module.locals["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"]
    subscription = module.resource("aws_sns_topic_subscription", "alarm_email")
    assert subscription["count"] == "${var.alarm_email == null ? 0 : 1}"
    assert subscription["endpoint"] == "${var.alarm_email}" and subscription["protocol"] == "email"
    alarms = module.resources_of("aws_cloudwatch_metric_alarm")
    for name, alarm in alarms.items():
        assert alarm["alarm_actions"] == "${local.alarm_actions}", name
    metrics = {(alarm.get("namespace"), alarm.get("metric_name"), alarm.get("extended_statistic"))
               for alarm in alarms.values()}
    metrics |= {("AWS/Lambda", spec["metric_name"], None) for spec in module.locals["lambda_alarms"].values()}
    metrics |= {(query["metric"][0]["namespace"], query["metric"][0]["metric_name"], None)
                for alarm in alarms.values() for query in alarm.get("metric_query", []) if "metric" in query}
    assert {("AWS/Lambda", "Errors", None), ("AWS/Lambda", "Throttles", None), ("AWS/ApiGateway", "5XXError", None),
            ("AWS/ApiGateway", "Latency", "p99")} <= metrics
    queried = alarms["dynamodb_throttles"]["metric_query"]
    operations = {query["metric"][0]["dimensions"]["Operation"] for query in queried if "metric" in query}
    assert {query["metric"][0]["metric_name"] for query in queried if "metric" in query} == {"ThrottledRequests"}
    assert operations == {"BatchWriteItem", "PutItem", "Query"}
    assert module.resource("aws_cloudwatch_dashboard", "this")["dashboard_name"] == "${local.name}"


def _metric_math(expression, **values):
    """A CloudWatch metric-math expression of the IF/arithmetic kind, evaluated for one period."""
    python = re.sub(r"IF\((.+?), (.+?), (.+?)\)$", r"((\2) if (\1) else (\3))", expression)
    return eval(python, {"__builtins__": {}}, values)  # noqa: S307 - our own expression, test values only


def test_api_5xx_alarm_pages_on_a_share_of_enough_requests_not_on_one_error(module):
    alarm = module.resource("aws_cloudwatch_metric_alarm", "api_5xx")
    assert "metric_name" not in alarm
    queries = {query["id"]: query for query in alarm["metric_query"]}
    assert {query["metric"][0]["metric_name"] for query in queries.values() if "metric" in query} == {
        "5XXError", "Count"}
    for query in queries.values():
        if "metric" in query:
            assert query["metric"][0]["dimensions"] == "${local.api_dimensions}"
            assert query["metric"][0]["stat"] == "Sum"
    [returned] = [query for query in queries.values() if query.get("return_data")]
    minimum = module.variables["api_5xx_min_requests"]["default"]
    threshold = module.variables["api_5xx_rate_threshold_percent"]["default"]
    assert alarm["threshold"] == "${var.api_5xx_rate_threshold_percent}" and threshold > 0
    assert alarm["comparison_operator"] == "GreaterThanThreshold"
    expression = returned["expression"].replace("${var.api_5xx_min_requests}", str(minimum))
    assert {"errors", "requests"} <= set(queries)  # the names the expression uses

    def breaches(errors, requests):
        return _metric_math(expression, errors=errors, requests=requests) > threshold

    assert not breaches(errors=1, requests=1)  # one caller, one error: nobody is paged
    assert not breaches(errors=minimum - 1, requests=minimum - 1)  # too few requests to judge
    assert not breaches(errors=1, requests=100)
    assert breaches(errors=minimum, requests=minimum)
    assert breaches(errors=10, requests=100)
    assert alarm["datapoints_to_alarm"] >= 2  # and not in a single period


def test_config_rules_watch_the_stack_and_the_recorder_is_optional(module):
    identifiers = {rule["identifier"] for rule in module.locals["config_rules"].values()}
    assert len(identifiers) >= 4
    assert {"DYNAMODB_TABLE_ENCRYPTED_KMS", "DYNAMODB_PITR_ENABLED", "CMK_BACKING_KEY_ROTATION_ENABLED",
            "LAMBDA_FUNCTION_PUBLIC_ACCESS_PROHIBITED"} <= identifiers
    assert "local.config_rules" in module.resource("aws_config_config_rule", "this")["for_each"]
    for kind in ("aws_config_configuration_recorder", "aws_config_delivery_channel",
                 "aws_config_configuration_recorder_status"):
        assert module.resource(kind, "this")["count"] == "${var.create_config_recorder ? 1 : 0}", kind
    assert module.variables["create_config_recorder"]["default"] is False


def test_config_rules_judge_this_stages_resources_only_unless_asked_to_judge_the_region(module):
    rule = module.resource("aws_config_config_rule", "this")
    assert rule["for_each"] == (
        "${{for name, rule in local.config_rules : name => rule if var.account_wide_config_rules || "
        "!rule.account_wide}}")
    assert module.variables["account_wide_config_rules"]["default"] is False
    [scope] = [block["scope"] for block in rule["dynamic"] if "scope" in block]
    assert scope["for_each"] == "${each.value.account_wide ? [] : [local.name]}"
    assert scope["content"] == [{"tag_key": "Stack", "tag_value": "${scope.value}"}]
    assert "Stack = local.name" in module.locals["tags"]  # the provider's default_tags: every resource carries it
    assert [provider["default_tags"] for name, provider in module.providers] == [[{"tags": "${local.tags}"}]]
    periodic = {"CMK_BACKING_KEY_ROTATION_ENABLED", "CLOUDWATCH_LOG_GROUP_ENCRYPTED"}
    for name, spec in module.locals["config_rules"].items():
        # Config cannot scope periodic rules: those, and only those, are account-wide.
        assert spec["account_wide"] is (spec["identifier"] in periodic), name
        if spec["account_wide"]:
            assert spec["parameters"] is None, name  # judging every key or group against this stage's key is wrong


def test_budget_has_a_variable_amount(module):
    budget = module.resource("aws_budgets_budget", "monthly")
    assert "var.monthly_budget_usd" in budget["limit_amount"]
    assert budget["budget_type"] == "COST" and budget["time_unit"] == "MONTHLY"


def test_the_account_wide_api_gateway_setting_is_left_alone_unless_asked_and_cleared_on_destroy(module):
    assert module.variables["manage_api_gateway_account"]["default"] is False
    account = module.resource("aws_api_gateway_account", "this")
    assert account["count"] == "${var.manage_api_gateway_account ? 1 : 0}"
    assert account["reset_on_delete"] is True
    for kind in ("aws_iam_role", "aws_iam_role_policy_attachment"):
        assert module.resource(kind, "api_gateway_cloudwatch")["count"] == "${var.manage_api_gateway_account ? 1 : 0}"


# --- variables and outputs -----------------------------------------------------------

def test_every_variable_is_described_typed_and_validated_where_constrained(module):
    free_form = {"deletion_protection", "point_in_time_recovery", "manage_api_gateway_account",
                 "create_config_recorder", "account_wide_config_rules", "tags"}
    for name, variable in module.variables.items():
        assert variable.get("description"), name
        assert variable.get("type"), name
        if name not in free_form:
            assert variable.get("validation"), name


def test_outputs_the_issue_lists_exist_and_every_output_is_described(module):
    required = {"api_endpoint", "dynamodb_table_name", "lambda_function_name", "log_ingest_role_arn",
                "log_read_role_arn", "log_full_access_role_arn", "kms_key_id", "sns_topic_arn",
                "ingest_external_id_variable", "read_external_id_variable", "full_access_external_id_variable"}
    assert required <= set(module.outputs)
    for name, output in module.outputs.items():
        assert output.get("description"), name
    assert module.outputs["api_endpoint"]["value"] == "${local.api_endpoint}"
    assert module.locals["api_endpoint"] == "${aws_api_gateway_stage.api.invoke_url}"


def test_external_id_outputs_are_named_for_the_variable_name_they_return(module):
    outputs = {name: output for name, output in module.outputs.items() if "external_id" in name}
    assert outputs and all(name.endswith("_external_id_variable") for name in outputs)
    for name, output in outputs.items():
        role = re.fullmatch(r'\$\{local\.caller_roles\["([\w-]+)"\]\.external_id_variable\}', output["value"]).group(1)
        variable = CALLER_ROLES[role]["external_id_variable"]
        assert name == f"{variable}_variable" and variable in module.variables
        assert module.variables[variable]["sensitive"] is True


def test_alarms_alike_but_for_their_metric_are_one_for_each(module):
    alarm = module.resource("aws_cloudwatch_metric_alarm", "lambda")
    assert alarm["for_each"] == "${local.lambda_alarms}"
    assert alarm["alarm_name"] == "${local.name}-lambda-${each.key}"
    assert alarm["metric_name"] == "${each.value.metric_name}"
    assert {name: spec["metric_name"] for name, spec in module.locals["lambda_alarms"].items()} == {
        "errors": "Errors", "throttles": "Throttles"}
    assert not {"lambda_errors", "lambda_throttles"} & set(module.resources_of("aws_cloudwatch_metric_alarm"))


# --- drift: one definition of keys and settings ------------------------------------

def test_table_keys_index_and_ttl_are_one_definition(module):
    assert SCHEMA["hash_key"] == repository.HASH_KEY
    assert SCHEMA["range_key"] == repository.RANGE_KEY
    assert SCHEMA["ttl_attribute"] == repository.TTL_ATTRIBUTE
    indexes = SCHEMA["global_secondary_indexes"]
    assert {(index["name"], index["hash_key"], index["range_key"]) for index in indexes} == {
        (repository.TIMELINE_INDEX, repository.TIMELINE_HASH_KEY, repository.RANGE_KEY),
        (repository.PACK_TIMELINE_INDEX, repository.PACK_TIMELINE_HASH_KEY, repository.RANGE_KEY),
        (repository.SEVERITY_INDEX, repository.SEVERITY_HASH_KEY, repository.RANGE_KEY),
        (repository.SERVICE_SEVERITY_INDEX, repository.SERVICE_SEVERITY_HASH_KEY, repository.RANGE_KEY)}
    assert {a["name"] for a in SCHEMA["attributes"]} == {
        SCHEMA["hash_key"], SCHEMA["range_key"], *(index["hash_key"] for index in indexes)}
    assert table.SCHEMA_PATH == ROOT / "infra" / "table_schema.json"
    assert module.locals["table_schema"] == '${jsondecode(file("${path.module}/table_schema.json"))}'
    assert (module.folder / "table_schema.json").read_bytes() == table.SCHEMA_PATH.read_bytes()
    logs = module.resource("aws_dynamodb_table", "logs")
    assert logs["hash_key"] == "${local.table_schema.hash_key}"
    assert logs["range_key"] == "${local.table_schema.range_key}"
    dynamic = {name: block for entry in logs["dynamic"] for name, block in entry.items()}
    assert dynamic["attribute"]["for_each"] == "${local.table_schema.attributes}"
    assert dynamic["global_secondary_index"]["for_each"] == "${local.table_schema.global_secondary_indexes}"
    content = dynamic["global_secondary_index"]["content"][0]
    for key in ("name", "hash_key", "range_key", "projection_type"):
        assert content[key] == f"${{global_secondary_index.value.{key}}}"
    assert content["non_key_attributes"] == '${lookup(global_secondary_index.value, "non_key_attributes", null)}'


def test_terraform_and_chalice_config_pass_exactly_the_settings_the_code_reads(module):
    deployed = set(settings.ALL) - {settings.CURSOR_KEY, settings.CURSOR_KEY_PREVIOUS, settings.SHARD_KEY}  # local only
    function_env = module.resource("aws_lambda_function", "api_handler")["environment"]["variables"]
    assert set(function_env) == deployed
    for stage in STAGES:
        config_env = {**CONFIG["environment_variables"], **CONFIG["stages"][stage]["environment_variables"]}
        assert set(config_env) == deployed, stage
        assert config_env[settings.TABLE_NAME] == f"{CONFIG['app_name']}-{stage}"
        assert int(config_env[settings.RETENTION_DAYS]) == TFVARS[stage]["log_retention_days"], stage
    for name in (settings.SERVICE_SHARDS, settings.TIMELINE_SHARDS, settings.WRITE_MAX_ATTEMPTS):
        assert function_env[name] == CONFIG["environment_variables"][name]
    assert module.resource("aws_dynamodb_table", "logs")["name"] == "${local.name}"
    assert module.locals["name"] == "${var.app_name}-${var.stage}"
    assert module.variables["app_name"]["default"] == CONFIG["app_name"]


# --- API Gateway's own errors in the contract's shape ----------------------------------

def test_api_gateways_own_refusals_answer_code_and_message_and_are_deployed(module):
    response = module.resource("aws_api_gateway_gateway_response", "contract_shape")
    assert response["for_each"] == "${local.api_attached ? local.gateway_error_types : toset([])}"
    types = module.locals["gateway_error_types"]
    assert {"ACCESS_DENIED", "INVALID_SIGNATURE", "MISSING_AUTHENTICATION_TOKEN", "EXPIRED_TOKEN",
            "DEFAULT_4XX", "DEFAULT_5XX"} <= set(re.findall(r'"(\w+)"', types))
    template = response["response_templates"]["application/json"]
    assert template == module.locals["gateway_error_template"] or template == "${local.gateway_error_template}"
    rendered = module.locals["gateway_error_template"].replace(
        "$context.error.responseType", "ACCESS_DENIED").replace("$context.error.messageString", '"denied"')
    assert json.loads(rendered) == {"Code": "ACCESS_DENIED", "Message": "denied"}
    deployment = module.resource("aws_api_gateway_deployment", "rest_api")
    assert "aws_api_gateway_gateway_response.contract_shape" in deployment["triggers"]["gateway_responses"]
