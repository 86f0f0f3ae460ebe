"""Settings, stage configuration, policy files and the one table definition."""
import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib import repository, service, settings
from devtools.table import load_schema

ROOT = Path(__file__).resolve().parent.parent
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
DEPLOYED = ("dev", "staging", "prod")
APP_VARIABLES = set(settings.ALL) - {"AWS_DEFAULT_REGION"}
TEST_ONLY_VARIABLES = {"AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"}


def stage_environment(stage):
    return {**CONFIG.get("environment_variables", {}), **CONFIG["stages"][stage]["environment_variables"]}


# --- settings ------------------------------------------------------------------

@pytest.fixture
def clean_env(monkeypatch):
    for name in settings.ALL:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_missing_required_settings_fail_loudly_by_name(clean_env):
    with pytest.raises(settings.SettingsError, match="LOG_TABLE_NAME"):
        settings.table_name()
    with pytest.raises(settings.SettingsError, match="LOG_RETENTION_DAYS"):
        settings.retention_days()
    with pytest.raises(settings.SettingsError, match="CURSOR_SIGNING_KEY or CURSOR_KEY_PARAMETER"):
        settings.cursor_key_source()
    with pytest.raises(settings.SettingsError, match="SHARD_KEY or SHARD_KEY_PARAMETER"):
        settings.shard_key_source()


@pytest.mark.parametrize("value", ["seven", "0", "99999", "1.5"])
def test_malformed_numbers_fail_loudly(clean_env, value):
    clean_env.setenv("LOG_RETENTION_DAYS", value)
    with pytest.raises(settings.SettingsError, match="LOG_RETENTION_DAYS"):
        settings.retention_days()


def test_optional_settings_have_defaults_and_can_be_raised(clean_env):
    assert settings.service_shards() == settings.timeline_shards() == settings.DEFAULT_SHARDS
    assert settings.write_max_attempts() == settings.DEFAULT_WRITE_MAX_ATTEMPTS
    clean_env.setenv("SERVICE_SHARDS", "32")
    assert settings.service_shards() == 32


def test_a_short_cursor_key_is_refused(clean_env):
    clean_env.setenv("CURSOR_SIGNING_KEY", "short")
    with pytest.raises(settings.SettingsError, match="at least 16"):
        settings.cursor_key_source()


def test_a_short_shard_key_is_refused(clean_env):
    clean_env.setenv("SHARD_KEY", "short")
    with pytest.raises(settings.SettingsError, match="SHARD_KEY must be at least 16"):
        settings.shard_key_source()


def test_the_shard_key_is_given_itself_or_named_as_a_parameter(clean_env):
    clean_env.setenv("SHARD_KEY_PARAMETER", "/simple-log-service/dev/shard-key")
    assert settings.shard_key_source() == ("parameter", "/simple-log-service/dev/shard-key")
    clean_env.setenv("SHARD_KEY", "s" * 16)
    assert settings.shard_key_source() == ("value", "s" * 16)


PARAMETER = "/simple-log-service/dev/cursor-signing-key"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def ssm_key(clean_env):
    """A deployed stage's cursor key in (moto's) SSM, its calls counted; yields the SSM client and the count."""
    clean_env.setenv("CURSOR_KEY_PARAMETER", PARAMETER)
    with mock_aws():
        service.reset()
        calls = []
        service.aws.client("ssm").meta.events.register("before-send.ssm", lambda **_: calls.append(1))
        ssm = boto3.client("ssm")
        ssm.put_parameter(Name=PARAMETER, Value="k" * 40, Type="SecureString")
        yield ssm, calls
    service.reset()


def test_deployed_stages_read_the_cursor_key_from_ssm_once_not_per_request(ssm_key):
    _, calls = ssm_key
    clock = Clock()
    keys = service.cursor_keys.get(clock=clock)
    assert keys.current == ("1", "k" * 40) and keys.previous is None
    for _ in range(100):
        clock.now += 1
        assert service.cursor_keys.get(wanted="1", clock=clock) == keys
    assert len(calls) == 1


def test_a_rotated_ssm_key_is_read_within_minutes_and_the_previous_one_checks_for_a_grace_period(ssm_key):
    ssm, _ = ssm_key
    clock = Clock()
    service.cursor_keys.get(clock=clock)
    ssm.put_parameter(Name=PARAMETER, Value="n" * 40, Type="SecureString", Overwrite=True)

    clock.now += service.CURSOR_KEYS_REFRESH_S + 1
    keys = service.cursor_keys.get(clock=clock)

    assert keys.current == ("2", "n" * 40) and keys.previous == ("1", "k" * 40)
    put_at = ssm.get_parameter(Name=PARAMETER)["Parameter"]["LastModifiedDate"].timestamp()
    assert keys.previous_until == put_at + service.CURSOR_KEY_GRACE_S


