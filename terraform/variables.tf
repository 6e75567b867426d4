variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "availability_zone_suffixes" {
  description = "The two availability zones used, as suffixes of the region (\"a\" for us-east-1a)."
  type        = list(string)
  default     = ["a", "b"]

  validation {
    condition     = length(var.availability_zone_suffixes) == 2
    error_message = "availability_zone_suffixes: exactly two zones."
  }
}

variable "resource_prefix" {
  description = "Prepended to every name (RESOURCE_PREFIX in the services). S3 bucket names are global, so pick something unique, e.g. \"jdoe-\"."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[a-z0-9-]{0,10}$", var.resource_prefix))
    error_message = "resource_prefix: at most 10 of a-z, 0-9 and '-' (the settings model's pattern; ALB names are short)."
  }
}

# --- the topology: values come from topology.auto.tfvars.json, generated from shared/contracts/topology.py ---

variable "topic_name" {
  description = "SNS topic name (shared/contracts/topology.py TOPIC)."
  type        = string
}

variable "bucket_name" {
  description = "S3 bucket for calendar files and large event payloads (shared/contracts/topology.py BUCKET)."
  type        = string
}

variable "queues" {
  description = "Queue name => its DLQ name and the event types its subscription lets through (shared/contracts/topology.py QUEUES)."
  type = map(object({
    dlq_name    = string
    event_types = list(string)
  }))
}

variable "queue_retention_s" {
  description = "Message retention of the working queues, seconds."
  type        = number
}

variable "dlq_retention_s" {
  description = "Message retention of the dead-letter queues, seconds (longer, for inspection and redrive)."
  type        = number
}

variable "redrive_window_s" {
  description = "Slack for redriving a dead letter after its last moment in the DLQ, seconds (shared/contracts/topology.py REDRIVE_WINDOW_S)."
  type        = number
}

variable "demo_queue_names" {
  description = "The practical's demo queues (shared/aws/demo_queues.py DEMO_QUEUE_NAMES; demo_queues.auto.tfvars.json)."
  type        = list(string)
}

variable "create_demo_queues" {
  description = "Create the practical's demo queues csse6400_prac (standard) and csse6400_prac.fifo."
  type        = bool
  default     = false
}

# --- consumers: the queues and the services must agree on these ---

variable "sqs_visibility_timeout_s" {
  description = "Visibility timeout of the working queues (SQS_VISIBILITY_TIMEOUT_S)."
  type        = number
  default     = 30
}

variable "sqs_max_receive_count" {
  description = "Receives before a message is dead-lettered (redrive policy and SQS_MAX_RECEIVE_COUNT)."
  type        = number
  default     = 5
}

# --- services ---

variable "image_tag" {
  description = "Tag of the image pushed to each service's ECR repository (tags are immutable)."
  type        = string
}

variable "api_count" {
  description = "Number of todo_api tasks."
  type        = number
  default     = 1
}

variable "tracker_count" {
  description = "Number of job_tracker tasks."
  type        = number
  default     = 1
}

variable "worker_count" {
  description = "Minimum (and initial) number of calendar_worker tasks."
  type        = number
  default     = 1
}

variable "worker_max_count" {
  description = "Most calendar_worker tasks autoscaling may run."
  type        = number
  default     = 4
}

variable "worker_target_backlog" {
  description = "Visible messages on the calendar-worker queue that autoscaling aims for."
  type        = number
  default     = 50
}

variable "task_cpu" {
  description = "Fargate CPU units per task."
  type        = number
  default     = 256
}

variable "task_memory_mib" {
  description = "Fargate memory per task, MiB."
  type        = number
  default     = 512
}

variable "log_retention_days" {
  description = "CloudWatch log retention."
  type        = number
  default     = 365
}

variable "result_expiry_days" {
  description = "Calendar files are deleted from S3 after this many days."
  type        = number
  default     = 7
}

variable "job_retention_days" {
  description = "A calendar job's history (its events in every service's log, the tracker's row) is deleted this many days after its last change."
  type        = number
  default     = 30

  validation {
    # the services refuse to start otherwise (shared/settings.py): no late delivery may find its
    # job forgotten, and a job is kept while its calendar can be downloaded
    condition     = var.job_retention_days * 86400 > var.queue_retention_s + var.dlq_retention_s + var.redrive_window_s && var.job_retention_days >= var.result_expiry_days
    error_message = "job_retention_days must outlast queue_retention_s + dlq_retention_s + redrive_window_s, and result_expiry_days."
  }
}

