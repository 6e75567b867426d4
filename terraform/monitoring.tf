# A message in a DLQ means a consumer gave up on it: alarm on the first one.

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.main.id
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  for_each = var.queues

  alarm_name          = "${local.dlq_names[each.key]}-not-empty"
  alarm_description   = "Messages in ${local.dlq_names[each.key]}: ${each.key}'s consumer dead-lettered them. Inspect, fix, then redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq[each.key].name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# The signals of the operations page (/ops) that AWS measures itself: the age and depth of each
# queue and DLQ, the load balancer's 5xx and response time, each ECS service's CPU and memory.
# One dashboard shows them; an alarm on each goes to the alarm topic.

variable "queue_age_alarm_s" {
  description = "Alarm when a queue's oldest message has waited this long (seconds): its consumer is not keeping up, or is away"
  type        = number
  default     = 300
}

variable "queue_depth_alarm" {
  description = "Alarm when more messages than this wait in a queue for most of five minutes"
  type        = number
  default     = 1000
}

variable "alb_5xx_alarm_count" {
  description = "Alarm when the load balancer or the services answer this many 5xx in five minutes"
  type        = number
  default     = 5
}

variable "response_time_alarm_s" {
  description = "Alarm when a service's 95th percentile response time stays above this (seconds)"
  type        = number
  default     = 1
}

variable "ecs_utilization_alarm_percent" {
  description = "Alarm when an ECS service's average CPU or memory use stays above this (percent)"
  type        = number
  default     = 80
}

