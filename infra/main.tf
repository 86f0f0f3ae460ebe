data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  # "simple-log-service-prod": the table, the function, the API and every
  # other name of this stage derive from it (Chalice names the function so).
  name = "${var.app_name}-${var.stage}"

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  lambda_function_name = local.name
  lambda_log_group     = "/aws/lambda/${local.lambda_function_name}"
  api_access_log_group = "/aws/apigateway/${local.name}/access"
  alarm_topic_name     = "${local.name}-alarms"
  # Chalice's `api_gateway_stage` (.chalice/config.json).
  api_stage_name = "api"

  tags = merge(var.tags, {
    Application = var.app_name
    Stage       = var.stage
    Stack       = local.name
    ManagedBy   = "terraform"
  })
}