def test_a_cursor_naming_a_newer_key_has_the_keys_read_again_at_most_every_recheck(ssm_key):
    ssm, calls = ssm_key
    clock = Clock()
    service.cursor_keys.get(clock=clock)
    ssm.put_parameter(Name=PARAMETER, Value="n" * 40, Type="SecureString", Overwrite=True)

    clock.now += service.CURSOR_KEYS_RECHECK_S + 1
    assert service.cursor_keys.get(wanted="2", clock=clock).current[0] == "2"
    reads = len(calls)
    clock.now += 1
    service.cursor_keys.get(wanted="999", clock=clock)
    assert len(calls) == reads, "a forged key id made the keys be read again at once"


def test_local_stages_check_cursors_with_the_previous_key_they_set(clean_env):
    clean_env.setenv("CURSOR_SIGNING_KEY", "n" * 20)
    clean_env.setenv("CURSOR_SIGNING_KEY_PREVIOUS", "k" * 20)
    service.reset()
    keys = service.cursor_keys.get()
    service.reset()
    assert keys.current[1] == "n" * 20 and keys.previous[1] == "k" * 20 and keys.previous_until is None
    assert keys.current[0] != keys.previous[0]


def test_deployed_stages_key_log_ids_with_the_shard_key_from_ssm(dynamodb, monkeypatch):
    """A resend names its first send's log id while the key stays; under a new key it is another event."""
    ssm = boto3.client("ssm")
    body = json.dumps({"service_name": "billing", "level": "INFO", "message": "paid", "event_id": "e-1",
                       "timestamp": service.now_ms() - 60_000}).encode()
    monkeypatch.setenv("SHARD_KEY", "k" * 40)
    first = service.ingest(body, "writer")["log_id"]

    monkeypatch.delenv("SHARD_KEY")
    monkeypatch.setenv("SHARD_KEY_PARAMETER", "/simple-log-service/dev/shard-key")
    ssm.put_parameter(Name="/simple-log-service/dev/shard-key", Value="k" * 40, Type="SecureString")
    service.reset()
    resent = service.ingest(body, "writer")["log_id"]
    ssm.put_parameter(Name="/simple-log-service/dev/shard-key", Value="r" * 40, Type="SecureString", Overwrite=True)
    service.reset()
    rotated = service.ingest(body, "writer")["log_id"]

    assert resent == first
    assert rotated != first


def test_settings_are_read_lazily_not_at_import():
    source = (ROOT / "chalicelib" / "settings.py").read_text()
    module_level = [line for line in source.splitlines() if line.startswith(("os.environ", "_cached"))]
    assert module_level == []
    for path in (ROOT / "chalicelib").glob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "os.environ" in line and path.name != "settings.py":
                pytest.fail(f"{path.name}:{number} reads the environment outside settings.py")


# --- stages ----------------------------------------------------------------------

def test_all_stages_exist():
    assert set(CONFIG["stages"]) == {"local", "test", *DEPLOYED}


@pytest.mark.parametrize("stage", ["local", "test", *DEPLOYED])
def test_every_stage_passes_exactly_the_variables_the_settings_module_reads(stage):
    env = stage_environment(stage)
    extra = set(env) - set(settings.ALL) - (TEST_ONLY_VARIABLES if stage == "test" else set())
    assert extra == set()
    assert {settings.TABLE_NAME, settings.RETENTION_DAYS} <= set(env)
    assert settings.CURSOR_KEY in env or settings.CURSOR_KEY_PARAMETER in env
    assert settings.SHARD_KEY in env or settings.SHARD_KEY_PARAMETER in env


def test_the_test_stage_has_no_endpoint_variables_and_no_metadata_probe():
    env = stage_environment("test")
    assert not [name for name in env if name.startswith("AWS_ENDPOINT_URL")]
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"


@pytest.mark.parametrize("stage, days", [("dev", "3"), ("staging", "7"), ("prod", "7")])
def test_retention_per_stage(stage, days):
    assert stage_environment(stage)["LOG_RETENTION_DAYS"] == days


@pytest.mark.parametrize("stage", DEPLOYED)
def test_deployed_stages_keep_secrets_out_of_config(stage):
    env = stage_environment(stage)
    assert settings.CURSOR_KEY not in env and settings.SHARD_KEY not in env
    assert env[settings.CURSOR_KEY_PARAMETER] == f"/simple-log-service/{stage}/cursor-signing-key"
    assert env[settings.SHARD_KEY_PARAMETER] == f"/simple-log-service/{stage}/shard-key"


