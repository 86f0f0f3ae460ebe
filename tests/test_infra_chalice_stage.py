"""The `chalice deploy` path's stage files are rendered from infra/ by devtools/chalice_stage.py, never by hand."""
import json
import shutil
from pathlib import Path

import pytest

from devtools import chalice_stage

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path):
    """A copy of infra/ and .chalice/ to change."""
    shutil.copytree(ROOT / "infra", tmp_path / "infra")
    shutil.copytree(ROOT / ".chalice", tmp_path / ".chalice",
                    ignore=shutil.ignore_patterns("deployed", "deployments"))
    return tmp_path


def test_the_committed_stage_files_are_what_infra_gives():
    assert chalice_stage.stale_files() == []


def test_a_new_index_in_the_table_definition_reaches_both_roles(project):
    schema_path = project / "infra" / "table_schema.json"
    schema = json.loads(schema_path.read_text())
    schema["attributes"].append({"name": "epk", "type": "S"})
    schema["global_secondary_indexes"].append(
        {"name": "by_event", "hash_key": "epk", "range_key": "sk", "projection_type": "KEYS_ONLY"})
    schema_path.write_text(json.dumps(schema))

    files = chalice_stage.expected_files(project / ".chalice", project / "infra")

    policy = json.loads(files[project / ".chalice" / "policy-prod.json"])
    [table_statement] = [s for s in policy["Statement"] if s["Sid"] == "WriteAndQueryLogTable"]
    resources = [resource.rsplit(":", 1)[1] for resource in table_statement["Resource"]]
    assert resources[0] == "table/simple-log-service-prod"
    assert resources[1:] == [f"table/simple-log-service-prod/index/{index['name']}"
                             for index in schema["global_secondary_indexes"]]
    assert resources[-1] == "table/simple-log-service-prod/index/by_event"


def test_a_changed_tfvars_value_and_a_new_grant_reach_the_chalice_files(project):
    tfvars = project / "infra" / "env" / "staging.tfvars"
    tfvars.write_text(tfvars.read_text().replace("log_retention_days     = 7", "log_retention_days     = 14"))
    iam = project / "infra" / "iam.tf"
    iam.write_text(iam.read_text().replace('actions   = ["ssm:GetParameter"]',
                                           'actions   = ["ssm:GetParameter", "ssm:GetParameters"]'))

    files = chalice_stage.expected_files(project / ".chalice", project / "infra")

    config = json.loads(files[project / ".chalice" / "config.json"])
    assert config["stages"]["staging"]["environment_variables"]["LOG_RETENTION_DAYS"] == "14"
    assert config["stages"]["prod"]["environment_variables"]["LOG_RETENTION_DAYS"] == "7"
    assert config["stages"]["local"] == json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["local"]
    policy = json.loads(files[project / ".chalice" / "policy-staging.json"])
    [ssm] = [s for s in policy["Statement"] if s["Sid"] == "ReadCursorAndShardKeys"]
    assert ssm["Action"] == ["ssm:GetParameter", "ssm:GetParameters"]
    assert ssm["Resource"] == [
        "arn:aws:ssm:${aws:RequestedRegion}:${aws:PrincipalAccount}:parameter/simple-log-service/staging/cursor-signing-key",
        "arn:aws:ssm:${aws:RequestedRegion}:${aws:PrincipalAccount}:parameter/simple-log-service/staging/shard-key"]


def test_the_key_parameters_as_infra_names_them_reach_the_config_and_the_policy_of_every_stage(project):
    ssm = project / "infra" / "ssm.tf"
    ssm.write_text(ssm.read_text().replace('/${var.stage}/shard-key"', '/${var.stage}/log-id-key"'))

    files = chalice_stage.expected_files(project / ".chalice", project / "infra")

    config = json.loads(files[project / ".chalice" / "config.json"])
    for stage in ("dev", "staging", "prod"):
        environment = config["stages"][stage]["environment_variables"]
        assert environment["CURSOR_KEY_PARAMETER"] == f"/simple-log-service/{stage}/cursor-signing-key"
        assert environment["SHARD_KEY_PARAMETER"] == f"/simple-log-service/{stage}/log-id-key"
        policy = json.loads(files[project / ".chalice" / f"policy-{stage}.json"])
        [decrypt] = [s for s in policy["Statement"] if s["Sid"] == "DecryptCursorAndShardKeysThroughSSM"]
        assert decrypt["Condition"]["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"] == [
            f"arn:aws:ssm:${{aws:RequestedRegion}}:${{aws:PrincipalAccount}}:parameter/simple-log-service/{stage}/{name}"
            for name in ("cursor-signing-key", "log-id-key")]
    assert "SHARD_KEY_PARAMETER" not in config["stages"]["local"]["environment_variables"]


def test_check_reports_a_hand_edited_file_and_writing_repairs_it(project, monkeypatch, capsys):
    monkeypatch.setattr(chalice_stage, "CHALICE_DIR", project / ".chalice")
    monkeypatch.setattr(chalice_stage, "INFRA", project / "infra")
    policy_path = project / ".chalice" / "policy-dev.json"
    policy_path.write_text(policy_path.read_text().replace('"dynamodb:Query"', '"dynamodb:Scan"'))

    assert chalice_stage.main(["--check"]) == 1
    assert "policy-dev.json" in capsys.readouterr().out
    assert chalice_stage.main([]) == 0
    assert chalice_stage.main(["--check"]) == 0
    assert '"dynamodb:Scan"' not in policy_path.read_text()


def test_chalice_tags_the_function_with_the_stack_tag_that_config_rules_and_the_budget_select():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage in ("dev", "staging", "prod"):
        assert config["stages"][stage]["tags"] == {
            "Application": config["app_name"], "Stage": stage, "Stack": f"{config['app_name']}-{stage}"}
