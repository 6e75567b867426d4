# ECR, the ECS cluster, one task definition and service per microservice, worker autoscaling.

resource "aws_ecr_repository" "service" {
  for_each = local.services

  name                 = "${local.name}/${replace(each.key, "_", "-")}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }
}

resource "aws_ecr_lifecycle_policy" "service" {
  for_each = aws_ecr_repository.service

  repository = each.value.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the last 20 images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 20 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_cloudwatch_log_group" "service" {
  for_each = local.services

  name              = "/ecs/${local.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_ecs_cluster" "main" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

# task ids are signed with it by todo_api and checked by job_tracker; write-only, never in state
ephemeral "random_password" "task_secret" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "task_secret" {
  #checkov:skip=CKV2_AWS_57:a rotated secret invalidates every task id issued before; rotate deliberately (terraform/README.md)
  name_prefix             = "${local.name}-task-secret-"
  description             = "TASK_SECRET of todo_api and job_tracker"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "task_secret" {
  secret_id                = aws_secretsmanager_secret.task_secret.id
  secret_string_wo         = ephemeral.random_password.task_secret.result
  secret_string_wo_version = 1
}

resource "aws_ecs_task_definition" "service" {
  for_each = local.services

  family                   = "${local.name}-${replace(each.key, "_", "-")}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory_mib
  execution_role_arn       = aws_iam_role.execution[each.key].arn
  task_role_arn            = aws_iam_role.task[each.key].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # the root filesystem is read-only; /tmp is the one writable place
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = each.key
    image                  = "${aws_ecr_repository.service[each.key].repository_url}:${var.image_tag}"
    command                = each.value.command
    essential              = true
    readonlyRootFilesystem = true
    portMappings = [
      { containerPort = local.container_port, protocol = "tcp" },
      # inside the VPC only: no target group uses it (alb.tf), scrapers reach it (network.tf)
      { containerPort = local.metrics_port, protocol = "tcp" },
    ]
    mountPoints = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    # the names are shared/settings.py's fields, upper-cased; no AWS_ENDPOINT_URL: real AWS,
    # credentials from the task role
    environment = concat([
      { name = "AWS_REGION", value = var.region },
      { name = "RESOURCE_PREFIX", value = var.resource_prefix },
      { name = "DATABASE_SCHEMA", value = each.key },
      { name = "HTTP_HOST", value = "0.0.0.0" },
      # every request needs an API key or a user pool token; the first key comes from the
      # admin task (admin.tf)
      { name = "AUTH_MODE", value = "required" },
      { name = "HTTP_PORT", value = tostring(local.container_port) },
      { name = "METRICS_PORT", value = tostring(local.metrics_port) },
      { name = "SQS_VISIBILITY_TIMEOUT_S", value = tostring(var.sqs_visibility_timeout_s) },
      { name = "SQS_MAX_RECEIVE_COUNT", value = tostring(var.sqs_max_receive_count) },
      { name = "LOG_LEVEL", value = "INFO" },
      # one JSON object per line: CloudWatch Logs Insights selects a job's lines by task_id
      { name = "LOG_FORMAT", value = "json" },
      # results answer 410 when the bucket's lifecycle rule has deleted them
      { name = "RESULT_TTL_DAYS", value = tostring(var.result_expiry_days) },
      # a job's history is deleted from every service's database after this
      { name = "JOB_RETENTION_DAYS", value = tostring(var.job_retention_days) },
      # every task's share of the database's connections (database.tf)
      { name = "DB_POOL_SIZE", value = tostring(local.db_pool_size) },
      { name = "DB_POOL_OVERFLOW", value = tostring(local.db_pool_overflow) },
      ], each.key != "todo_api" ? [] : [
      # found by name inside the VPC (discovery.tf)
      { name = "JOB_TRACKER_URL", value = local.service_urls["job_tracker"] },
      { name = "CALENDAR_WORKER_URL", value = local.service_urls["calendar_worker"] },
      { name = "JOB_TRACKER_METRICS_URL", value = local.service_metrics_urls["job_tracker"] },
      { name = "CALENDAR_WORKER_METRICS_URL", value = local.service_metrics_urls["calendar_worker"] },
      ],
      # the services people's browsers call accept the user pool's tokens (cognito.tf)
      contains(local.public, each.key) ? local.oidc_environment : [],
    )
    secrets = [
      { name = "DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn },
      { name = "TASK_SECRET", valueFrom = aws_secretsmanager_secret.task_secret.arn },
    ]
    # liveness: ECS replaces a task whose process stops answering (readiness is the ALB's, alb.tf)
    healthCheck = {
      command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${local.container_port}/api/v1/health', timeout=2)"]
      interval    = 10
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = var.region
        awslogs-stream-prefix = each.key
      }
    }
  }])

  depends_on = [aws_secretsmanager_secret_version.database_url, aws_secretsmanager_secret_version.task_secret]

  lifecycle {
    precondition {
      condition     = local.db_task_connections >= 2
      error_message = "The database's connections (db_max_connections - db_reserved_connections) leave fewer than 2 per task at the most tasks that can run (counts, worker_max_count, deployment_maximum_percent): a bigger db_instance_class and db_max_connections, or fewer tasks."
    }
  }
}

# todo_api and job_tracker: behind the load balancer
resource "aws_ecs_service" "web" {
  for_each = local.public

  name                              = replace(each.key, "_", "-")
  cluster                           = aws_ecs_cluster.main.id
  task_definition                   = aws_ecs_task_definition.service[each.key].arn
  desired_count                     = local.services[each.key].desired_count
  launch_type                       = "FARGATE"
  health_check_grace_period_seconds = 60
  # the database's connections are shared out for this many tasks at once (database.tf)
  deployment_maximum_percent         = var.deployment_maximum_percent
  deployment_minimum_healthy_percent = 100

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.service[each.key].arn
    container_name   = each.key
    container_port   = local.container_port
  }

  dynamic "service_registries" {
    for_each = contains(local.discovered, each.key) ? [aws_service_discovery_service.service[each.key].arn] : []
    content {
      registry_arn = service_registries.value
    }
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  depends_on = [aws_lb_listener.http, aws_lb_listener_rule.job_routes]
}

# calendar_worker: no traffic in; its count follows the queue (autoscaling owns desired_count)
resource "aws_ecs_service" "worker" {
  name            = "calendar-worker"
  cluster         = aws_ecs_cluster.main.id
  task_definition = aws_ecs_task_definition.service["calendar_worker"].arn
  desired_count   = var.worker_count
  launch_type     = "FARGATE"
  # the database's connections are shared out for this many tasks at once (database.tf)
  deployment_maximum_percent         = var.deployment_maximum_percent
  deployment_minimum_healthy_percent = 100

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  service_registries {
    registry_arn = aws_service_discovery_service.service["calendar_worker"].arn
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count]
  }
}

resource "aws_appautoscaling_target" "worker" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.worker.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.worker_count
  max_capacity       = var.worker_max_count
}

# scale on the depth of the worker's queue: more visible messages than the target, more tasks
resource "aws_appautoscaling_policy" "worker_queue_depth" {
  name               = "${local.name}-worker-queue-depth"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  resource_id        = aws_appautoscaling_target.worker.resource_id
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.worker_target_backlog
    scale_out_cooldown = 30
    scale_in_cooldown  = 120

    customized_metric_specification {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      statistic   = "Average"

      dimensions {
        name  = "QueueName"
        value = aws_sqs_queue.queue[local.services.calendar_worker.queue].name
      }
    }
  }
}
