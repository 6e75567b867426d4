# Names inside the VPC for the services todo_api asks: the job tracker (a cancel asks it whether
# the job finished, the job history and the operations page's figures are forwarded to it) and
# the calendar worker (the operations page asks its readiness and backlog). ECS registers each
# task's private address; the tasks' security group lets them reach one another on the service
# port and the metrics port and nothing else.
resource "aws_service_discovery_private_dns_namespace" "services" {
  name        = "${local.name}.internal"
  description = "TaskOverflow services, by name inside the VPC"
  vpc         = aws_vpc.main.id
}

resource "aws_service_discovery_service" "service" {
  for_each = local.discovered

  name = replace(each.key, "_", "-")

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.services.id
    routing_policy = "MULTIVALUE"

    dns_records {
      ttl  = 10
      type = "A"
    }
  }
}

locals {
  discovered = toset(["job_tracker", "calendar_worker"])
  # the settings that point todo_api at them (shared/settings.py)
  service_urls = {
    for name in local.discovered :
    name => "http://${replace(name, "_", "-")}.${aws_service_discovery_private_dns_namespace.services.name}:${local.container_port}"
  }
  # their metrics listeners, where the operations page reads their outbox backlog
  service_metrics_urls = {
    for name in local.discovered :
    name => "http://${replace(name, "_", "-")}.${aws_service_discovery_private_dns_namespace.services.name}:${local.metrics_port}"
  }
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_tasks" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "todo_api asking the job tracker and the worker"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_tasks" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "todo_api to the job tracker and the worker"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
}

resource "aws_vpc_security_group_ingress_rule" "tasks_metrics_from_tasks" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "todo_api's operations page reading the others' metrics"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = local.metrics_port
  to_port                      = local.metrics_port
}

resource "aws_vpc_security_group_egress_rule" "tasks_metrics_to_tasks" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "todo_api's operations page to the others' metrics"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = local.metrics_port
  to_port                      = local.metrics_port
}
