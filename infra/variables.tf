variable "region" {
  description = "AWS region to deploy the stage to."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "app_name" {
  description = "Application name; must equal app_name in .chalice/config.json (the Lambda function is <app_name>-<stage>)."
  type        = string
  default     = "simple-log-service"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,39}$", var.app_name))
    error_message = "app_name must be 3-40 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "stage" {
  description = "Deployment stage; must be the stage the module was packaged for (make package STAGE=<stage>)."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.stage)
    error_message = "stage must be one of dev, staging, prod."
  }
}

variable "log_retention_days" {
  description = "Days to keep log events: the DynamoDB TTL the function applies (LOG_RETENTION_DAYS) and the retention of every CloudWatch log group of the stage."
  type        = number
  default     = 7

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "deletion_protection" {
  description = "Protect the log table against deletion (turn off only for throw-away stages)."
  type        = bool
  default     = true
}

variable "point_in_time_recovery" {
  description = "Enable DynamoDB point-in-time recovery on the log table."
  type        = bool
  default     = true
}

variable "billing_mode" {
  description = "DynamoDB billing mode of the log table: PAY_PER_REQUEST (on-demand) or PROVISIONED."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.billing_mode)
    error_message = "billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "read_capacity" {
  description = "Read capacity units of the table and of each index when billing_mode is PROVISIONED."
  type        = number
  default     = 5

  validation {
    condition     = var.read_capacity >= 1 && floor(var.read_capacity) == var.read_capacity
    error_message = "read_capacity must be a whole number of at least 1."
  }
}

variable "write_capacity" {
  description = "Write capacity units of the table and of each index when billing_mode is PROVISIONED."
  type        = number
  default     = 5

  validation {
    condition     = var.write_capacity >= 1 && floor(var.write_capacity) == var.write_capacity
    error_message = "write_capacity must be a whole number of at least 1."
  }
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period before the customer-managed key is deleted after a destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}

variable "lambda_runtime" {
  description = "Lambda runtime of the function (packaged path; on the chalice deploy path the runtime is the version of the Python that runs chalice deploy). The code needs Python 3.11 or newer."
  type        = string
  default     = "python3.11"

  validation {
    condition     = can(regex("^python3\\.1[1-9]$", var.lambda_runtime))
    error_message = "lambda_runtime must be a Lambda Python runtime of 3.11 or newer, such as python3.11 or python3.12."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Concurrent executions reserved for (and capping) the function, on both deploy paths (the chalice deploy path's reserved_concurrency is rendered from it); -1 leaves it unreserved. Lambda keeps at least 100 of the account's concurrency (1,000 by default) unreserved, so the stages of one account and region together may reserve at most the account limit minus 100."
  type        = number
  default     = 10

  validation {
    condition     = var.lambda_reserved_concurrency == -1 || (var.lambda_reserved_concurrency >= 1 && var.lambda_reserved_concurrency <= 900 && floor(var.lambda_reserved_concurrency) == var.lambda_reserved_concurrency)
    error_message = "lambda_reserved_concurrency must be -1 (unreserved) or a whole number between 1 and 900 (an account of 1,000 keeps 100 unreserved)."
  }
}

variable "ingest_throttling_rate_limit" {
  description = "API Gateway throttling of each ingest route (POST /logs, POST /v1/logs) on its own: steady-state requests per second across all callers."
  type        = number
  default     = 50

  validation {
    condition     = var.ingest_throttling_rate_limit > 0 && var.ingest_throttling_rate_limit <= 10000
    error_message = "ingest_throttling_rate_limit must be greater than 0 and at most 10000."
  }
}

variable "ingest_throttling_burst_limit" {
  description = "API Gateway throttling of each ingest route (POST /logs, POST /v1/logs) on its own: maximum burst of requests."
  type        = number
  default     = 100

  validation {
    condition     = var.ingest_throttling_burst_limit >= 1 && var.ingest_throttling_burst_limit <= 5000 && floor(var.ingest_throttling_burst_limit) == var.ingest_throttling_burst_limit
    error_message = "ingest_throttling_burst_limit must be a whole number between 1 and 5000."
  }
}

variable "read_throttling_rate_limit" {
  description = "API Gateway throttling of the read route (GET /logs/recent) on its own: steady-state requests per second across all callers, however busy ingestion is."
  type        = number
  default     = 10

  validation {
    condition     = var.read_throttling_rate_limit > 0 && var.read_throttling_rate_limit <= 10000
    error_message = "read_throttling_rate_limit must be greater than 0 and at most 10000."
  }
}

variable "read_throttling_burst_limit" {
  description = "API Gateway throttling of the read route (GET /logs/recent) on its own: maximum burst of requests."
  type        = number
  default     = 20

  validation {
    condition     = var.read_throttling_burst_limit >= 1 && var.read_throttling_burst_limit <= 5000 && floor(var.read_throttling_burst_limit) == var.read_throttling_burst_limit
    error_message = "read_throttling_burst_limit must be a whole number between 1 and 5000."
  }
}

variable "route_4xx_alarm_threshold" {
  description = "Alarm when one route answers more than this many 4XX in 5 minutes. API Gateway counts its throttling answers (429) as 4XXError, with the callers' own mistakes (400, 403, 413); there is no metric of 429s alone."
  type        = number
  default     = 50

  validation {
    condition     = var.route_4xx_alarm_threshold >= 1 && floor(var.route_4xx_alarm_threshold) == var.route_4xx_alarm_threshold
    error_message = "route_4xx_alarm_threshold must be a whole number of at least 1."
  }
}

variable "throttling_rate_limit" {
  description = "API Gateway stage throttling of every method without its own limit (each route has its own: ingest_throttling_* and read_throttling_*): steady-state requests per second across all callers."
  type        = number
  default     = 100

  validation {
    condition     = var.throttling_rate_limit > 0 && var.throttling_rate_limit <= 10000
    error_message = "throttling_rate_limit must be greater than 0 and at most 10000."
  }
}

variable "throttling_burst_limit" {
  description = "API Gateway stage throttling of every method without its own limit: maximum burst of requests."
  type        = number
  default     = 200

  validation {
    condition     = var.throttling_burst_limit >= 1 && var.throttling_burst_limit <= 5000 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a whole number between 1 and 5000."
  }
}

variable "manage_api_gateway_account" {
  description = "Set API Gateway's CloudWatch Logs role for the whole account and region (API Gateway needs one there to write access and execution logs), replacing any role already set, and clear the setting when this stage is destroyed. Off by default: turn it on in one stage only, and only where `aws apigateway get-account` shows no cloudwatchRoleArn that someone else owns."
  type        = bool
  default     = false
}

variable "ingest_external_id" {
  description = "sts:ExternalId that callers must present to assume the log-ingest role."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@:/_-]{16,1224}$", var.ingest_external_id))
    error_message = "ingest_external_id must be 16-1224 characters of A-Z a-z 0-9 + = , . @ : / _ -."
  }
}

