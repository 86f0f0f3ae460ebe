# AWS Config rules that watch this stack's resource types. A rule needs a
# recorder in the account and region; most accounts have one already, so this
# module creates one only when create_config_recorder is true.

locals {
  config_rules = {
    dynamodb-table-encrypted-kms = {
      identifier     = "DYNAMODB_TABLE_ENCRYPTED_KMS"
      resource_types = ["AWS::DynamoDB::Table"]
      parameters     = { kmsKeyArns = aws_kms_key.this.arn }
    }
    dynamodb-pitr-enabled = {
      identifier     = "DYNAMODB_PITR_ENABLED"
      resource_types = ["AWS::DynamoDB::Table"]
      parameters     = null
    }
    cmk-backing-key-rotation-enabled = {
      identifier     = "CMK_BACKING_KEY_ROTATION_ENABLED"
      resource_types = null # periodic rule: no change scope
      parameters     = null
    }
    lambda-function-public-access-prohibited = {
      identifier     = "LAMBDA_FUNCTION_PUBLIC_ACCESS_PROHIBITED"
      resource_types = ["AWS::Lambda::Function"]
      parameters     = null
    }
    cloudwatch-log-group-encrypted = {
      identifier     = "CLOUDWATCH_LOG_GROUP_ENCRYPTED"
      resource_types = null # periodic rule: no change scope
      parameters     = { KmsKeyId = aws_kms_key.this.arn }
    }
    sns-encrypted-kms = {
      identifier     = "SNS_ENCRYPTED_KMS"
      resource_types = ["AWS::SNS::Topic"]
      parameters     = { kmsKeyIds = aws_kms_key.this.arn }
    }
    api-gw-execution-logging-enabled = {
      identifier     = "API_GW_EXECUTION_LOGGING_ENABLED"
      resource_types = ["AWS::ApiGateway::Stage"]
      parameters     = { loggingLevel = "ERROR,INFO" }
    }
  }
}

resource "aws_config_config_rule" "this" {
  for_each = local.config_rules

  name             = "${local.name}-${each.key}"
  description      = "${local.name}: ${each.value.identifier}"
  input_parameters = each.value.parameters == null ? null : jsonencode(each.value.parameters)

  source {
    owner             = "AWS"
    source_identifier = each.value.identifier
  }

  dynamic "scope" {
    for_each = each.value.resource_types == null ? [] : [each.value.resource_types]
    content {
      compliance_resource_types = scope.value
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
