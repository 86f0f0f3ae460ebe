# The archive (issue 21): every event the table stores reaches S3 within minutes,
# through the table's stream (dynamodb.tf), the event source mapping below and
# Chalice's `archive` function (app.py, chalicelib/archiving.py), which writes
# gzip NDJSON objects under events/service=<S>/dt=YYYY-MM-DD/hour=HH/. Athena
# queries them in place through the Glue table below (partition projection, no
# crawler). The bucket outlives the table: a table deleted by mistake leaves the
# archive whole.
#
# The function is Chalice's: aws_lambda_function.archive on the packaged path,
# `simple-log-service-<stage>-archive` on the `chalice deploy` path
# (local.archive_function, api_wiring.tf). Either way it runs with the
# least-privilege role of data.aws_iam_policy_document.archive (the chalice
# deploy path's .chalice/policy-archive-<stage>.json is rendered from it).

locals {
  archive_function_name = "${local.name}-archive"
  archive_log_group     = "/aws/lambda/${local.archive_function_name}"
  # S3 names are global, so the region is part of it; archive_bucket_name replaces it if taken.
  # Built from names only, so that the key policy can name the bucket and the queue it encrypts.
  archive_bucket_default_name = "${local.name}-${var.region}-archive"
  archive_bucket_name         = coalesce(var.archive_bucket_name, local.archive_bucket_default_name)
  archive_bucket_arn  = "arn:${local.partition}:s3:::${local.archive_bucket_name}"
  archive_dlq_name    = "${local.name}-archive-dlq"
  archive_dlq_arn     = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.archive_dlq_name}"
  # The layout chalicelib/archiving.py writes and the Glue table reads.
  archive_events_prefix  = "events/"
  athena_results_prefix  = "athena-results/"
  glue_database_name     = replace(local.name, "-", "_")
  athena_workgroup_name  = local.name
  archive_event_columns  = ["log_id", "service_name", "level", "log_type", "message", "timestamp", "metadata", "event_id", "ingested_at", "ingested_by"]
  # Caller roles that read the API read the archive too (caller_roles.json: a role with GET /logs/recent).
  archive_reader_roles = toset([for role, spec in local.caller_roles : role if contains([for route in spec.routes : join(" ", route)], "GET /logs/recent")])
}

# --- the bucket -----------------------------------------------------------------

resource "aws_s3_bucket" "archive" {
  bucket = local.archive_bucket_name

  lifecycle {
    precondition {
      condition     = length(local.archive_bucket_name) <= 63
      error_message = "The archive bucket's name (${local.archive_bucket_name}) is longer than S3's 63 characters: set archive_bucket_name."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "archive" {
  bucket                  = aws_s3_bucket.archive.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Versioned: an object overwritten (a retried batch) or deleted by mistake stays
# recoverable for a few days as a noncurrent version (lifecycle below).
resource "aws_s3_bucket_versioning" "archive" {
  bucket = aws_s3_bucket.archive.id

  versioning_configuration {
    status = "Enabled"
  }
}

# The function's PutObject carries no encryption header: the bucket encrypts with
# the stage key, through a bucket key (one KMS call per bucket key, not per object).
resource "aws_s3_bucket_server_side_encryption_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id
  # S3's default: an object under 128 KB never moves to GLACIER_IR, where it would
  # be billed as 128 KB (a quiet service's hourly object stays cheaper in STANDARD).
  transition_default_minimum_object_size = "all_storage_classes_128K"

  rule {
    id     = "events"
    status = "Enabled"

    filter {
      prefix = local.archive_events_prefix
    }

    transition {
      days          = var.archive_transition_days
      storage_class = "GLACIER_IR"
    }

    expiration {
      days = var.archive_retention_days
    }
  }

  rule {
    id     = "athena-results"
    status = "Enabled"

    filter {
      prefix = local.athena_results_prefix
    }

    expiration {
      days = 7
    }
  }

  # The whole bucket: old versions (overwritten by a retried batch, or expired
  # above) go after a few days, so do the delete markers left once they are gone
  # and uploads a failed function left incomplete.
  rule {
    id     = "versions-markers-and-uploads"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.archive]

  lifecycle {
    # Terraform 1.5 cannot compare two variables in a validation block.
    precondition {
      condition     = var.archive_transition_days < var.archive_retention_days
      error_message = "archive_transition_days (${var.archive_transition_days}) must be less than archive_retention_days (${var.archive_retention_days})."
    }
  }
}

data "aws_iam_policy_document" "archive_bucket" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.archive.arn, "${aws_s3_bucket.archive.arn}/*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "archive" {
  bucket = aws_s3_bucket.archive.id
  policy = data.aws_iam_policy_document.archive_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.archive]
}

# --- delivery: the stream, the mapping, the dead-letter queue ---------------------

# Where the mapping reports a batch it gave up on (its shard and sequence
# numbers, not the records): the records stay in the stream for 24 hours, so
# a batch found here within the day can be read again (docs/DEPLOYMENT.md).
resource "aws_sqs_queue" "archive_dlq" {
  name                              = local.archive_dlq_name
  kms_master_key_id                 = aws_kms_key.this.arn
  kms_data_key_reuse_period_seconds = 300
  message_retention_seconds         = 1209600
}

resource "aws_lambda_event_source_mapping" "archive" {
  count = local.archive_function == null ? 0 : 1

  event_source_arn                   = aws_dynamodb_table.logs.stream_arn
  function_name                      = local.archive_function
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = 1000
  maximum_batching_window_in_seconds = 60
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = 4
  maximum_record_age_in_seconds      = 86400

  # Only new items: a TTL or other deletion (REMOVE) has nothing to archive, and the service never updates an item.
  filter_criteria {
    filter {
      pattern = jsonencode({ eventName = ["INSERT"] })
    }
  }

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.archive_dlq.arn
    }
  }
}

