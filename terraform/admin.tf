# The first operator key. The services require credentials (AUTH_MODE=required), so somebody
# must hold a key before anybody can: a one-off ECS task runs `python -m scripts.admin keys
# ensure` in todo_api's image against its database and leaves the key in a secret of its own,
# never in a log or in the state. Running it again keeps the key while it works and replaces it
# after a revocation (the commands are in the outputs; terraform/README.md says when to run it).

resource "aws_secretsmanager_secret" "operator_api_key" {
  #checkov:skip=CKV2_AWS_57:a key is replaced by revoking it and running the admin task again, which puts the new one here
  name_prefix             = "${local.name}-operator-api-key-"
  description             = "The first operator API key of tenant ${var.operator_tenant}, put by the admin task"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_iam_role" "admin_task" {
  name_prefix        = "${local.name}-admin-task-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# what the admin code may do in AWS: read and replace the key it holds, nothing else
data "aws_iam_policy_document" "admin_task" {
  statement {
    sid       = "holdthekey"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
    resources = [aws_secretsmanager_secret.operator_api_key.arn]
  }

  statement {
    sid       = "encryptthekey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "admin_task" {
  name   = "task"
  role   = aws_iam_role.admin_task.id
  policy = data.aws_iam_policy_document.admin_task.json
}

resource "aws_ecs_task_definition" "admin" {
  family                   = "${local.name}-admin"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  # todo_api's execution role: the same image, log group and DATABASE_URL secret
  execution_role_arn = aws_iam_role.execution["todo_api"].arn
  task_role_arn      = aws_iam_role.admin_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "admin"
    image                  = "${aws_ecr_repository.service["todo_api"].repository_url}:${var.image_tag}"
    essential              = true
    readonlyRootFilesystem = true
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    command = [
      "python", "-m", "scripts.admin", "keys", "ensure",
      "--tenant", var.operator_tenant, "--role", "member", "--role", "operator",
      "--label", "first operator", "--by", "operator:admin-task",
      "--secret-id", aws_secretsmanager_secret.operator_api_key.arn,
    ]
    environment = [
      { name = "AWS_REGION", value = var.region },
      { name = "DATABASE_SCHEMA", value = "todo_api" },
    ]
    secrets = [
      { name = "DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service["todo_api"].name
        awslogs-region        = var.region
        awslogs-stream-prefix = "admin"
      }
    }
  }])

  depends_on = [aws_secretsmanager_secret_version.database_url]
}
