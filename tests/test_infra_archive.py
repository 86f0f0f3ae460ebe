"""The archive's infrastructure (infra/archive.tf): bucket, stream, mapping, dead-letter queue, Glue, Athena, alarms.

Read from the packaged prod module (tests/test_infra_iam.py evaluates the archive's IAM).
"""
import json
import math
import shutil
from pathlib import Path

import pytest

from devtools import chalice_stage
from devtools import package as pkg
from devtools.infra_hcl import load_module, load_tfvars

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "staging", "prod")
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
TFVARS = {stage: load_tfvars(ROOT / "infra" / "env" / f"{stage}.tfvars") for stage in STAGES}
KEY_ARN = "${aws_kms_key.this.arn}"
BUCKET = "${aws_s3_bucket.archive.id}"


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    return load_module(pkg.package("prod", tmp_path_factory.mktemp("build") / "prod"))


def validation_holds(module, name, value):
    """A numeric variable's validation condition, computed for ``value`` (the && / floor() conditions used here)."""
    condition = module.variables[name]["validation"][0]["condition"].removeprefix("${").removesuffix("}")
    python = condition.replace("&&", "and").replace("||", "or").replace("floor(", "math.floor(")
    return eval(python.replace(f"var.{name}", repr(value)), {"math": math, "__builtins__": {}})  # noqa: S307


def stage_value(module, stage, name):
    return TFVARS[stage].get(name, module.variables[name].get("default"))


# --- the bucket ------------------------------------------------------------------------

def test_the_bucket_is_versioned_encrypted_with_the_stage_key_private_and_owner_enforced(module):
    for kind in ("aws_s3_bucket_versioning", "aws_s3_bucket_server_side_encryption_configuration",
                 "aws_s3_bucket_public_access_block", "aws_s3_bucket_ownership_controls",
                 "aws_s3_bucket_lifecycle_configuration", "aws_s3_bucket_policy"):
        assert module.resource(kind, "archive")["bucket"] == BUCKET, kind
    versioning = module.resource("aws_s3_bucket_versioning", "archive")
    assert versioning["versioning_configuration"] == [{"status": "Enabled"}]
    [rule] = module.resource("aws_s3_bucket_server_side_encryption_configuration", "archive")["rule"]
    assert rule["bucket_key_enabled"] is True
    assert rule["apply_server_side_encryption_by_default"] == [{"sse_algorithm": "aws:kms",
                                                                "kms_master_key_id": KEY_ARN}]
    block = module.resource("aws_s3_bucket_public_access_block", "archive")
    assert all(block[flag] is True for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                                                "restrict_public_buckets"))
    ownership = module.resource("aws_s3_bucket_ownership_controls", "archive")
    assert ownership["rule"] == [{"object_ownership": "BucketOwnerEnforced"}]
    assert "force_destroy" not in module.resource("aws_s3_bucket", "archive")  # a destroy never empties it


