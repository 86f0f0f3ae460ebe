# Log groups (encrypted, with the stage's retention), the alarm topic
# (encrypted; only this stage's alarms and budget publish to it), alarms on the
# function, the API and the table, and a dashboard.

resource "aws_cloudwatch_log_group" "lambda" {
  name              = local.lambda_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

resource "aws_sns_topic" "alarms" {
  name              = local.alarm_topic_name
  display_name      = "${local.name} alarms"
  kms_master_key_id = aws_kms_key.this.arn
}

# Who may publish: this stage's CloudWatch alarms and its budget, nobody else
# (IAM principals of the account included, whatever their own policies say),
# and only over TLS.
data "aws_iam_policy_document" "alarm_topic" {
  statement {
    sid       = "ThisStagesAlarmsPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.name}-*"]
    }
  }

  statement {
    sid       = "ThisStagesBudgetPublishes"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:budgets::${local.account_id}:budget/${local.name}-*"]
    }
  }

  statement {
    sid       = "NoPublishingByPeopleOrApplications"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:PrincipalIsAWSService"
      values   = ["false"]
    }
  }

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sns:*"]
    resources = [aws_sns_topic.alarms.arn]

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

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarm_topic.json
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]
  lambda_dimensions = {
    FunctionName = local.lambda_function_name
  }
  api_dimensions = {
    ApiName = local.api_name
    Stage   = local.api_stage_name
  }
}

# The function's own failures: any error or throttled invocation in 5 minutes.
locals {
  lambda_alarms = {
    errors = {
      metric_name = "Errors"
      description = "The function raised errors (unhandled exceptions or timeouts)."
    }
    throttles = {
      metric_name = "Throttles"
      description = "Invocations of the function were throttled (concurrency limit reached)."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "lambda" {
  for_each = local.lambda_alarms

  alarm_name          = "${local.name}-lambda-${each.key}"
  alarm_description   = each.value.description
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric_name
  dimensions          = local.lambda_dimensions
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Server errors as a share of requests, and only once there are enough requests
# to judge: a single 5XX (one caller's request hitting a throttled table, say)
# pages nobody; a stage failing a real share of its traffic does.
resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${local.name}-api-5xx"
  alarm_description   = "Over ${var.api_5xx_rate_threshold_percent} % of the API's requests were server errors (5XX) in 2 of 3 periods of 5 minutes with at least ${var.api_5xx_min_requests} requests each."
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.api_5xx_rate_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "IF(requests >= ${var.api_5xx_min_requests}, 100 * errors / requests, 0)"
    label       = "5XX share of requests (%)"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5XXError"
      period      = 300
      stat        = "Sum"
      dimensions  = local.api_dimensions
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      period      = 300
      stat        = "Sum"
      dimensions  = local.api_dimensions
    }
  }
}

# Throttling per route (api_gateway.tf): API Gateway answers a throttled request
# 429 and counts it in the route's 4XXError, a metric each route has because its
# method settings enable detailed metrics. 4XXError counts the callers' own
# mistakes too (no metric counts 429s alone): a route over the threshold is
# throttled or is being called wrongly, and either needs a look. The function's
# own throttling (its reserved concurrency reached) is the lambda throttles alarm.
resource "aws_cloudwatch_metric_alarm" "route_4xx" {
  for_each = local.routes

  alarm_name          = "${local.name}-api-4xx-${each.key}"
  alarm_description   = "${each.value.method} ${each.value.resource} answered over ${var.route_4xx_alarm_threshold} 4XX in 5 minutes: throttled (429, over ${each.value.rate} requests/s) or called wrongly (400, 403, 413)."
  namespace           = "AWS/ApiGateway"
  metric_name         = "4XXError"
  dimensions          = merge(local.api_dimensions, { Method = each.value.method, Resource = each.value.resource })
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.route_4xx_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "api_latency_p99" {
  alarm_name          = "${local.name}-api-latency-p99"
  alarm_description   = "The API's p99 latency is above ${var.latency_p99_threshold_ms} ms."
  namespace           = "AWS/ApiGateway"
  metric_name         = "Latency"
  dimensions          = local.api_dimensions
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.latency_p99_threshold_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# DynamoDB reports throttled requests per operation: the three the function
# calls (its role allows no other), summed.
resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  alarm_name          = "${local.name}-dynamodb-throttled-requests"
  alarm_description   = "DynamoDB throttled requests (BatchWriteItem, PutItem, Query) on the log table."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "throttled"
    expression  = "FILL(batchwriteitem, 0) + FILL(putitem, 0) + FILL(query, 0)"
    label       = "ThrottledRequests"
    return_data = true
  }

  metric_query {
    id = "batchwriteitem"
    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ThrottledRequests"
      period      = 300
      stat        = "Sum"
      dimensions = {
        TableName = aws_dynamodb_table.logs.name
        Operation = "BatchWriteItem"
      }
    }
  }

  metric_query {
    id = "putitem"
    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ThrottledRequests"
      period      = 300
      stat        = "Sum"
      dimensions = {
        TableName = aws_dynamodb_table.logs.name
        Operation = "PutItem"
      }
    }
  }

  metric_query {
    id = "query"
    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ThrottledRequests"
      period      = 300
      stat        = "Sum"
      dimensions = {
        TableName = aws_dynamodb_table.logs.name
        Operation = "Query"
      }
    }
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "API requests and errors"
          region  = local.region
          stat    = "Sum"
          period  = 300
          metrics = [for name in ["Count", "4XXError", "5XXError"] : ["AWS/ApiGateway", name, "ApiName", local.api_name, "Stage", local.api_stage_name]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "API latency (ms)"
          region = local.region
          period = 300
          metrics = [
            ["AWS/ApiGateway", "Latency", "ApiName", local.api_name, "Stage", local.api_stage_name, { stat = "p50" }],
            ["AWS/ApiGateway", "Latency", "ApiName", local.api_name, "Stage", local.api_stage_name, { stat = "p99" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Function invocations, errors, throttles"
          region  = local.region
          stat    = "Sum"
          period  = 300
          metrics = [for name in ["Invocations", "Errors", "Throttles"] : ["AWS/Lambda", name, "FunctionName", local.lambda_function_name]]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 24, height = 6
        properties = {
          title   = "4XX per route (429 throttles among them)"
          region  = local.region
          stat    = "Sum"
          period  = 300
          metrics = [for route in values(local.routes) : ["AWS/ApiGateway", "4XXError", "ApiName", local.api_name, "Stage", local.api_stage_name, "Method", route.method, "Resource", route.resource]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "DynamoDB capacity and throttling"
          region  = local.region
          stat    = "Sum"
          period  = 300
          metrics = [for name in ["ConsumedWriteCapacityUnits", "ConsumedReadCapacityUnits", "WriteThrottleEvents", "ReadThrottleEvents"] : ["AWS/DynamoDB", name, "TableName", aws_dynamodb_table.logs.name]]
        }
      },
    ]
  })
}
