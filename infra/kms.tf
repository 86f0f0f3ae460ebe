# One customer-managed key for the stage's data at rest: the log table, its
# CloudWatch log groups, the alarm topic, the cursor and shard key parameters, the
# archive bucket and its dead-letter queue. The key policy lets exactly those
# services use it; principals of the account reach its data only through DynamoDB
# (reading and writing the table), SNS (publishing to the topic), SSM (those two
# parameters), S3 (the archive bucket) or SQS (the archive's dead-letter queue),
# and administer it (with IAM policies that allow it) without being able to
# use it or to grant themselves its use.

locals {
  # Built from its name: the topic's own ARN would make the key depend on the topic it encrypts.
  alarm_topic_arn = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.alarm_topic_name}"
  # The stage's log groups, by name for the same reason; API Gateway names the
  # execution log group after the API's id (api_gateway.tf), so it joins once the API exists.
  log_group_names = concat(
    [local.lambda_log_group, local.archive_log_group, local.api_access_log_group],
    [for id in(local.api_attached ? [local.rest_api_id] : []) : "API-Gateway-Execution-Logs_${id}/${local.api_stage_name}"],
  )
}

data "aws_iam_policy_document" "kms" {
  statement {
    sid    = "KeyAdministrationByTheAccount"
    effect = "Allow"
    # What Terraform and a key administrator do: describe, tag, rotate, enable or
    # disable, alias, edit the policy, schedule or cancel deletion, revoke grants.
    # No Encrypt/Decrypt and no CreateGrant: using the key, or granting its use,
    # goes through the statements below only.
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListKeyRotations",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:RetireGrant",
      "kms:RevokeGrant",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid    = "UseThroughDynamoDB"
    effect = "Allow"
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey*",
      "kms:ReEncrypt*",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "GrantsOnlyForDynamoDB"
    effect    = "Allow"
    actions   = ["kms:CreateGrant"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }

    # The grants DynamoDB makes for the table it encrypts, never one a principal asks for itself.
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "DynamoDBDescribesTheKey"
    effect    = "Allow"
    actions   = ["kms:Describe*", "kms:Get*", "kms:List*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["dynamodb.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid    = "CloudWatchLogsEncryptsOurLogGroups"
    effect = "Allow"
    actions = [
      "kms:Decrypt*",
      "kms:Describe*",
      "kms:Encrypt*",
      "kms:GenerateDataKey*",
      "kms:ReEncrypt*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    # This stage's log groups by name, in this account (the ARN carries it): no other group of the account.
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [for group in local.log_group_names : "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${group}"]
    }
  }

  # Terraform writes the cursor and shard key parameters (Encrypt), and reads them back (Decrypt), and
  # the function reads them (Decrypt, with its IAM grant): through SSM, for those two parameters only.
  statement {
    sid       = "CursorAndShardKeyParametersThroughSSM"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = [local.cursor_key_parameter_arn, local.shard_key_parameter_arn]
    }
  }

  # The archive function writes objects, Athena writes query results and the read
  # roles read both: through S3, in the archive bucket only (with a bucket key, the
  # encryption context is the bucket's ARN).
  statement {
    sid       = "ArchiveBucketThroughS3"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [local.archive_bucket_arn]
    }
  }

  # The archive's event source mapping reports failed batches (as the function's role); an operator reads them.
  statement {
    sid       = "ArchiveDeadLetterQueueThroughSQS"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:sqs:arn"
      values   = [local.archive_dlq_arn]
    }
  }

  statement {
    sid       = "PublishToTheEncryptedTopicThroughSNS"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:sns:topicArn"
      values   = [local.alarm_topic_arn]
    }
  }

  statement {
    sid       = "AlarmsAndBudgetPublishToTheEncryptedTopic"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]
    }

    # This account's alarms and budget only: the services act for every account.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:sns:topicArn"
      values   = [local.alarm_topic_arn]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${local.name}: log table, log groups, alarm topic, cursor and shard key parameters, archive"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this.key_id
}