locals {
  ecs_service_names = merge(
    { for key, service in aws_ecs_service.web : key => service.name },
    { calendar_worker = aws_ecs_service.worker.name },
  )
  # what an alarm does when it fires and when it clears
  alarm_actions = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "queue_age" {
  for_each = var.queues

  alarm_name          = "${local.queue_names[each.key]}-oldest-message"
  alarm_description   = "A message in ${local.queue_names[each.key]} has waited over ${var.queue_age_alarm_s} s: ${each.key}'s consumer is behind or away. See /ops and the service's logs."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.queue[each.key].name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.queue_age_alarm_s
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "queue_depth" {
  for_each = var.queues

  alarm_name          = "${local.queue_names[each.key]}-deep"
  alarm_description   = "Over ${var.queue_depth_alarm} messages wait in ${local.queue_names[each.key]}: ${each.key} cannot keep up (the worker scales out to worker_max_count)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.queue[each.key].name }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 4
  threshold           = var.queue_depth_alarm
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# 5xx the services answered (an outage of a dependency answers 503) and 5xx the load balancer
# answered itself (no ready target, a target that timed out)
resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  for_each = {
    services      = "HTTPCode_Target_5XX_Count"
    load-balancer = "HTTPCode_ELB_5XX_Count"
  }

  alarm_name          = "${local.name}-${each.key}-5xx"
  alarm_description   = "${var.alb_5xx_alarm_count} or more 5xx (${each.value}) in five minutes. See /ops for which service is not ready."
  namespace           = "AWS/ApplicationELB"
  metric_name         = each.value
  dimensions          = { LoadBalancer = aws_lb.main.arn_suffix }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.alb_5xx_alarm_count
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "response_time" {
  for_each = local.public

  alarm_name          = "${local.name}-${replace(each.key, "_", "-")}-slow"
  alarm_description   = "${each.key}'s 95th percentile response time has stayed over ${var.response_time_alarm_s} s."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = { LoadBalancer = aws_lb.main.arn_suffix, TargetGroup = aws_lb_target_group.service[each.key].arn_suffix }
  extended_statistic  = "p95"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.response_time_alarm_s
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "ecs_utilization" {
  for_each = {
    for pair in setproduct(keys(local.services), ["CPUUtilization", "MemoryUtilization"]) :
    "${pair[0]}-${pair[1]}" => { service = pair[0], metric = pair[1] }
  }

  alarm_name          = "${local.name}-${replace(each.value.service, "_", "-")}-${lower(trimsuffix(each.value.metric, "Utilization"))}"
  alarm_description   = "${each.value.service}'s average ${each.value.metric} has stayed over ${var.ecs_utilization_alarm_percent}% for five minutes."
  namespace           = "AWS/ECS"
  metric_name         = each.value.metric
  dimensions          = { ClusterName = aws_ecs_cluster.main.name, ServiceName = local.ecs_service_names[each.value.service] }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  threshold           = var.ecs_utilization_alarm_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

locals {
  queue_metric_rows = {
    for metric in ["ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible", "ApproximateAgeOfOldestMessage", "NumberOfMessagesDeleted"] :
    metric => [for key, queue in aws_sqs_queue.queue : ["AWS/SQS", metric, "QueueName", queue.name]]
  }
  dlq_rows     = [for key, queue in aws_sqs_queue.dlq : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue.name]]
  alb_rows     = [for metric in ["RequestCount", "HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count"] : ["AWS/ApplicationELB", metric, "LoadBalancer", aws_lb.main.arn_suffix]]
  latency_rows = [for key, group in aws_lb_target_group.service : ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", aws_lb.main.arn_suffix, "TargetGroup", group.arn_suffix, { stat = "p95", label = "${key} p95" }]]
  ecs_rows = {
    for metric in ["CPUUtilization", "MemoryUtilization"] :
    metric => [for key, name in local.ecs_service_names : ["AWS/ECS", metric, "ClusterName", aws_ecs_cluster.main.name, "ServiceName", name, { label = key }]]
  }
  alarm_arns = concat(
    [for alarm in aws_cloudwatch_metric_alarm.dlq_depth : alarm.arn],
    [for alarm in aws_cloudwatch_metric_alarm.queue_age : alarm.arn],
    [for alarm in aws_cloudwatch_metric_alarm.queue_depth : alarm.arn],
    [for alarm in aws_cloudwatch_metric_alarm.alb_5xx : alarm.arn],
    [for alarm in aws_cloudwatch_metric_alarm.response_time : alarm.arn],
    [for alarm in aws_cloudwatch_metric_alarm.ecs_utilization : alarm.arn],
  )
  # one row of widgets: [title, metrics, statistic, horizontal annotation or null]
  dashboard_graphs = [
    ["Messages waiting", local.queue_metric_rows.ApproximateNumberOfMessagesVisible, "Average", var.queue_depth_alarm],
    ["Age of the oldest message (s)", local.queue_metric_rows.ApproximateAgeOfOldestMessage, "Maximum", var.queue_age_alarm_s],
    ["Dead letters", local.dlq_rows, "Maximum", null],
    ["Messages in flight", local.queue_metric_rows.ApproximateNumberOfMessagesNotVisible, "Average", null],
    ["Messages handled (deleted) per minute", local.queue_metric_rows.NumberOfMessagesDeleted, "Sum", null],
    ["Requests and 5xx per minute", local.alb_rows, "Sum", null],
    ["Response time, 95th percentile (s)", local.latency_rows, "p95", var.response_time_alarm_s],
    ["ECS CPU (%)", local.ecs_rows.CPUUtilization, "Average", var.ecs_utilization_alarm_percent],
    ["ECS memory (%)", local.ecs_rows.MemoryUtilization, "Average", var.ecs_utilization_alarm_percent],
  ]
}

resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = local.name
  dashboard_body = jsonencode({
    widgets = concat(
      [{
        type       = "alarm"
        x          = 0
        y          = 0
        width      = 24
        height     = 4
        properties = { title = "Alarms", alarms = local.alarm_arns }
      }],
      [for index, graph in local.dashboard_graphs : {
        type   = "metric"
        x      = (index % 3) * 8
        y      = 4 + floor(index / 3) * 6
        width  = 8
        height = 6
        properties = merge(
          {
            title   = graph[0]
            region  = var.region
            view    = "timeSeries"
            stacked = false
            period  = 60
            stat    = graph[2]
            metrics = graph[1]
          },
          # the alarm's threshold as a line, where the graph has one
          [for threshold in [graph[3]] : { annotations = { horizontal = [{ label = "alarm", value = threshold }] } } if threshold != null]...
        )
      }],
    )
  })
}

# the operations page (todo_api's GET /api/v1/ops) reads the depth of every queue and DLQ
data "aws_iam_policy_document" "queue_depths" {
  statement {
    sid       = "queuedepths"
    actions   = ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = concat([for queue in aws_sqs_queue.queue : queue.arn], [for queue in aws_sqs_queue.dlq : queue.arn])
  }
}

resource "aws_iam_role_policy" "queue_depths" {
  name   = "queue-depths"
  role   = aws_iam_role.task["todo_api"].id
  policy = data.aws_iam_policy_document.queue_depths.json
}

# its dead letters panel (services/todo_api/dead_letter_views.py) looks at the DLQs, moves a
# group's messages back to their queue in batches and deletes what it moved or discarded
data "aws_iam_policy_document" "dead_letters" {
  statement {
    sid       = "deadletters"
    actions   = ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"]
    resources = [for queue in aws_sqs_queue.dlq : queue.arn]
  }

  statement {
    sid       = "redrive"
    actions   = ["sqs:SendMessage"]
    resources = [for queue in aws_sqs_queue.queue : queue.arn]
  }
}

resource "aws_iam_role_policy" "dead_letters" {
  name   = "dead-letters"
  role   = aws_iam_role.task["todo_api"].id
  policy = data.aws_iam_policy_document.dead_letters.json
}