variable "snapshot_expiry_days" {
  description = "Claim-checked CalendarRequested snapshots are deleted from S3 after this many days: as long as a copy of their request can still arrive, waiting in its queue, then in a DLQ, then redriven (topology.py DUPLICATE_WINDOW_S)."
  type        = number
  # 4 days in the queue + 14 in a DLQ + a day to redrive; S3 rounds an expiry up to the next
  # midnight UTC, so a snapshot lasts that long at least
  default = 19

  validation {
    condition     = var.snapshot_expiry_days * 86400 >= var.queue_retention_s + var.dlq_retention_s + var.redrive_window_s
    error_message = "snapshot_expiry_days must last queue_retention_s + dlq_retention_s + redrive_window_s, or a redriven request finds its snapshot gone."
  }
}

# --- network and load balancer ---

variable "vpc_cidr" {
  description = "CIDR of the VPC the stack creates."
  type        = string
  default     = "10.40.0.0/16"
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS on the ALB; empty: HTTP only (see README)."
  type        = string
  default     = ""
}

variable "allowed_cidrs" {
  description = "Who may reach the ALB."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

# --- database ---

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_max_connections" {
  description = "PostgreSQL's max_connections, set in the parameter group: the figure the services' pools are sized against. The default is RDS's own for db.t4g.micro (LEAST(DBInstanceClassMemory/9531392, 5000) with 1 GiB); give the figure of another db_instance_class with it."
  type        = number
  default     = 112
}

variable "db_reserved_connections" {
  description = "Connections of db_max_connections kept from the services' pools: PostgreSQL's superuser_reserved_connections (3) and room for operators (make replay, psql)."
  type        = number
  default     = 10
}

variable "db_task_connections_max" {
  description = "The most connections one task's pool may hold (DB_POOL_SIZE + DB_POOL_OVERFLOW), when the database allows more."
  type        = number
  default     = 20
}

variable "deployment_maximum_percent" {
  description = "ECS deploymentMaximumPercent of every service: a deployment may run this percentage of the desired tasks at once (new ones start before old ones stop), so the pools are sized for it."
  type        = number
  default     = 200

  validation {
    condition     = var.deployment_maximum_percent >= 100 && var.deployment_maximum_percent <= 200
    error_message = "deployment_maximum_percent: between 100 and 200."
  }
}

variable "db_allocated_storage_gb" {
  description = "RDS storage, GB."
  type        = number
  default     = 20
}

variable "db_multi_az" {
  description = "Run RDS in two availability zones."
  type        = bool
  default     = false
}

variable "db_password_version" {
  description = "Bump to generate a new database password (it is written to Secrets Manager and RDS, never to state)."
  type        = number
  default     = 1
}

variable "deletion_protection" {
  description = "Protect the database and the load balancer from deletion; set false before `terraform destroy`."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "Where DLQ alarms are e-mailed; empty: the alarm topic has no subscriber."
  type        = string
  default     = ""
}

# --- sign-in for people (cognito.tf) ---

variable "public_base_url" {
  description = "The URL people open the web page at, e.g. https://todo.example.com (the certificate's name); empty: the ALB's own address. Cognito accepts only https callback URLs, so sign-in (the user pool and the services' OIDC settings) is created only when this URL, or the ALB with certificate_arn, is https."
  type        = string
  default     = ""

  validation {
    condition     = var.public_base_url == "" || can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]+)?$", var.public_base_url))
    error_message = "public_base_url: scheme and host only, e.g. https://todo.example.com (no path, no trailing slash)."
  }
}

variable "cognito_domain_prefix" {
  description = "The hosted sign-in page's domain, <prefix>.auth.<region>.amazoncognito.com, unique in the region; empty: <resource_prefix>taskoverflow-<account id>."
  type        = string
  default     = ""

  validation {
    condition     = var.cognito_domain_prefix == "" || can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.cognito_domain_prefix))
    error_message = "cognito_domain_prefix: a-z, 0-9 and '-', at most 63, not starting or ending with '-'."
  }
}

variable "operator_tenant" {
  description = "The tenant of the first operator API key, which the admin task issues (admin.tf)."
  type        = string
  default     = "operations"

  validation {
    condition     = length(trimspace(var.operator_tenant)) > 0 && var.operator_tenant != "anonymous"
    error_message = "The operator tenant must be a name other than anonymous, the tenant of AUTH_MODE=none."
  }
}
