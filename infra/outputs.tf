output "api_endpoint" {
  description = "Base URL of the API stage, without a trailing slash (https://<id>.execute-api.<region>.amazonaws.com/api); null on the chalice deploy path until rest_api_id is set."
  value       = local.api_endpoint
}

output "rest_api_id" {
  description = "Id of the REST API the stack is attached to."
  value       = local.rest_api_id
}

output "dynamodb_table_name" {
  description = "Name of the log table (the function's LOG_TABLE_NAME)."
  value       = aws_dynamodb_table.logs.name
}

output "lambda_function_name" {
  description = "Name of the Lambda function serving the API."
  value       = local.lambda_function_name
}

output "lambda_role_arn" {
  description = "ARN of the function's least-privilege execution role."
  value       = aws_iam_role.lambda.arn
}

output "log_ingest_role_arn" {
  description = "ARN of the log-ingest caller role (POST /logs)."
  value       = aws_iam_role.caller["log-ingest"].arn
}

output "log_read_role_arn" {
  description = "ARN of the log-read caller role (GET /logs/recent)."
  value       = aws_iam_role.caller["log-read"].arn
}

output "log_full_access_role_arn" {
  description = "ARN of the log-full-access caller role (POST /logs and GET /logs/recent)."
  value       = aws_iam_role.caller["log-full-access"].arn
}

output "ingest_external_id_variable" {
  description = "Name of the Terraform variable (TF_VAR_<name>) holding the external ID callers present to assume the log-ingest role; the ID itself is never output."
  value       = local.caller_roles["log-ingest"].external_id_variable
}

output "read_external_id_variable" {
  description = "Name of the Terraform variable (TF_VAR_<name>) holding the external ID callers present to assume the log-read role; the ID itself is never output."
  value       = local.caller_roles["log-read"].external_id_variable
}

output "full_access_external_id_variable" {
  description = "Name of the Terraform variable (TF_VAR_<name>) holding the external ID callers present to assume the log-full-access role; the ID itself is never output."
  value       = local.caller_roles["log-full-access"].external_id_variable
}

output "kms_key_id" {
  description = "Id of the customer-managed key encrypting the table, the log groups and the alarm topic."
  value       = aws_kms_key.this.key_id
}

output "kms_key_arn" {
  description = "ARN of the customer-managed key."
  value       = aws_kms_key.this.arn
}

output "sns_topic_arn" {
  description = "ARN of the encrypted alarm topic."
  value       = aws_sns_topic.alarms.arn
}

output "cursor_key_parameter_name" {
  description = "SSM SecureString holding the cursor signing key (the function's CURSOR_KEY_PARAMETER)."
  value       = aws_ssm_parameter.cursor_signing_key.name
}

output "shard_key_parameter_name" {
  description = "SSM SecureString holding the key of derived log ids and their shards (the function's SHARD_KEY_PARAMETER; never rotated)."
  value       = aws_ssm_parameter.shard_key.name
}

output "lambda_log_group_name" {
  description = "CloudWatch log group of the function."
  value       = aws_cloudwatch_log_group.lambda.name
}

output "archive_bucket" {
  description = "S3 bucket of the archive: events/service=<service>/dt=YYYY-MM-DD/hour=HH/*.json.gz (slog archive get reads it)."
  value       = aws_s3_bucket.archive.id
}

output "athena_workgroup" {
  description = "Athena workgroup to query the archive in (results encrypted under athena-results/ of the bucket, a bytes-scanned limit per query)."
  value       = aws_athena_workgroup.archive.name
}

output "glue_database" {
  description = "Glue database holding the archive's table, events."
  value       = aws_glue_catalog_database.archive.name
}

output "archive_dead_letter_queue_url" {
  description = "SQS queue where the archive reports a batch of the table's stream it gave up on (shard and sequence numbers)."
  value       = aws_sqs_queue.archive_dlq.url
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard of the stage."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