# --- the function's role ------------------------------------------------------------

resource "aws_cloudwatch_log_group" "archive" {
  name              = local.archive_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

data "aws_iam_policy_document" "archive" {
  statement {
    sid       = "ReadTheTableStream"
    effect    = "Allow"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
    resources = [aws_dynamodb_table.logs.stream_arn]
  }

  statement {
    sid       = "WriteArchiveObjects"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.archive.arn}/${local.archive_events_prefix}*"]
  }

  statement {
    sid       = "UseStageKeyThroughS3ForTheArchive"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [aws_s3_bucket.archive.arn]
    }
  }

  # The mapping's on-failure destination sends as the function's role.
  statement {
    sid       = "ReportFailedBatches"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.archive_dlq.arn]
  }

  statement {
    sid       = "UseStageKeyThroughSQSForTheDeadLetterQueue"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:sqs:arn"
      values   = [aws_sqs_queue.archive_dlq.arn]
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.archive.arn}:log-stream:*"]
  }
}

# Not `${local.name}-archive`: that is the role `chalice deploy` creates for the function on its path.
resource "aws_iam_role" "archive" {
  name               = "${local.name}-archive-lambda"
  description        = "Execution role of the ${local.archive_function_name} function"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy" "archive" {
  name   = "least-privilege"
  role   = aws_iam_role.archive.id
  policy = data.aws_iam_policy_document.archive.json
}

# --- Athena and Glue ------------------------------------------------------------------

resource "aws_glue_catalog_database" "archive" {
  name        = local.glue_database_name
  description = "${local.name}: the archive of log events (s3://${local.archive_bucket_name}/${local.archive_events_prefix})"
}

# Partition projection: Athena computes the partitions from the query's
# WHERE (service named, dt and hour ranges), so no crawler and no partition
# to add as the archive grows. A query must name its service(s).
resource "aws_glue_catalog_table" "events" {
  name          = "events"
  database_name = aws_glue_catalog_database.archive.name
  description   = "Archived log events, one per line, as GET /logs/recent answers them (metadata as JSON text)"
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    "EXTERNAL"                    = "TRUE"
    "classification"              = "json"
    "projection.enabled"          = "true"
    "projection.service.type"     = "injected"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "NOW-${var.archive_retention_days + 1}DAYS,NOW+1DAYS"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "projection.hour.type"        = "integer"
    "projection.hour.range"       = "0,23"
    "projection.hour.digits"      = "2"
    "storage.location.template"   = "s3://${local.archive_bucket_name}/${local.archive_events_prefix}service=$${service}/dt=$${dt}/hour=$${hour}/"
  }

  partition_keys {
    name = "service"
    type = "string"
  }

  partition_keys {
    name = "dt"
    type = "string"
  }

  partition_keys {
    name = "hour"
    type = "int"
  }

  storage_descriptor {
    location      = "s3://${local.archive_bucket_name}/${local.archive_events_prefix}"
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    compressed    = true

    ser_de_info {
      name                  = "openx-json"
      serialization_library = "org.openx.data.jsonserde.JsonSerDe"
    }

    dynamic "columns" {
      for_each = local.archive_event_columns
      content {
        name = columns.value
        type = "string"
      }
    }
  }
}

