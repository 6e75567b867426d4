# The one public base URL: the job status and result paths go to job_tracker, the rest to todo_api.
# The services' metrics are on another port (local.metrics_port) that no target group forwards to
# and the ALB's security group cannot reach (scrapers reach it inside the VPC, network.tf).

resource "aws_lb" "main" {
  #checkov:skip=CKV_AWS_91:access logs need a log bucket with the ELB account's policy; flow logs and service logs cover a practical's stack (terraform/README.md)
  #checkov:skip=CKV2_AWS_28:WAF costs more than this stack; the API validates every body and never answers 5xx to bad input (terraform/README.md)
  name                       = local.name
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = aws_subnet.public[*].id
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  # a job's event stream is quiet between changes but for a comment every
  # JOB_EVENTS_KEEPALIVE_MS (15 s): the ALB cuts a connection idle for longer than this
  idle_timeout = 60
}

resource "aws_lb_target_group" "service" {
  for_each = local.public

  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; ALB to task traffic stays in the private subnets, task port open to the ALB's security group only
  name                 = "${var.resource_prefix}tof-${replace(each.key, "_", "-")}"
  port                 = local.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = 30

  # liveness: ECS replaces a task that fails this check, and a database or SNS outage is one the
  # service rides out and recovers from by itself (replacing every task would not end it);
  # readiness, /api/v1/ready, is for operators, compose and the operations page
  health_check {
    path                = "/api/v1/health"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

locals {
  https = var.certificate_arn != ""
}

# with a certificate HTTP only redirects; without one (a practical's throwaway stack) it serves
resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:with certificate_arn set this listener only redirects to HTTPS; without one HTTP is the only option (terraform/README.md)
  load_balancer_arn = aws_lb.main.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = local.https ? "redirect" : "forward"
    target_group_arn = local.https ? null : aws_lb_target_group.service["todo_api"].arn

    dynamic "redirect" {
      for_each = local.https ? [1] : []
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }
}

resource "aws_lb_listener" "https" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.main.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service["todo_api"].arn
  }
}

resource "aws_lb_listener_rule" "job_routes" {
  listener_arn = local.https ? aws_lb_listener.https[0].arn : aws_lb_listener.http.arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service["job_tracker"].arn
  }

  condition {
    path_pattern {
      values = local.tracker_paths
    }
  }
}
