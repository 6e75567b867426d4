# TaskOverflow Events on AWS: SNS/SQS/S3 from the shared topology, RDS PostgreSQL, ECS Fargate
# behind an ALB. Names of the topic, queues and bucket come from topology.auto.tfvars.json,
# generated from shared/contracts/topology.py (python -m scripts.create_topology --write-tfvars).

terraform {
  # write-only attributes (password_wo, secret_string_wo) keep the database password out of state
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.94, < 7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.7"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project    = "taskoverflow"
      stack      = local.name
      managed-by = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_availability_zones" "available" {
  state = "available"

  # a closed set of zones, so a zone AWS adds later never moves a subnet
  filter {
    name   = "zone-name"
    values = [for suffix in var.availability_zone_suffixes : "${var.region}${suffix}"]
  }
}

locals {
  # the same prefixing as shared/contracts/topology.py::Names, so the code finds what Terraform made
  name        = "${var.resource_prefix}taskoverflow"
  topic_name  = "${var.resource_prefix}${var.topic_name}"
  bucket_name = "${var.resource_prefix}${var.bucket_name}"
  queue_names = { for key, queue in var.queues : key => "${var.resource_prefix}${key}" }
  dlq_names   = { for key, queue in var.queues : key => "${var.resource_prefix}${queue.dlq_name}" }

  azs = slice(data.aws_availability_zones.available.names, 0, 2)

  # one task definition and ECS service each; `queue` is the topology queue it consumes,
  # `publishes` whether its outbox relay sends to the topic, `s3` what it may do in the bucket
  services = {
    todo_api = {
      command       = ["python", "-m", "services.todo_api"]
      desired_count = var.api_count
      queue         = null
      publishes     = true
      s3_read       = []
      s3_write      = ["snapshots/*"]
    }
    job_tracker = {
      command       = ["python", "-m", "services.job_tracker"]
      desired_count = var.tracker_count
      queue         = "job-tracker"
      publishes     = false
      s3_read       = ["calendars/*"]
      s3_write      = []
    }
    calendar_worker = {
      command       = ["python", "-m", "services.calendar_worker"]
      desired_count = var.worker_count
      queue         = "calendar-worker"
      publishes     = true
      s3_read       = ["snapshots/*"]
      s3_write      = ["calendars/*"]
    }
  }
  # the ALB sends these to job_tracker and everything else to todo_api (the one public base URL)
  tracker_paths  = ["/api/v1/todos/ical/*/status", "/api/v1/todos/ical/*/result", "/api/v1/todos/ical/*/events", "/api/v1/todos/ical/in-flight"]
  public         = toset(["todo_api", "job_tracker"])
  container_port = 6400
  # GET /metrics, on a listener of its own: no target group or ALB rule leads there (network.tf)
  metrics_port = 9400
}
