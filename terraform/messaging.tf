# SNS topic -> one SQS queue per consumer (raw delivery, filtered on the `type` attribute),
# each with a DLQ. Mirrors shared/messaging/provisioning.py, which does the same against emulators.

resource "aws_sns_topic" "events" {
  name              = local.topic_name
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sqs_queue" "dlq" {
  for_each = var.queues

  name                      = local.dlq_names[each.key]
  message_retention_seconds = var.dlq_retention_s
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "queue" {
  for_each = var.queues

  name                       = local.queue_names[each.key]
  message_retention_seconds  = var.queue_retention_s
  visibility_timeout_seconds = var.sqs_visibility_timeout_s
  # consumers long-poll anyway; this makes a bare ReceiveMessage wait too
  receive_wait_time_seconds = 10
  sqs_managed_sse_enabled   = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = var.sqs_max_receive_count
  })
}

# only its own queue may dead-letter into a DLQ
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = var.queues

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.queue[each.key].arn]
  })
}

# the topic, and nothing else, may send to the working queues
data "aws_iam_policy_document" "topic_sends" {
  for_each = var.queues

  statement {
    sid       = "topic-sends"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.queue[each.key].arn]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.events.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "queue" {
  for_each = var.queues

  queue_url = aws_sqs_queue.queue[each.key].id
  policy    = data.aws_iam_policy_document.topic_sends[each.key].json
}

resource "aws_sns_topic_subscription" "queue" {
  for_each = var.queues

  topic_arn            = aws_sns_topic.events.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.queue[each.key].arn
  raw_message_delivery = true
  filter_policy_scope  = "MessageAttributes"
  filter_policy        = jsonencode({ type = each.value.event_types })

  depends_on = [aws_sqs_queue_policy.queue]
}

# the practical's demo queues: one standard, one FIFO that deduplicates by content
resource "aws_sqs_queue" "demo" {
  for_each = var.create_demo_queues ? toset(var.demo_queue_names) : toset([])

  name                        = each.value
  fifo_queue                  = endswith(each.value, ".fifo") ? true : null
  content_based_deduplication = endswith(each.value, ".fifo") ? true : null
  sqs_managed_sse_enabled     = true
}
