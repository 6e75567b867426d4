# RDS PostgreSQL. The password is generated ephemerally, written to Secrets Manager and to RDS
# through write-only attributes, so it is never stored in the Terraform state. The services get
# DATABASE_URL from a second secret that ECS injects at start.

locals {
  db_name     = "taskoverflow"
  db_username = "taskoverflow"

  # the most tasks of each service that can hold connections at once: the worker at its
  # autoscaling ceiling, each service doubled (deployment_maximum_percent) while a deployment
  # starts new tasks before it stops the old ones
  db_peak_tasks = {
    todo_api        = ceil(var.api_count * var.deployment_maximum_percent / 100)
    job_tracker     = ceil(var.tracker_count * var.deployment_maximum_percent / 100)
    calendar_worker = ceil(var.worker_max_count * var.deployment_maximum_percent / 100)
  }
  # every task an equal share of what the database allows the services, at most what one needs
  db_task_connections = min(
    var.db_task_connections_max,
    floor((var.db_max_connections - var.db_reserved_connections) / sum(values(local.db_peak_tasks))),
  )
  # DB_POOL_SIZE kept open and DB_POOL_OVERFLOW opened under load, a fifth of the share
  db_pool_overflow = floor(local.db_task_connections / 5)
  db_pool_size     = local.db_task_connections - local.db_pool_overflow
}

ephemeral "random_password" "db" {
  length = 40
  # letters and digits only: the password goes into a URL unescaped
  special = false
}

resource "aws_secretsmanager_secret" "db_password" {
  #checkov:skip=CKV2_AWS_57:rotating behind Terraform's back would desynchronise RDS and DATABASE_URL; rotate with db_password_version (terraform/README.md)
  name_prefix             = "${local.name}-db-password-"
  description             = "TaskOverflow RDS master password"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "db_password" {
  secret_id                = aws_secretsmanager_secret.db_password.id
  secret_string_wo         = ephemeral.random_password.db.result
  secret_string_wo_version = var.db_password_version
}

# read back what was stored, so RDS and DATABASE_URL get the same password on every apply
ephemeral "aws_secretsmanager_secret_version" "db_password" {
  secret_id  = aws_secretsmanager_secret.db_password.id
  version_id = aws_secretsmanager_secret_version.db_password.version_id
}

resource "aws_db_subnet_group" "main" {
  name       = local.name
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_db_parameter_group" "main" {
  name_prefix = "${local.name}-"
  family      = "postgres16"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  # the limit the services' pools are sized against (locals above), not one inferred from memory
  parameter {
    name         = "max_connections"
    value        = tostring(var.db_max_connections)
    apply_method = "pending-reboot"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "main" {
  #checkov:skip=CKV_AWS_157:Multi-AZ doubles the cost; it is the variable db_multi_az (terraform/README.md)
  identifier     = local.name
  engine         = "postgres"
  engine_version = "16"
  instance_class = var.db_instance_class
  db_name        = local.db_name
  username       = local.db_username

  password_wo         = ephemeral.aws_secretsmanager_secret_version.db_password.secret_string
  password_wo_version = var.db_password_version

  allocated_storage      = var.db_allocated_storage_gb
  storage_type           = "gp3"
  storage_encrypted      = true
  db_subnet_group_name   = aws_db_subnet_group.main.name
  parameter_group_name   = aws_db_parameter_group.main.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  multi_az               = var.db_multi_az

  backup_retention_period             = 7
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = !var.deletion_protection
  final_snapshot_identifier           = "${local.name}-final"
  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.main.arn
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
}

resource "aws_secretsmanager_secret" "database_url" {
  #checkov:skip=CKV2_AWS_57:rotating behind Terraform's back would desynchronise RDS and DATABASE_URL; rotate with db_password_version (terraform/README.md)
  name_prefix             = "${local.name}-database-url-"
  description             = "DATABASE_URL of the TaskOverflow services"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id                = aws_secretsmanager_secret.database_url.id
  secret_string_wo         = "postgresql+asyncpg://${local.db_username}:${ephemeral.aws_secretsmanager_secret_version.db_password.secret_string}@${aws_db_instance.main.address}:${aws_db_instance.main.port}/${local.db_name}"
  secret_string_wo_version = var.db_password_version
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name_prefix        = "${local.name}-rds-mon-"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}
