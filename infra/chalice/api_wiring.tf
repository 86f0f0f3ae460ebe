# Which API the stack attaches to when packaged: the API of Chalice's generated
# Terraform (chalice.tf.json, rewritten by `make package`, which puts this file
# in place of infra/api_wiring.tf). The stage, with access logs and tracing, is
# ours on this path only, so the deployment Chalice generates carries no stage
# of its own.

locals {
  api_attached      = true
  rest_api_id       = aws_api_gateway_rest_api.rest_api.id
  api_name          = aws_api_gateway_rest_api.rest_api.name
  api_execution_arn = aws_api_gateway_rest_api.rest_api.execution_arn
  api_endpoint      = aws_api_gateway_stage.api.invoke_url
  # How the API calls the function, built from its name (make package puts it
  # in Chalice's API definition): the function's own invoke_arn would make the
  # API, and so the key policy naming the API's execution log group, depend on
  # the function, whose log group needs the key.
  lambda_invoke_arn = "arn:${local.partition}:apigateway:${local.region}:lambda:path/2015-03-31/functions/arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.lambda_function_name}/invocations"
  # Method settings name the stage resource below, so that they come after it.
  method_settings_stage_name = aws_api_gateway_stage.api.stage_name
  # The function the table's stream feeds (archive.tf): Chalice's, in this module.
  archive_function = aws_lambda_function.archive.arn
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = local.api_access_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

resource "aws_api_gateway_stage" "api" {
  rest_api_id          = aws_api_gateway_rest_api.rest_api.id
  deployment_id        = aws_api_gateway_deployment.rest_api.id
  stage_name           = local.api_stage_name
  description          = "${local.name} (deployment ${aws_api_gateway_deployment.rest_api.id})"
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      caller             = "$context.identity.caller"
      userArn            = "$context.identity.userArn"
      httpMethod         = "$context.httpMethod"
      resourcePath       = "$context.resourcePath"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integration.latency"
      errorMessage       = "$context.error.message"
    })
  }

  depends_on = [aws_api_gateway_account.this]

  lifecycle {
    precondition {
      condition     = aws_lambda_function.api_handler.function_name == local.lambda_function_name
      error_message = "This module was packaged for another stage than var.stage: run make package STAGE=<stage> and apply with that stage's tfvars."
    }
  }
}

# Throttling, metrics and ERROR-level execution logs (no request data) of the stage above.
resource "aws_api_gateway_method_settings" "all" {
  rest_api_id = aws_api_gateway_rest_api.rest_api.id
  stage_name  = aws_api_gateway_stage.api.stage_name
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
