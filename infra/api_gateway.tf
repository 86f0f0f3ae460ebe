# API Gateway settings of the stage: throttling, metrics and execution logging
# (ERROR level, no request data) into a log group encrypted with the key.
# Access logging is set on the stage itself (infra/chalice/api_wiring.tf).

resource "aws_cloudwatch_log_group" "api_execution" {
  count = local.api_attached ? 1 : 0

  name              = "API-Gateway-Execution-Logs_${local.rest_api_id}/${local.api_stage_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

resource "aws_api_gateway_method_settings" "all" {
  count = local.api_attached ? 1 : 0

  rest_api_id = local.rest_api_id
  stage_name  = local.deployed_stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
    caching_enabled        = false
    cache_data_encrypted   = true
  }

  depends_on = [aws_api_gateway_account.this, aws_cloudwatch_log_group.api_execution]
}

# API Gateway writes logs with one role per account and region. Turn
# manage_api_gateway_account off where the account already has it set.

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

  depends_on = [aws_iam_role_policy_attachment.api_gateway_cloudwatch]
}