def test_the_lifecycle_moves_events_to_glacier_ir_then_expires_them_and_cleans_results_versions_and_uploads(module):
    lifecycle = module.resource("aws_s3_bucket_lifecycle_configuration", "archive")
    rules = {rule["id"]: rule for rule in lifecycle["rule"]}
    assert set(rules) == {"events", "athena-results", "versions-markers-and-uploads"}
    assert all(rule["status"] == "Enabled" for rule in rules.values())
    assert module.locals["archive_events_prefix"] == "events/"
    assert module.locals["athena_results_prefix"] == "athena-results/"
    events = rules["events"]
    assert events["filter"] == [{"prefix": "${local.archive_events_prefix}"}]
    assert events["transition"] == [{"days": "${var.archive_transition_days}", "storage_class": "GLACIER_IR"}]
    assert events["expiration"] == [{"days": "${var.archive_retention_days}"}]
    results = rules["athena-results"]
    assert results["filter"] == [{"prefix": "${local.athena_results_prefix}"}]
    assert results["expiration"] == [{"days": 7}]
    whole = rules["versions-markers-and-uploads"]
    assert whole["filter"] == [{}]
    assert whole["noncurrent_version_expiration"][0]["noncurrent_days"] <= 7
    assert whole["expiration"] == [{"expired_object_delete_marker": True}]
    assert whole["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 1}]
    [precondition] = lifecycle["lifecycle"][0]["precondition"]
    assert precondition["condition"] == "${var.archive_transition_days < var.archive_retention_days}"


@pytest.mark.parametrize("name, good, bad", [
    ("archive_retention_days", [31, 365, 3653], [30, 3654, 365.5, 0]),
    ("archive_transition_days", [30, 60, 90], [29, 91, 30.5]),
    ("athena_bytes_scanned_cutoff_per_query", [10485760, 10737418240], [10485759, 10485760.5]),
    ("archive_reserved_concurrency", [1, 10, 100], [0, 101, 2.5]),
    ("archive_iterator_age_alarm_minutes", [5, 60, 720], [4, 721, 6.5]),
])
def test_each_archive_variable_is_validated(module, name, good, bad):
    variable = module.variables[name]
    assert variable["description"] and variable["type"] == "number"
    assert validation_holds(module, name, variable["default"])
    assert [value for value in good if not validation_holds(module, name, value)] == []
    assert [value for value in bad if validation_holds(module, name, value)] == []


def test_every_stage_keeps_a_year_moving_to_glacier_ir_after_a_month_by_default(module):
    assert module.variables["archive_retention_days"]["default"] == 365
    assert module.variables["archive_transition_days"]["default"] == 30
    for stage in STAGES:
        transition = stage_value(module, stage, "archive_transition_days")
        retention = stage_value(module, stage, "archive_retention_days")
        assert validation_holds(module, "archive_retention_days", retention), stage
        assert validation_holds(module, "archive_transition_days", transition), stage
        assert transition < retention, stage


def test_the_bucket_name_is_the_one_the_chalice_deploy_path_gives_its_function(module):
    assert module.resource("aws_s3_bucket", "archive")["bucket"] == "${local.archive_bucket_name}"
    assert module.locals["archive_bucket_name"] == (
        "${coalesce(var.archive_bucket_name, local.archive_bucket_default_name)}")
    assert module.locals["archive_bucket_default_name"] == "${local.name}-${var.region}-archive"
    for stage in STAGES:
        files = chalice_stage.StageFiles(stage, ROOT / "infra")
        expected = f"simple-log-service-{stage}-{TFVARS[stage]['region']}-archive"
        assert files.archive_bucket == expected
        archive = CONFIG["stages"][stage]["lambda_functions"]["archive"]
        assert archive["environment_variables"] == {"ARCHIVE_BUCKET": expected}, stage
        assert len(expected) <= 63


def test_a_taken_bucket_name_is_replaced_on_both_paths(tmp_path):
    infra = tmp_path / "infra"
    shutil.copytree(ROOT / "infra", infra)
    tfvars = infra / "env" / "staging.tfvars"
    tfvars.write_text(tfvars.read_text() + 'archive_bucket_name = "acme-slog-staging-archive"\n')

    files = chalice_stage.StageFiles("staging", infra)

    assert files.config({})["lambda_functions"]["archive"]["environment_variables"] == {
        "ARCHIVE_BUCKET": "acme-slog-staging-archive"}
    assert "arn:aws:s3:::acme-slog-staging-archive/events/*" in json.dumps(files.function_policy("archive"))


# --- delivery ----------------------------------------------------------------------------

def test_the_table_streams_new_images(module):
    table = module.resource("aws_dynamodb_table", "logs")
    assert table["stream_enabled"] is True and table["stream_view_type"] == "NEW_IMAGE"


def test_the_mapping_feeds_chalices_archive_function_as_the_spec_says(module):
    mapping = module.resource("aws_lambda_event_source_mapping", "archive")
    assert mapping["event_source_arn"] == "${aws_dynamodb_table.logs.stream_arn}"
    assert mapping["function_name"] == "${local.archive_function}"
    assert module.locals["archive_function"] == "${aws_lambda_function.archive.arn}"  # the packaged path
    assert mapping["count"] == "${local.archive_function == null ? 0 : 1}"
    expected = {"starting_position": "TRIM_HORIZON", "batch_size": 1000, "maximum_batching_window_in_seconds": 60,
                "bisect_batch_on_function_error": True, "maximum_retry_attempts": 4,
                "maximum_record_age_in_seconds": 86400}
    assert {key: mapping[key] for key in expected} == expected
    [pattern] = [item["pattern"] for block in mapping["filter_criteria"] for item in block["filter"]]
    assert pattern == '${jsonencode({eventName = ["INSERT"]})}'
    assert mapping["destination_config"] == [{"on_failure": [{"destination_arn": "${aws_sqs_queue.archive_dlq.arn}"}]}]


def test_on_the_chalice_deploy_path_the_mapping_waits_for_the_function_chalice_creates():
    standalone = load_module(ROOT / "infra")
    assert standalone.locals["archive_function"] == "${local.api_attached ? local.archive_function_name : null}"
    assert standalone.locals["archive_function_name"] == "${local.name}-archive"
    assert "aws_lambda_function" not in {kind for kind, _ in standalone.resources}


def test_the_dead_letter_queue_is_encrypted_with_the_stage_key_and_kept_two_weeks(module):
    queue = module.resource("aws_sqs_queue", "archive_dlq")
    assert queue["name"] == "${local.archive_dlq_name}"
    assert queue["kms_master_key_id"] == KEY_ARN
    assert queue["message_retention_seconds"] == 14 * 24 * 3600


def test_alarms_on_dead_letters_archive_errors_and_iterator_age_report_to_the_topic(module):
    alarm = module.resource("aws_cloudwatch_metric_alarm", "archive")
    assert alarm["for_each"] == "${local.archive_alarms}"
    assert alarm["alarm_name"] == "${local.name}-archive-${each.key}"  # the topic admits ${local.name}-*
    assert alarm["alarm_actions"] == "${local.alarm_actions}"
    assert alarm["comparison_operator"] == "GreaterThanThreshold"
    specs = module.locals["archive_alarms"]
    assert {key: (spec["namespace"], spec["metric_name"], spec["dimensions"]) for key, spec in specs.items()} == {
        "dead-letters": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "${local.archive_dlq_name}"}),
        "errors": ("AWS/Lambda", "Errors", {"FunctionName": "${local.archive_function_name}"}),
        "iterator-age": ("AWS/Lambda", "IteratorAge", {"FunctionName": "${local.archive_function_name}"}),
    }
    assert specs["dead-letters"]["threshold"] == 0 and specs["errors"]["threshold"] == 0
    assert specs["iterator-age"]["threshold"] == "${var.archive_iterator_age_alarm_minutes * 60000}"  # milliseconds
    function = json.loads((module.folder / pkg.CHALICE_FILE).read_text())["resource"]["aws_lambda_function"]
    assert function["archive"]["function_name"] == "simple-log-service-prod-archive"  # local.archive_function_name