# --- least-privilege policy files --------------------------------------------------

@pytest.mark.parametrize("stage", DEPLOYED)
def test_deployed_stages_use_an_explicit_least_privilege_policy(stage):
    stage_config = CONFIG["stages"][stage]
    assert stage_config["autogen_policy"] is False
    policy = json.loads((ROOT / ".chalice" / stage_config["iam_policy_file"]).read_text())
    actions, resources = set(), []
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions.update(statement["Action"])
        resources.extend(statement["Resource"])
    dynamodb_actions = {action for action in actions if action.startswith("dynamodb:")}
    assert dynamodb_actions == {f"dynamodb:{operation}" for operation in
                                ("PutItem", "BatchGetItem", "BatchWriteItem", "Query")}
    assert not any("*" in action for action in actions)
    table = f"table/simple-log-service-{stage}"
    dynamodb_resources = [r for r in resources if r.startswith("arn:aws:dynamodb:")]
    indexes = [f"{table}/index/{index['name']}" for index in load_schema()["global_secondary_indexes"]]
    assert sorted(r.rsplit(":", 1)[1] for r in dynamodb_resources) == sorted([table, *indexes])
    assert "*" not in resources
    for resource in resources:
        assert "*" not in resource.rsplit(":", 1)[0].replace("${aws:RequestedRegion}", "").replace(
            "${aws:PrincipalAccount}", ""), resource


# --- one table definition -------------------------------------------------------------

def test_the_repository_uses_the_keys_of_the_one_table_definition():
    schema = load_schema()
    assert (schema["hash_key"], schema["range_key"]) == (repository.HASH_KEY, repository.RANGE_KEY)
    assert {(index["name"], index["hash_key"], index["range_key"]) for index in schema["global_secondary_indexes"]} == {
        (repository.TIMELINE_INDEX, repository.TIMELINE_HASH_KEY, repository.RANGE_KEY),
        (repository.PACK_TIMELINE_INDEX, repository.PACK_TIMELINE_HASH_KEY, repository.RANGE_KEY),
        (repository.SEVERITY_INDEX, repository.SEVERITY_HASH_KEY, repository.RANGE_KEY),
        (repository.SERVICE_SEVERITY_INDEX, repository.SERVICE_SEVERITY_HASH_KEY, repository.RANGE_KEY)}
    assert schema["ttl_attribute"] == repository.TTL_ATTRIBUTE
    projections = {index["name"]: (index["projection_type"], index.get("non_key_attributes"))
                   for index in schema["global_secondary_indexes"]}
    # Reads fetch a pack's payload from the table for what pack_timeline does not hold: exactly the stub's.
    assert projections.pop(repository.PACK_TIMELINE_INDEX) == ("INCLUDE", list(repository.PACK_STUB_ATTRIBUTES))
    assert set(projections.values()) == {("ALL", None)}


def test_the_table_created_locally_matches_the_definition(dynamodb):
    from tests.conftest import TABLE_NAME

    table = dynamodb.describe_table(TableName=TABLE_NAME)["Table"]
    schema = load_schema()
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        schema["hash_key"]: "HASH", schema["range_key"]: "RANGE"}
    assert {index["IndexName"]: index["Projection"] for index in table["GlobalSecondaryIndexes"]} == {
        index["name"]: {"ProjectionType": index["projection_type"],
                        **({"NonKeyAttributes": index["non_key_attributes"]} if "non_key_attributes" in index else {})}
        for index in schema["global_secondary_indexes"]}
    ttl = dynamodb.describe_time_to_live(TableName=TABLE_NAME)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == schema["ttl_attribute"] and ttl["TimeToLiveStatus"] == "ENABLED"


def test_ssm_throttled_is_a_503_at_first_and_the_keys_already_read_serve_meanwhile(ssm_key, monkeypatch):
    from chalicelib.errors import StorageUnavailable

    clock = Clock()
    keys = service.cursor_keys.get(clock=clock)
    def throttled(**_):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                           "ResponseMetadata": {"HTTPStatusCode": 400}}, "GetParameter")

    monkeypatch.setattr(service.aws.client("ssm"), "get_parameter", throttled)
    clock.now += service.CURSOR_KEYS_REFRESH_S + 1
    assert service.cursor_keys.get(clock=clock) == keys
    service.cursor_keys.forget()
    with pytest.raises(StorageUnavailable):
        service.cursor_keys.get(clock=clock)
