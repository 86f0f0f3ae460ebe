# --- the Lambda function's execution role --------------------------------------
# Exactly what the code does: PutItem (idempotency claims), BatchGetItem
# (keys of events with an event_id, before writing), BatchWriteItem (events)
# and Query (reads) on the table and its indexes, the cursor and shard key parameters
# (and the stage key, through SSM, to decrypt them), its own log group. No Scan, no wildcard action or resource.
# The `chalice deploy` path's .chalice/policy-<stage>.json is rendered from
# data.aws_iam_policy_document.lambda by devtools/chalice_stage.py.

locals {
  # The table and every index of the one table definition (table_schema.json):
  # an index added there is queryable by the function without touching this file.
  log_table_arns = concat(
    [aws_dynamodb_table.logs.arn],
    [for index in local.table_schema.global_secondary_indexes : "${aws_dynamodb_table.logs.arn}/index/${index.name}"],
  )
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    sid     = "LambdaAssumesTheRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "WriteAndQueryLogTable"
    effect    = "Allow"
    actions   = ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:Query"]
    resources = local.log_table_arns
  }

  statement {
    sid       = "UseTableKeyThroughDynamoDB"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "ReadCursorAndShardKeys"
    effect    = "Allow"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.cursor_signing_key.arn, aws_ssm_parameter.shard_key.arn]
  }

  # SSM decrypts the parameters with the stage key on the function's behalf: those two only.
  statement {
    sid       = "DecryptCursorAndShardKeysThroughSSM"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = [aws_ssm_parameter.cursor_signing_key.arn, aws_ssm_parameter.shard_key.arn]
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:log-stream:*"]
  }
}

resource "aws_iam_role" "lambda" {
  name               = "${local.name}-lambda"
  description        = "Execution role of the ${local.lambda_function_name} function"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy" "lambda" {
  name   = "least-privilege"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

# --- caller roles ---------------------------------------------------------------
# infra/caller_roles.json names each role, its routes, its external-ID variable
# and the variable listing who may assume it (the local SigV4 enforcement and
# STS read the same file). Each role trusts its own list: an application that
# sends logs is trusted by log-ingest alone and can assume neither log-read nor
# log-full-access. The external ID guards only against the confused deputy (a
# service tricked into assuming a role for someone else): it is no secret (the
# trust policy shows it to anyone allowed iam:GetRole, CloudTrail records it),
# so it never decides who may assume a role.

locals {
  caller_roles = jsondecode(file("${path.module}/caller_roles.json")).roles
  external_ids = {
    ingest_external_id      = var.ingest_external_id
    read_external_id        = var.read_external_id
    full_access_external_id = var.full_access_external_id
  }
  principal_arns = {
    ingest_principal_arns      = var.ingest_principal_arns
    read_principal_arns        = var.read_principal_arns
    full_access_principal_arns = var.full_access_principal_arns
  }
}

data "aws_iam_policy_document" "caller_trust" {
  for_each = local.caller_roles

  statement {
    sid     = "AssumeWithOwnExternalId"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = local.principal_arns[each.value.principals_variable]
    }

    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [local.external_ids[each.value.external_id_variable]]
    }
  }
}

data "aws_iam_policy_document" "caller_invoke" {
  for_each = local.caller_roles

  statement {
    sid     = "InvokeOwnRoutes"
    effect  = "Allow"
    actions = ["execute-api:Invoke"]
    # The method ARN of each route, e.g. <execution_arn>/api/POST/logs
    resources = [for route in each.value.routes : "${local.api_execution_arn}/${local.api_stage_name}/${route[0]}${route[1]}"]
  }
}

resource "aws_iam_role" "caller" {
  for_each = local.caller_roles

  name                 = "${local.name}-${each.key}"
  description          = "Calls ${local.name}: ${join(", ", [for route in each.value.routes : join(" ", route)])}"
  assume_role_policy   = data.aws_iam_policy_document.caller_trust[each.key].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "caller_invoke" {
  # Only once the API exists (always, when packaged with Chalice's API).
  for_each = { for role, spec in local.caller_roles : role => spec if local.api_attached }

  name   = "invoke-own-routes"
  role   = aws_iam_role.caller[each.key].id
  policy = data.aws_iam_policy_document.caller_invoke[each.key].json
}