# --- Glue and Athena ---------------------------------------------------------------------

def test_the_glue_table_reads_the_archive_layout_with_partition_projection_and_no_crawler(module):
    assert module.locals["glue_database_name"] == '${replace(local.name, "-", "_")}'
    table = module.resource("aws_glue_catalog_table", "events")
    assert table["name"] == "events" and table["database_name"] == "${aws_glue_catalog_database.archive.name}"
    assert [(key["name"], key["type"]) for key in table["partition_keys"]] == [
        ("service", "string"), ("dt", "string"), ("hour", "int")]
    parameters = table["parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.service.type"] == "injected"
    assert (parameters["projection.dt.type"], parameters["projection.dt.format"]) == ("date", "yyyy-MM-dd")
    assert (parameters["projection.hour.type"], parameters["projection.hour.range"],
            parameters["projection.hour.digits"]) == ("integer", "0,23", "2")
    template = parameters["storage.location.template"].replace("${local.archive_bucket_name}", "b").replace(
        "${local.archive_events_prefix}", "events/")
    assert template == "s3://b/events/service=$${service}/dt=$${dt}/hour=$${hour}/"  # $$: Terraform's escape
    [descriptor] = table["storage_descriptor"]
    assert descriptor["ser_de_info"][0]["serialization_library"] == "org.openx.data.jsonserde.JsonSerDe"
    [columns] = [block["columns"] for block in descriptor["dynamic"]]
    assert columns["for_each"] == "${local.archive_event_columns}"
    assert columns["content"] == [{"name": "${columns.value}", "type": "string"}]
    assert module.locals["archive_event_columns"] == [
        "log_id", "service_name", "level", "log_type", "message", "timestamp", "metadata", "event_id",
        "ingested_at", "ingested_by"]
    assert not [kind for kind, _ in module.resources if kind == "aws_glue_crawler"]


def test_the_workgroup_enforces_encrypted_results_in_the_bucket_and_a_scan_limit(module):
    workgroup = module.resource("aws_athena_workgroup", "archive")
    [configuration] = workgroup["configuration"]
    assert configuration["enforce_workgroup_configuration"] is True
    assert configuration["bytes_scanned_cutoff_per_query"] == "${var.athena_bytes_scanned_cutoff_per_query}"
    [result] = configuration["result_configuration"]
    assert result["output_location"] == "s3://${aws_s3_bucket.archive.id}/${local.athena_results_prefix}"
    assert result["encryption_configuration"] == [{"encryption_option": "SSE_KMS", "kms_key_arn": KEY_ARN}]


def test_the_archive_outputs_are_described(module):
    expected = {"archive_bucket": "${aws_s3_bucket.archive.id}",
                "athena_workgroup": "${aws_athena_workgroup.archive.name}",
                "glue_database": "${aws_glue_catalog_database.archive.name}"}
    for name, value in expected.items():
        assert module.outputs[name]["value"] == value and module.outputs[name]["description"], name
