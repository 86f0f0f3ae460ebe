"""Limits per route: ingest and reads throttled apart, the function's concurrency reserved per stage, alarms per route.

One function serves every route, so the limits that keep an ingest flood from
starving reads are API Gateway's, per method path, and the function's reserved
concurrency caps what all routes together may take of the account.
"""
import json
from pathlib import Path

import pytest

from devtools import package as pkg
from devtools.infra_hcl import load_module, load_tfvars

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "staging", "prod")
CALLER_ROLES = json.loads((ROOT / "infra" / "caller_roles.json").read_text())["roles"]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
TFVARS = {stage: load_tfvars(ROOT / "infra" / "env" / f"{stage}.tfvars") for stage in STAGES}
# Whose limits each caller role's routes get.
ROLE_LIMITS = {"log-ingest": "ingest", "log-read": "read"}
ACCOUNT_CONCURRENCY = 1000
UNRESERVED_MINIMUM = 100


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    return load_module(pkg.package("prod", tmp_path_factory.mktemp("build") / "prod"))


def setting(module, stage, name):
    return TFVARS[stage].get(name, module.variables[name].get("default"))


def routes(module, stage):
    """local.routes for a stage: {key: (method path, rate, burst)}."""
    computed = {}
    for key, route in module.locals["routes"].items():
        rate, burst = (setting(module, stage, route[name].removeprefix("${var.").removesuffix("}"))
                       for name in ("rate", "burst"))
        computed[key] = (f"{route['resource'].removeprefix('/')}/{route['method']}", rate, burst)
    return computed


def test_the_routes_and_their_limits_are_those_of_the_caller_roles_routes(module):
    """local.routes is written out (its keys name the alarms); it must say what caller_roles.json says."""
    expected = {}
    for role, limits in ROLE_LIMITS.items():
        for method, resource in CALLER_ROLES[role]["routes"]:
            key = f"{method}-{resource.removeprefix('/').replace('/', '-')}"
            expected[key] = {"method": method, "resource": resource, "rate": f"${{var.{limits}_throttling_rate_limit}}",
                             "burst": f"${{var.{limits}_throttling_burst_limit}}"}
    assert module.locals["routes"] == expected
    granted = {tuple(route) for spec in CALLER_ROLES.values() for route in spec["routes"]}
    assert {(route["method"], route["resource"]) for route in expected.values()} == granted


def test_every_route_of_the_app_has_its_own_throttle_with_detailed_metrics(module):
    from app import app

    settings_block = module.resource("aws_api_gateway_method_settings", "route")
    assert settings_block["for_each"] == "${local.api_attached ? local.routes : {}}"
    assert settings_block["method_path"] == '${trimprefix(each.value.resource, "/")}/${each.value.method}'
    assert settings_block["stage_name"] == "${local.method_settings_stage_name}"
    assert module.locals["method_settings_stage_name"] == "${aws_api_gateway_stage.api.stage_name}"
    [values] = settings_block["settings"]
    assert values["throttling_rate_limit"] == "${each.value.rate}"
    assert values["throttling_burst_limit"] == "${each.value.burst}"
    assert values["metrics_enabled"] is True  # per-method metrics: the per-route alarms need them
    assert values["logging_level"] == "ERROR" and values["data_trace_enabled"] is False
    app_routes = {f"{path.removeprefix('/')}/{method}" for path, methods in app.routes.items() for method in methods}
    for stage in STAGES:
        assert {path for path, _, _ in routes(module, stage).values()} == app_routes == {
            "logs/POST", "v1/logs/POST", "logs/recent/GET"}, stage


@pytest.mark.parametrize("stage", STAGES)
def test_ingest_and_reads_are_throttled_apart_in_every_stage(module, stage):
    limits = routes(module, stage)
    ingest = {limits["POST-logs"][1:], limits["POST-v1-logs"][1:]}
    read = limits["GET-logs-recent"][1:]
    assert len(ingest) == 1  # both ingest routes: the ingest limits
    [(ingest_rate, ingest_burst)] = ingest
    assert (ingest_rate, ingest_burst) == (TFVARS[stage]["ingest_throttling_rate_limit"],
                                           TFVARS[stage]["ingest_throttling_burst_limit"])
    assert read == (TFVARS[stage]["read_throttling_rate_limit"], TFVARS[stage]["read_throttling_burst_limit"])
    for rate, burst in (ingest_rate, ingest_burst), read:
        assert 0 < rate <= burst, stage


def test_each_function_reserves_concurrency_in_every_stage_on_both_deploy_paths_within_the_account(module):
    variables = {"api_handler": "lambda_reserved_concurrency", "archive": "archive_reserved_concurrency"}
    reserved = {}
    for function, variable in variables.items():
        terraform = module.resource("aws_lambda_function", function)
        assert terraform["reserved_concurrent_executions"] == f"${{var.{variable}}}", function
        default = module.variables[variable]["default"]
        for stage in STAGES:
            value = TFVARS[stage].get(variable, default)
            assert value >= 1, (stage, function)
            # The chalice deploy path: per function, so that neither takes the other's reservation.
            assert CONFIG["stages"][stage]["lambda_functions"][function]["reserved_concurrency"] == value, stage
            reserved[stage, function] = value
        assert "reserved_concurrency" not in {key for stage in STAGES for key in CONFIG["stages"][stage]}
    assert reserved["dev", "api_handler"] < reserved["staging", "api_handler"] < reserved["prod", "api_handler"]
    # The three stages' functions fit one default account together, leaving Lambda's unreserved minimum.
    assert sum(reserved.values()) <= ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM


def test_each_route_alarms_on_its_own_4xx_and_the_function_on_its_throttles(module):
    alarm = module.resource("aws_cloudwatch_metric_alarm", "route_4xx")
    assert alarm["for_each"] == "${local.routes}"
    assert (alarm["namespace"], alarm["metric_name"], alarm["statistic"]) == ("AWS/ApiGateway", "4XXError", "Sum")
    assert alarm["dimensions"] == (
        "${merge(local.api_dimensions, {Method = each.value.method, Resource = each.value.resource})}")
    assert alarm["threshold"] == "${var.route_4xx_alarm_threshold}"
    assert alarm["alarm_actions"] == "${local.alarm_actions}"
    assert alarm["alarm_name"] == "${local.name}-api-4xx-${each.key}"  # the alarm topic admits "${local.name}-*"
    assert {f"simple-log-service-prod-api-4xx-{key}" for key in routes(module, "prod")} == {
        "simple-log-service-prod-api-4xx-POST-logs", "simple-log-service-prod-api-4xx-POST-v1-logs",
        "simple-log-service-prod-api-4xx-GET-logs-recent"}
    assert module.locals["lambda_alarms"]["throttles"]["metric_name"] == "Throttles"
