# Least privilege, one pair of roles per service: the execution role lets ECS pull the image,
# write the logs and read the two secrets; the task role is what the code may do in AWS.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  for_each = local.services

  name_prefix        = "${local.name}-${replace(each.key, "_", "-")}-exec-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  for_each = local.services

  # GetAuthorizationToken has no resource-level permissions
  statement {
    sid       = "ecrlogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "pull"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [aws_ecr_repository.service[each.key].arn]
  }

  statement {
    sid       = "logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.service[each.key].arn}:*"]
  }

  statement {
    sid       = "secrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.database_url.arn, aws_secretsmanager_secret.task_secret.arn]
  }

  statement {
    sid       = "decryptsecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.services

  name   = "execution"
  role   = aws_iam_role.execution[each.key].id
  policy = data.aws_iam_policy_document.execution[each.key].json
}

resource "aws_iam_role" "task" {
  for_each = local.services

  name_prefix        = "${local.name}-${replace(each.key, "_", "-")}-task-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "task" {
  for_each = local.services

  # the relay finds the topic ARN by name (shared/messaging/publisher.py::resolve_topic_arn); ListTopics has no
  # resource-level permissions
  dynamic "statement" {
    for_each = each.value.publishes ? [1] : []
    content {
      sid       = "findtopic"
      actions   = ["sns:ListTopics"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = each.value.publishes ? [1] : []
    content {
      sid = "publish"
      # readiness asks for the topic by its ARN (shared/app/readiness.py::topic_found)
      actions   = ["sns:Publish", "sns:GetTopicAttributes"]
      resources = [aws_sns_topic.events.arn]
    }
  }

  dynamic "statement" {
    for_each = each.value.queue == null ? [] : [each.value.queue]
    content {
      sid = "consume"
      actions = [
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
      ]
      resources = [aws_sqs_queue.queue[statement.value].arn]
    }
  }

  # a consumer that gives up on a message moves it to its DLQ itself, with why it failed
  # (shared/messaging/consumer.py::_dead_letter); without this the redrive policy moves it, saying
  # nothing of why
  dynamic "statement" {
    for_each = each.value.queue == null ? [] : [each.value.queue]
    content {
      sid       = "deadletter"
      actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
      resources = [aws_sqs_queue.dlq[statement.value].arn]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.s3_read) > 0 ? [1] : []
    content {
      sid       = "read"
      actions   = ["s3:GetObject"]
      resources = [for prefix in each.value.s3_read : "${aws_s3_bucket.results.arn}/${prefix}"]
    }
  }

  # without s3:ListBucket S3 answers a read of a missing key 403 AccessDenied, to hide which keys
  # exist; with it, 404 NoSuchKey, which the code reads as a missing file (a 410, a job failed at
  # once). It names the bucket alone: the 404 is documented for ListBucket on the bucket, and a
  # read carries no s3:prefix that a narrower condition could match
  dynamic "statement" {
    for_each = length(each.value.s3_read) > 0 ? [1] : []
    content {
      sid       = "missingis404"
      actions   = ["s3:ListBucket"]
      resources = [aws_s3_bucket.results.arn]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.s3_write) > 0 ? [1] : []
    content {
      sid       = "write"
      actions   = ["s3:PutObject"]
      resources = [for prefix in each.value.s3_write : "${aws_s3_bucket.results.arn}/${prefix}"]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  for_each = local.services

  name   = "task"
  role   = aws_iam_role.task[each.key].id
  policy = data.aws_iam_policy_document.task[each.key].json
}
