# AWS Config rules that watch this stage's resources. A rule needs a recorder in
# the account and region; most accounts have one already, so this module creates
# one only when create_config_recorder is true (see below).
#
# A rule is account- and region-wide unless scoped. Rules triggered by
# configuration changes are scoped to this stage by its Stack tag (every
# resource Terraform creates carries it, and the function on the chalice deploy
# path too), so stages sharing an account do not judge each other's resources.
# Periodic rules cannot be scoped (AWS Config evaluates them on every resource of
# their type in the region): they are created only where account_wide_config_rules
# is true, in one stage per account and region, and judge every key and log group.

locals {
  config_rules = {
    dynamodb-table-encrypted-kms = {
      identifier   = "DYNAMODB_TABLE_ENCRYPTED_KMS"
      parameters   = { kmsKeyArns = aws_kms_key.this.arn }
      account_wide = false
    }
    dynamodb-pitr-enabled = {
      identifier   = "DYNAMODB_PITR_ENABLED"
      parameters   = null
      account_wide = false
    }
    lambda-function-public-access-prohibited = {
      identifier   = "LAMBDA_FUNCTION_PUBLIC_ACCESS_PROHIBITED"
      parameters   = null
      account_wide = false
    }
    sns-encrypted-kms = {
      identifier   = "SNS_ENCRYPTED_KMS"
      parameters   = { kmsKeyIds = aws_kms_key.this.arn }
      account_wide = false
    }
    api-gw-execution-logging-enabled = {
      identifier   = "API_GW_EXECUTION_LOGGING_ENABLED"
      parameters   = { loggingLevel = "ERROR,INFO" }
      account_wide = false
    }
    # Periodic: every customer-managed key of the region must rotate.
    cmk-backing-key-rotation-enabled = {
      identifier   = "CMK_BACKING_KEY_ROTATION_ENABLED"
      parameters   = null
      account_wide = true
    }
    # Periodic: every log group of the region must be encrypted with a KMS key (any key).
    cloudwatch-log-group-encrypted = {
      identifier   = "CLOUDWATCH_LOG_GROUP_ENCRYPTED"
      parameters   = null
      account_wide = true
    }
  }
}

resource "aws_config_config_rule" "this" {
  for_each = { for name, rule in local.config_rules : name => rule if var.account_wide_config_rules || !rule.account_wide }

  name             = "${local.name}-${each.key}"
  description      = "${local.name}: ${each.value.identifier}${each.value.account_wide ? " (every resource of the region)" : " (resources tagged Stack=${local.name})"}"
  input_parameters = each.value.parameters == null ? null : jsonencode(each.value.parameters)

  source {
    owner             = "AWS"
    source_identifier = each.value.identifier
  }

  dynamic "scope" {
    for_each = each.value.account_wide ? [] : [local.name]
    content {
      tag_key   = "Stack"
      tag_value = scope.value
    }
  }

  depends_on = [aws_config_configuration_recorder.this]
}

data "aws_iam_policy_document" "config_assume" {
  statement {
    sid     = "ConfigAssumesTheRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["config.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# The optional recorder. AWS Config allows one recorder per account and region,
# so set create_config_recorder in at most one stage, and only where none exists.
# Its delivery bucket must already let Config write (a bucket policy allowing
# config.amazonaws.com s3:GetBucketAcl, s3:ListBucket and s3:PutObject under
# AWSLogs/<account>/Config/, conditioned on aws:SourceAccount). Destroying the
# stage that created the recorder deletes it and its delivery channel: every
# rule of the region, other stages' included, stops being evaluated until
# another recorder exists.

resource "aws_iam_role" "config" {
  count = var.create_config_recorder ? 1 : 0

  name               = "${local.name}-config-recorder"
  description        = "AWS Config recorder of ${local.region}"
  assume_role_policy = data.aws_iam_policy_document.config_assume.json
}

resource "aws_iam_role_policy_attachment" "config" {
  count = var.create_config_recorder ? 1 : 0

  role       = aws_iam_role.config[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWS_ConfigRole"
}

resource "aws_config_configuration_recorder" "this" {
  count = var.create_config_recorder ? 1 : 0

  name     = local.name
  role_arn = aws_iam_role.config[0].arn

  recording_group {
    all_supported                 = true
    include_global_resource_types = true
  }
}

resource "aws_config_delivery_channel" "this" {
  count = var.create_config_recorder ? 1 : 0

  name           = local.name
  s3_bucket_name = var.config_delivery_bucket_name

  depends_on = [aws_config_configuration_recorder.this]

  lifecycle {
    precondition {
      condition     = var.config_delivery_bucket_name != null
      error_message = "create_config_recorder needs config_delivery_bucket_name (an existing S3 bucket Config may write to)."
    }
  }
}

resource "aws_config_configuration_recorder_status" "this" {
  count = var.create_config_recorder ? 1 : 0

  name       = aws_config_configuration_recorder.this[0].name
  is_enabled = true

  depends_on = [aws_config_delivery_channel.this]
}
