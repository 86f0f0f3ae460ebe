# Monthly cost budget of the stage: the costs tagged Stack=<app_name>-<stage>
# (activate the "Stack" cost allocation tag once in the billing console).

resource "aws_budgets_budget" "monthly" {
  name         = "${local.name}-monthly"
  budget_type  = "COST"
  limit_amount = format("%.2f", var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  cost_filter {
    name   = "TagKeyValue"
    values = [join("$", ["user:Stack", local.name])]
  }

  dynamic "notification" {
    # Alert at 80 % of the actual and 100 % of the forecast spend, through the alarm topic
    # (to alarm_email and whoever else subscribes).
    for_each = { ACTUAL = 80, FORECASTED = 100 }
    content {
      notification_type         = notification.key
      comparison_operator       = "GREATER_THAN"
      threshold                 = notification.value
      threshold_type            = "PERCENTAGE"
      subscriber_sns_topic_arns = [aws_sns_topic.alarms.arn]
    }
  }

  depends_on = [aws_sns_topic_policy.alarms]
}