resource "aws_athena_workgroup" "archive" {
  name        = local.athena_workgroup_name
  description = "${local.name}: queries of the archive (results encrypted, expire after 7 days)"

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff_per_query

    result_configuration {
      output_location       = "s3://${aws_s3_bucket.archive.id}/${local.athena_results_prefix}"
      expected_bucket_owner = local.account_id

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.this.arn
      }
    }
  }
}

# --- the read roles' access --------------------------------------------------------------

data "aws_iam_policy_document" "archive_read" {
  statement {
    sid       = "ReadArchivedEvents"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.archive.arn}/${local.archive_events_prefix}*"]
  }

  statement {
    sid       = "ListArchivedEventsAndQueryResults"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.archive.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.archive_events_prefix}*", "${local.athena_results_prefix}*"]
    }
  }

  # Athena asks where the bucket is before reading it or writing results.
  statement {
    sid       = "LocateTheBucket"
    effect    = "Allow"
    actions   = ["s3:GetBucketLocation"]
    resources = [aws_s3_bucket.archive.arn]
  }

  statement {
    sid       = "WriteAndReadQueryResults"
    effect    = "Allow"
    actions   = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"]
    resources = ["${aws_s3_bucket.archive.arn}/${local.athena_results_prefix}*"]
  }

  statement {
    sid       = "UseStageKeyThroughS3ForTheArchive"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [aws_s3_bucket.archive.arn]
    }
  }

  statement {
    sid       = "QueryThroughTheWorkgroup"
    effect    = "Allow"
    actions   = ["athena:GetQueryExecution", "athena:GetQueryResults", "athena:GetWorkGroup", "athena:StartQueryExecution", "athena:StopQueryExecution"]
    resources = [aws_athena_workgroup.archive.arn]
  }

  statement {
    sid     = "ReadTheArchiveTable"
    effect  = "Allow"
    actions = ["glue:GetDatabase", "glue:GetPartitions", "glue:GetTable"]
    resources = [
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog",
      aws_glue_catalog_database.archive.arn,
      aws_glue_catalog_table.events.arn,
    ]
  }
}

resource "aws_iam_role_policy" "caller_archive_read" {
  for_each = local.archive_reader_roles

  name   = "read-the-archive"
  role   = aws_iam_role.caller[each.key].id
  policy = data.aws_iam_policy_document.archive_read.json
}

# --- alarms ------------------------------------------------------------------------------

locals {
  archive_alarms = {
    dead-letters = {
      description = "The archive gave up on a batch of the table's stream (its shard and sequence numbers are in ${local.archive_dlq_name}): read it again within 24 hours (docs/DEPLOYMENT.md)."
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = local.archive_dlq_name }
      statistic   = "Maximum"
      threshold   = 0
    }
    errors = {
      description = "The archive function raised errors (its batch is retried, then split, then reported to the dead-letter queue)."
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = local.archive_function_name }
      statistic   = "Sum"
      threshold   = 0
    }
    iterator-age = {
      description = "The archive is more than ${var.archive_iterator_age_alarm_minutes} minutes behind the table (records older than 24 hours are lost to it)."
      namespace   = "AWS/Lambda"
      metric_name = "IteratorAge"
      dimensions  = { FunctionName = local.archive_function_name }
      statistic   = "Maximum"
      threshold   = var.archive_iterator_age_alarm_minutes * 60000
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "archive" {
  for_each = local.archive_alarms

  alarm_name          = "${local.name}-archive-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
