output "api_url" {
  description = "The public base URL (todo_api, with the job routes going to job_tracker): public_base_url, or the ALB's address."
  value       = local.public_base_url
}

output "topic_arn" {
  description = "The events topic."
  value       = aws_sns_topic.events.arn
}

output "queue_urls" {
  description = "Working queues by topology name."
  value       = { for key, queue in aws_sqs_queue.queue : key => queue.url }
}

output "dlq_urls" {
  description = "Dead-letter queues by topology name."
  value       = { for key, queue in aws_sqs_queue.dlq : key => queue.url }
}

output "demo_queue_urls" {
  description = "The practical's demo queues, when create_demo_queues is set."
  value       = { for name, queue in aws_sqs_queue.demo : name => queue.url }
}

output "bucket" {
  description = "Calendar files and large event payloads."
  value       = aws_s3_bucket.results.bucket
}

output "ecr_repository_urls" {
  description = "Where to push the image, one repository per service."
  value       = { for key, repository in aws_ecr_repository.service : key => repository.repository_url }
}

output "ecs_cluster" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.main.name
}

output "database_url_secret_arn" {
  description = "Secrets Manager secret holding DATABASE_URL (the value itself is never in state)."
  value       = aws_secretsmanager_secret.database_url.arn
}

output "metrics_scrapers_security_group_id" {
  description = "Put a metrics scraper in this security group to reach GET /metrics of the tasks on their metrics port (output metrics_port)."
  value       = aws_security_group.metrics_scrapers.id
}

output "metrics_port" {
  description = "The tasks' metrics port (METRICS_PORT): GET /metrics there, from the metrics_scrapers group."
  value       = local.metrics_port
}

output "cognito_user_pool_id" {
  description = "The user pool people sign in with (null without an https public URL): create each account there with its custom:tenant and add it to the group member or operator."
  value       = local.sign_in ? aws_cognito_user_pool.people[0].id : null
}

output "cognito_client_id" {
  description = "The web page's app client (OIDC_CLIENT_ID and OIDC_AUDIENCE of the services)."
  value       = local.sign_in ? aws_cognito_user_pool_client.web_page[0].id : null
}

output "cognito_hosted_ui_url" {
  description = "The hosted sign-in page's base URL."
  value       = local.sign_in ? "https://${aws_cognito_user_pool_domain.sign_in[0].domain}.auth.${var.region}.amazoncognito.com" : null
}

output "operator_api_key_secret_arn" {
  description = "Secrets Manager secret the admin task puts the first operator API key in (the key itself is never in state)."
  value       = aws_secretsmanager_secret.operator_api_key.arn
}

output "issue_operator_key_command" {
  description = "Runs the one-off admin task: keeps the operator key in operator_api_key_secret_arn while it works, else issues one there."
  value       = "aws ecs run-task --region ${var.region} --cluster ${aws_ecs_cluster.main.name} --launch-type FARGATE --task-definition ${aws_ecs_task_definition.admin.family} --network-configuration 'awsvpcConfiguration={subnets=[${join(",", aws_subnet.private[*].id)}],securityGroups=[${aws_security_group.tasks.id}],assignPublicIp=DISABLED}'"
}

output "read_operator_key_command" {
  description = "Prints the operator API key the admin task put in its secret."
  value       = "aws secretsmanager get-secret-value --region ${var.region} --secret-id ${aws_secretsmanager_secret.operator_api_key.arn} --query SecretString --output text"
}
