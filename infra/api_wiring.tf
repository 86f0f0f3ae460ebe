# Which API the stack attaches to, on the `chalice deploy` path, where Chalice
# (not Terraform) creates the function, the API and its stage: the one whose id
# is var.rest_api_id, and the settings of that stage. `make package` replaces
# this file with infra/chalice/api_wiring.tf, which names the API of Chalice's
# generated Terraform instead. Everything else is the same on both paths. A
# stage uses one path, never both.

variable "rest_api_id" {
  description = "chalice deploy path only: id of the REST API that `chalice deploy` created; null until then (the caller roles get their invoke grants once it is set)."
  type        = string
  default     = null

  validation {
    condition     = var.rest_api_id == null || can(regex("^[a-z0-9]{10}$", var.rest_api_id))
    error_message = "rest_api_id must be a 10-character API Gateway id or null."
  }
}

locals {
  api_attached = var.rest_api_id != null
  rest_api_id  = var.rest_api_id
  # Chalice names the REST API after the app on this path.
  api_name          = var.app_name
  api_execution_arn = "arn:${local.partition}:execute-api:${local.region}:${local.account_id}:${coalesce(var.rest_api_id, "none")}"
  api_endpoint      = local.api_attached ? "https://${var.rest_api_id}.execute-api.${local.region}.${data.aws_partition.current.dns_suffix}/${local.api_stage_name}" : null
  # The stage `chalice deploy` made, by name (Terraform does not own it on this path).
  method_settings_stage_name = local.api_stage_name
  # The function the table's stream feeds (archive.tf), by name once `chalice deploy` has made it
  # (the apply with rest_api_id, which follows it).
  archive_function = local.api_attached ? local.archive_function_name : null
}

# Throttling, metrics and ERROR-level execution logs (no request data) of the stage `chalice deploy` made.
resource "aws_api_gateway_method_settings" "all" {
  count = local.api_attached ? 1 : 0

  rest_api_id = var.rest_api_id
  stage_name  = local.api_stage_name
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
