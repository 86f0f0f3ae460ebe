# API Gateway execution logs go to a log group encrypted with the key. The
# stage's method settings (throttling, metrics, ERROR-level execution logs
# without request data) are in api_wiring.tf, beside the stage they apply to.

resource "aws_cloudwatch_log_group" "api_execution" {
  count = local.api_attached ? 1 : 0

  name              = "API-Gateway-Execution-Logs_${local.rest_api_id}/${local.api_stage_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
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
