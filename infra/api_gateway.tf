# What the stack sets on its API, on both paths: execution logs in a log group
# encrypted with the key, the gateway responses, and each route's own throttle. api_wiring.tf says which
# API that is: Chalice's generated one when packaged (infra/chalice/api_wiring.tf),
# the one `chalice deploy` made otherwise (var.rest_api_id; nothing here exists
# until it is set), and sets the stage's method settings, which must name the
# stage resource where Terraform owns it.

resource "aws_cloudwatch_log_group" "api_execution" {
  count = local.api_attached ? 1 : 0

  name              = "API-Gateway-Execution-Logs_${local.rest_api_id}/${local.api_stage_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

# API Gateway answers some requests itself, before the function runs: a
# missing, invalid or expired SigV4 signature, a caller role without
# execute-api:Invoke on the route, throttling, an unknown path. Its default
# body is {"message": "..."}; these gateway responses give those answers the
# contract's {"Code", "Message"} shape, keeping each type's own status code.

locals {
  gateway_error_types = toset([
    "ACCESS_DENIED",
    "EXPIRED_TOKEN",
    "INVALID_SIGNATURE",
    "MISSING_AUTHENTICATION_TOKEN",
    "UNAUTHORIZED",
    "THROTTLED",
    "REQUEST_TOO_LARGE",
    "DEFAULT_4XX",
    "DEFAULT_5XX",
  ])
  gateway_error_template = "{\"Code\": \"$context.error.responseType\", \"Message\": $context.error.messageString}"
}

resource "aws_api_gateway_gateway_response" "contract_shape" {
  for_each = local.api_attached ? local.gateway_error_types : toset([])

  rest_api_id   = local.rest_api_id
  response_type = each.key

  response_templates = {
    "application/json" = local.gateway_error_template
  }
}

# Each route is throttled on its own, so that a flood on one (an ingest burst,
# say) meets its own limit and leaves the others theirs: the routes of the
# log-ingest role (caller_roles.json) get the ingest limits, that of the
# log-read role the read limits (tests/test_infra_throttling.py checks that the
# two files agree). Keys are what the routes' alarms are named by. A route's
# settings are a method path, <resource path without its leading slash>/<method>.
# Detailed metrics give each route its own 4XXError, Count and Latency
# (monitoring.tf alarms on them). The stage-wide settings (method path */*,
# api_wiring.tf) still cover any method without its own.

locals {
  routes = {
    "POST-logs"       = { method = "POST", resource = "/logs", rate = var.ingest_throttling_rate_limit, burst = var.ingest_throttling_burst_limit }
    "POST-v1-logs"    = { method = "POST", resource = "/v1/logs", rate = var.ingest_throttling_rate_limit, burst = var.ingest_throttling_burst_limit }
    "GET-logs-recent" = { method = "GET", resource = "/logs/recent", rate = var.read_throttling_rate_limit, burst = var.read_throttling_burst_limit }
  }
}

resource "aws_api_gateway_method_settings" "route" {
  for_each = local.api_attached ? local.routes : {}

  rest_api_id = local.rest_api_id
  stage_name  = local.method_settings_stage_name
  method_path = "${trimprefix(each.value.resource, "/")}/${each.value.method}"

  settings {
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false
    throttling_rate_limit  = each.value.rate
    throttling_burst_limit = each.value.burst
    caching_enabled        = false
    cache_data_encrypted   = true
  }

  # After the stage-wide settings: API Gateway refuses concurrent changes to one stage.
  depends_on = [aws_api_gateway_method_settings.all]
}

# API Gateway writes logs with one role per account and region, an account-wide
# setting that other stacks may own: this stage sets it only when
# manage_api_gateway_account is true (off by default), and then clears it when
# destroyed rather than leave it naming a deleted role. Either way, every API of
# the account and region stops writing logs until someone sets a role again.

data "aws_iam_policy_document" "api_gateway_assume" {
  statement {
    sid     = "ApiGatewayAssumesTheRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "api_gateway_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  name               = "${local.name}-apigateway-cloudwatch"
  description        = "Lets API Gateway write access and execution logs in ${local.region}"
  assume_role_policy = data.aws_iam_policy_document.api_gateway_assume.json
}

resource "aws_iam_role_policy_attachment" "api_gateway_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  role       = aws_iam_role.api_gateway_cloudwatch[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count = var.manage_api_gateway_account ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.api_gateway_cloudwatch[0].arn
  reset_on_delete     = true

  depends_on = [aws_iam_role_policy_attachment.api_gateway_cloudwatch]
}