variable "read_external_id" {
  description = "sts:ExternalId that callers must present to assume the log-read role."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@:/_-]{16,1224}$", var.read_external_id))
    error_message = "read_external_id must be 16-1224 characters of A-Z a-z 0-9 + = , . @ : / _ -."
  }
}

variable "full_access_external_id" {
  description = "sts:ExternalId that callers must present to assume the log-full-access role."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@:/_-]{16,1224}$", var.full_access_external_id))
    error_message = "full_access_external_id must be 16-1224 characters of A-Z a-z 0-9 + = , . @ : / _ -."
  }
}

variable "ingest_principal_arns" {
  description = "The IAM roles or users that may assume the log-ingest caller role (each still giving that role's external ID): the roles of the applications that send logs (POST /logs, POST /v1/logs). Required, no default. An account root ARN (arn:aws:iam::<account>:root) trusts every principal of that account whose own policy allows sts:AssumeRole, and is accepted only when written here."
  type        = list(string)

  validation {
    condition     = length(var.ingest_principal_arns) > 0 && alltrue([for arn in var.ingest_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", arn))])
    error_message = "ingest_principal_arns must list at least one IAM role, user or account root ARN."
  }
}

variable "read_principal_arns" {
  description = "The IAM roles or users that may assume the log-read caller role (each still giving that role's external ID): the roles of the tools and people that read logs (GET /logs/recent). Required, no default. An account root ARN (arn:aws:iam::<account>:root) trusts every principal of that account whose own policy allows sts:AssumeRole, and is accepted only when written here."
  type        = list(string)

  validation {
    condition     = length(var.read_principal_arns) > 0 && alltrue([for arn in var.read_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", arn))])
    error_message = "read_principal_arns must list at least one IAM role, user or account root ARN."
  }
}

variable "full_access_principal_arns" {
  description = "The IAM roles or users that may assume the log-full-access caller role (each still giving that role's external ID): the roles that both send and read, such as the one that runs slog smoke. Required, no default. An account root ARN (arn:aws:iam::<account>:root) trusts every principal of that account whose own policy allows sts:AssumeRole, and is accepted only when written here."
  type        = list(string)

  validation {
    condition     = length(var.full_access_principal_arns) > 0 && alltrue([for arn in var.full_access_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", arn))])
    error_message = "full_access_principal_arns must list at least one IAM role, user or account root ARN."
  }
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic and the budget alerts; null for none."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or null."
  }
}

variable "latency_p99_threshold_ms" {
  description = "Alarm when the API's p99 latency exceeds this many milliseconds."
  type        = number
  default     = 2000

  validation {
    condition     = var.latency_p99_threshold_ms > 0 && var.latency_p99_threshold_ms <= 29000
    error_message = "latency_p99_threshold_ms must be greater than 0 and at most 29000 (API Gateway's integration timeout)."
  }
}

variable "api_5xx_rate_threshold_percent" {
  description = "Alarm when more than this percentage of the API's requests are server errors (5XX), in 2 of 3 periods of 5 minutes."
  type        = number
  default     = 5

  validation {
    condition     = var.api_5xx_rate_threshold_percent > 0 && var.api_5xx_rate_threshold_percent < 100
    error_message = "api_5xx_rate_threshold_percent must be greater than 0 and less than 100."
  }
}

variable "api_5xx_min_requests" {
  description = "A 5-minute period with fewer API requests than this never counts towards the 5XX alarm (too few to judge a rate)."
  type        = number
  default     = 20

  validation {
    condition     = var.api_5xx_min_requests >= 1 && floor(var.api_5xx_min_requests) == var.api_5xx_min_requests
    error_message = "api_5xx_min_requests must be a whole number of at least 1."
  }
}

variable "create_config_recorder" {
  description = "Create an AWS Config recorder and delivery channel. Leave off if the account already records (only one recorder per region is allowed)."
  type        = bool
  default     = false
}

variable "account_wide_config_rules" {
  description = "Also create the periodic AWS Config rules that cannot be scoped to a stage (CMK_BACKING_KEY_ROTATION_ENABLED, CLOUDWATCH_LOG_GROUP_ENCRYPTED): they judge every key and log group of the account and region. Set true in one stage per account and region at most."
  type        = bool
  default     = false
}

variable "config_delivery_bucket_name" {
  description = "Existing S3 bucket the new Config recorder delivers to; required when create_config_recorder is true."
  type        = string
  default     = null

  validation {
    condition     = var.config_delivery_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.config_delivery_bucket_name))
    error_message = "config_delivery_bucket_name must be an S3 bucket name or null."
  }
}

variable "monthly_budget_usd" {
  description = "Monthly cost budget of the stage in USD (costs tagged Stack=<app_name>-<stage>)."
  type        = number
  default     = 25

  validation {
    condition     = var.monthly_budget_usd > 0
    error_message = "monthly_budget_usd must be greater than 0."
  }
}

variable "archive_retention_days" {
  description = "Days the archive keeps an event's object (S3 lifecycle expiration from its creation), after which it is gone; it must exceed archive_transition_days."
  type        = number
  default     = 365

  validation {
    condition     = var.archive_retention_days >= 31 && var.archive_retention_days <= 3653 && floor(var.archive_retention_days) == var.archive_retention_days
    error_message = "archive_retention_days must be a whole number of days between 31 and 3653 (10 years)."
  }
}

variable "archive_transition_days" {
  description = "Days after which an archived object of 128 KB or more moves to S3 Glacier Instant Retrieval (cheaper to keep, dearer to read; 90 days minimum billed); less than archive_retention_days."
  type        = number
  default     = 30

  validation {
    condition     = var.archive_transition_days >= 30 && var.archive_transition_days <= 90 && floor(var.archive_transition_days) == var.archive_transition_days
    error_message = "archive_transition_days must be a whole number of days between 30 and 90."
  }
}

variable "archive_bucket_name" {
  description = "Name of the archive bucket; null for <app_name>-<stage>-<region>-archive. Set it only if that name is taken (S3 names are global)."
  type        = string
  default     = null

  validation {
    condition     = var.archive_bucket_name == null || can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.archive_bucket_name))
    error_message = "archive_bucket_name must be 3-63 lower-case letters, digits or hyphens, starting and ending with a letter or digit, or null."
  }
}

variable "archive_reserved_concurrency" {
  description = "Concurrent executions reserved for (and capping) the archive function, on both deploy paths. The table's stream runs one batch per shard at a time, so this needs to be at least its number of open shards (a few for most tables); fewer delays the archive (the iterator-age alarm). Counts against the account's concurrency with lambda_reserved_concurrency."
  type        = number
  default     = 10

  validation {
    condition     = var.archive_reserved_concurrency >= 1 && var.archive_reserved_concurrency <= 100 && floor(var.archive_reserved_concurrency) == var.archive_reserved_concurrency
    error_message = "archive_reserved_concurrency must be a whole number between 1 and 100."
  }
}

variable "archive_iterator_age_alarm_minutes" {
  description = "Alarm when the archive function is this many minutes behind the table's stream (its IteratorAge); records older than 24 hours leave the stream unarchived."
  type        = number
  default     = 60

  validation {
    condition     = var.archive_iterator_age_alarm_minutes >= 5 && var.archive_iterator_age_alarm_minutes <= 720 && floor(var.archive_iterator_age_alarm_minutes) == var.archive_iterator_age_alarm_minutes
    error_message = "archive_iterator_age_alarm_minutes must be a whole number between 5 and 720 (half the stream's 24 hours)."
  }
}

variable "athena_bytes_scanned_cutoff_per_query" {
  description = "Athena cancels a query of the archive workgroup that scans more than this many bytes (USD 5 per TB scanned); at least 10 MB."
  type        = number
  default     = 10737418240

  validation {
    condition     = var.athena_bytes_scanned_cutoff_per_query >= 10485760 && floor(var.athena_bytes_scanned_cutoff_per_query) == var.athena_bytes_scanned_cutoff_per_query
    error_message = "athena_bytes_scanned_cutoff_per_query must be a whole number of bytes of at least 10485760 (10 MB, Athena's minimum)."
  }
}

variable "tags" {
  description = "Extra tags for every resource (Application, Stage, Stack and ManagedBy are always set)."
  type        = map(string)
  default     = {}
}
