"""terraform/ without a cloud account: its HCL agrees with the topology and the code."""

from __future__ import annotations

import fnmatch
import importlib
import itertools
import json
import math
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from scripts.admin.cli import parse as parse_admin
from scripts.create_topology import TOPOLOGY_TFVARS, render, tfvars_files, write_tfvars
from services.calendar_worker.rendering import calendar_blob_key
from services.calendar_worker.result_expiry import expiring_results
from services.job_tracker.app import create_app as create_tracker
from shared.auth.principal import ROLES
from shared.auth.token_claims import TENANT_PATTERN
from shared.aws.demo_queues import DEMO_QUEUE_NAMES, is_fifo
from shared.contracts.events import CalendarRequested
from shared.contracts.topology import (
    BUCKET,
    DLQ_RETENTION_S,
    DUPLICATE_WINDOW_S,
    QUEUE_RETENTION_S,
    QUEUES,
    REDRIVE_WINDOW_S,
    TOPIC,
    as_terraform_vars,
)
from shared.messaging.claim_check import expiring_snapshots, snapshot_blob_key
from shared.settings import Settings
from tests.support.terraform import TERRAFORM, Terraform, only

ROOT = Path(__file__).resolve().parents[3]
SETTINGS_ENV = {name.upper() for name in Settings.model_fields}
HEALTH_PATH, READY_PATH, METRICS_PATH = "/api/v1/health", "/api/v1/ready", "/metrics"


@pytest.fixture(scope="module")
def tf() -> Terraform:
    return Terraform(TERRAFORM)


class TestGeneratedVariables:
    def test_the_tfvars_files_are_what_the_shared_definitions_generate(self) -> None:
        for name, variables in tfvars_files().items():
            assert (TERRAFORM / name).read_text() == render(variables), (
                f"{name} is stale: python -m scripts.create_topology --write-tfvars"
            )

    def test_the_topology_file_is_exactly_as_terraform_vars(self) -> None:
        assert json.loads((TERRAFORM / TOPOLOGY_TFVARS).read_text()) == as_terraform_vars()

    def test_writing_them_again_gives_the_committed_files(self, tmp_path: Path) -> None:
        for path in write_tfvars(tmp_path):
            assert path.read_text() == (TERRAFORM / path.name).read_text()

    def test_every_generated_value_is_a_declared_variable(self, tf: Terraform) -> None:
        for variables in tfvars_files().values():
            assert set(variables) <= set(tf.variables)

    def test_only_the_image_tag_has_to_be_given_by_hand(self, tf: Terraform) -> None:
        generated = {name for variables in tfvars_files().values() for name in variables}
        required = {name for name, body in tf.variables.items() if "default" not in body}
        assert required - generated == {"image_tag"}

    def test_no_topology_name_is_written_into_the_hcl(self) -> None:
        names = [TOPIC, BUCKET, *(spec.dlq_name for spec in QUEUES), *DEMO_QUEUE_NAMES]
        for path in TERRAFORM.glob("*.tf"):
            text = path.read_text()
            assert [name for name in names if f'"{name}"' in text] == [], path.name


class TestMessaging:
    def test_working_queues_and_dlqs_are_one_per_topology_queue(self, tf: Terraform) -> None:
        for name in ("queue", "dlq"):
            assert tf.resources["aws_sqs_queue", name]["for_each"] == "${var.queues}"
        assert tf.locals["queue_names"] == (
            '${{for key, queue in var.queues : key => "${var.resource_prefix}${key}"}}'
        )
        assert tf.locals["dlq_names"] == (
            '${{for key, queue in var.queues : key => "${var.resource_prefix}${queue.dlq_name}"}}'
        )

    def test_dlqs_keep_messages_longer_than_the_queues(self, tf: Terraform) -> None:
        queue, dlq = tf.resources["aws_sqs_queue", "queue"], tf.resources["aws_sqs_queue", "dlq"]
        assert queue["message_retention_seconds"] == "${var.queue_retention_s}"
        assert dlq["message_retention_seconds"] == "${var.dlq_retention_s}"
        variables = as_terraform_vars()
        assert int(str(variables["dlq_retention_s"])) > int(str(variables["queue_retention_s"]))

    def test_the_redrive_policy_uses_the_receive_count_the_consumers_use(
        self, tf: Terraform
    ) -> None:
        queue = tf.resources["aws_sqs_queue", "queue"]
        assert "deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn" in queue["redrive_policy"]
        assert "maxReceiveCount = var.sqs_max_receive_count" in queue["redrive_policy"]
        assert queue["visibility_timeout_seconds"] == "${var.sqs_visibility_timeout_s}"
        defaults = Settings.model_fields
        assert tf.variables["sqs_max_receive_count"]["default"] == (
            defaults["sqs_max_receive_count"].default
        )
        assert tf.variables["sqs_visibility_timeout_s"]["default"] == (
            defaults["sqs_visibility_timeout_s"].default
        )

    def test_subscriptions_deliver_raw_with_the_shared_filter_policies(self, tf: Terraform) -> None:
        subscription = tf.resources["aws_sns_topic_subscription", "queue"]
        assert subscription["for_each"] == "${var.queues}"
        assert subscription["protocol"] == "sqs"
        assert subscription["raw_message_delivery"] is True
        assert subscription["filter_policy_scope"] == "MessageAttributes"
        assert subscription["filter_policy"] == "${jsonencode({type = each.value.event_types})}"
        # what that expression gives for each queue is what bootstrap sets on moto and LocalStack
        queues: Any = as_terraform_vars()["queues"]
        for spec in QUEUES:
            rendered = {"type": queues[spec.name]["event_types"]}
            assert rendered == json.loads(spec.filter_policy())

    def test_only_the_topic_may_send_to_the_queues(self, tf: Terraform) -> None:
        policy = tf.resources["aws_sqs_queue_policy", "queue"]
        assert policy["for_each"] == "${var.queues}"
        statement = only(tf.data["aws_iam_policy_document", "topic_sends"]["statement"])
        assert statement["actions"] == ["sqs:SendMessage"]
        assert only(statement["principals"])["identifiers"] == ["sns.amazonaws.com"]
        condition = only(statement["condition"])
        assert (condition["test"], condition["variable"]) == ("ArnEquals", "aws:SourceArn")
        assert condition["values"] == ["${aws_sns_topic.events.arn}"]

    def test_each_dlq_has_an_alarm(self, tf: Terraform) -> None:
        alarm = tf.resources["aws_cloudwatch_metric_alarm", "dlq_depth"]
        assert alarm["for_each"] == "${var.queues}"
        assert alarm["dimensions"] == {"QueueName": "${aws_sqs_queue.dlq[each.key].name}"}
        assert (alarm["threshold"], alarm["comparison_operator"]) == (0, "GreaterThanThreshold")


class TestDemoQueues:
    def test_the_demo_queues_are_behind_a_variable_that_defaults_to_off(
        self, tf: Terraform
    ) -> None:
        demo = tf.resources["aws_sqs_queue", "demo"]
        assert demo["for_each"] == (
            "${var.create_demo_queues ? toset(var.demo_queue_names) : toset([])}"
        )
        assert tf.variables["create_demo_queues"]["default"] is False

    def test_the_fifo_one_deduplicates_by_content(self, tf: Terraform) -> None:
        demo = tf.resources["aws_sqs_queue", "demo"]
        fifo_only = '${endswith(each.value, ".fifo") ? true : null}'
        assert demo["fifo_queue"] == demo["content_based_deduplication"] == fifo_only
        assert [is_fifo(name) for name in DEMO_QUEUE_NAMES] == [False, True]


class TestServices:
    def test_each_topology_queue_is_consumed_by_exactly_one_service(self, tf: Terraform) -> None:
        services = tf.locals["services"].values()
        consumed = [service["queue"] for service in services if service["queue"]]
        assert sorted(consumed) == sorted(spec.name for spec in QUEUES)

    def test_every_service_runs_an_existing_module(self, tf: Terraform) -> None:
        for name, service in tf.locals["services"].items():
            assert service["command"] == ["python", "-m", f"services.{name}"]
            assert (ROOT / "services" / name / "__main__.py").is_file()

    def test_the_task_environment_names_only_settings(self, tf: Terraform) -> None:
        definitions = tf.resources["aws_ecs_task_definition", "service"]["container_definitions"]
        names = set(re.findall(r'name = "([A-Z][A-Z0-9_]*)"', definitions))
        assert {"DATABASE_URL", "TASK_SECRET", "RESOURCE_PREFIX", "AWS_REGION"} <= names
        assert names <= SETTINGS_ENV

    def test_the_load_balancer_sends_exactly_the_job_routes_to_job_tracker(
        self, tf: Terraform
    ) -> None:
        app = create_tracker(Settings())
        paths = {resource.canonical for resource in app.router.resources()}
        job_routes = {re.sub(r"\{[^}]+\}", "*", path) for path in paths if "/ical/" in path}
        assert set(tf.locals["tracker_paths"]) == job_routes
        rule = tf.resources["aws_lb_listener_rule", "job_routes"]
        assert "job_tracker" in only(rule["action"])["target_group_arn"]

    def test_the_load_balancer_keeps_a_job_event_stream_open_between_keep_alives(
        self, tf: Terraform
    ) -> None:
        # a stream is idle between changes but for a comment each JOB_EVENTS_KEEPALIVE_MS
        idle_timeout_s = int(tf.resources["aws_lb", "main"]["idle_timeout"])
        keepalive_s = Settings.model_fields["job_events_keepalive_ms"].default / 1000
        assert idle_timeout_s >= 2 * keepalive_s

    def test_the_load_balancer_checks_liveness_so_an_outage_cycles_no_task(
        self, tf: Terraform
    ) -> None:
        # ECS replaces a task that fails its target group's check: a database or SNS outage the
        # service rides out must not fail it (readiness would)
        target_group = tf.resources["aws_lb_target_group", "service"]
        assert only(target_group["health_check"])["path"] == HEALTH_PATH
        for name in ("todo_api", "job_tracker"):
            assert HEALTH_PATH in served_paths(name)

    def test_a_publisher_may_ask_for_its_topic_by_arn_as_its_readiness_does(
        self, tf: Terraform
    ) -> None:
        statements = [
            entry["statement"] for entry in tf.data["aws_iam_policy_document", "task"]["dynamic"]
        ]
        on_the_topic = [
            only(statement["content"])
            for statement in statements
            if "publishes" in statement["for_each"]
            and only(statement["content"])["resources"] == ["${aws_sns_topic.events.arn}"]
        ]
        actions = {action for content in on_the_topic for action in content["actions"]}
        assert {"sns:Publish", "sns:GetTopicAttributes"} <= actions
        # the services whose readiness asks for the topic (services/*/app.py, routes.py)
        for name in ("todo_api", "calendar_worker"):
            assert tf.locals["services"][name]["publishes"] is True

    def test_a_consumer_may_move_what_it_gives_up_on_to_its_own_dlq(self, tf: Terraform) -> None:
        statements = [
            only(entry["statement"]["content"])
            for entry in tf.data["aws_iam_policy_document", "task"]["dynamic"]
        ]
        on_its_dlq = [
            content
            for content in statements
            if content["resources"] == ["${aws_sqs_queue.dlq[statement.value].arn}"]
        ]
        assert {action for content in on_its_dlq for action in content["actions"]} == {
            "sqs:GetQueueUrl",
            "sqs:SendMessage",
        }

    def test_the_operations_page_may_move_and_discard_dead_letters(self, tf: Terraform) -> None:
        grant = tf.resources["aws_iam_role_policy", "dead_letters"]
        assert grant["role"] == '${aws_iam_role.task["todo_api"].id}'
        statements = tf.data["aws_iam_policy_document", "dead_letters"]["statement"]
        # each statement's resources is one expression: every DLQ, or every working queue
        allowed = {s["resources"]: set(s["actions"]) for s in statements}
        assert allowed == {
            "${[for queue in aws_sqs_queue.dlq : queue.arn]}": {
                "sqs:ReceiveMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
            },
            "${[for queue in aws_sqs_queue.queue : queue.arn]}": {"sqs:SendMessage"},
        }

    def test_ecs_replaces_a_task_only_when_its_process_stops_answering(self, tf: Terraform) -> None:
        definitions = tf.resources["aws_ecs_task_definition", "service"]["container_definitions"]
        [command] = re.findall(r"healthCheck = \{\s*command\s*= \[([^\]]*)\]", definitions)
        assert f"{HEALTH_PATH}'" in command
        assert READY_PATH not in command

    def test_the_metrics_are_on_a_port_the_load_balancer_cannot_reach(self, tf: Terraform) -> None:
        assert tf.locals["metrics_port"] != tf.locals["container_port"]
        # the public listener has no /metrics to route to, however the path is spelled
        for name in ("todo_api", "job_tracker", "calendar_worker"):
            assert METRICS_PATH not in served_paths(name)
        definitions = tf.resources["aws_ecs_task_definition", "service"]["container_definitions"]
        assert 'name = "METRICS_PORT", value = tostring(local.metrics_port)' in definitions
        # every target group and every ALB egress goes to the service port, never the metrics one
        assert tf.resources["aws_lb_target_group", "service"]["port"] == "${local.container_port}"
        web = tf.resources["aws_ecs_service", "web"]
        assert only(web["load_balancer"])["container_port"] == "${local.container_port}"
        alb_rules = [
            body
            for (kind, _), body in tf.resources.items()
            if kind.startswith("aws_vpc_security_group_")
            and body["security_group_id"] == "${aws_security_group.alb.id}"
        ]
        assert alb_rules
        assert all("metrics_port" not in str(rule) for rule in alb_rules)
        assert not [kind for kind, name in tf.resources if name == "metrics_not_public"]

    def test_only_the_load_balancer_the_scrapers_and_the_tasks_themselves_reach_the_tasks(
        self, tf: Terraform
    ) -> None:
        ingress = [
            body
            for (kind, _), body in tf.resources.items()
            if kind == "aws_vpc_security_group_ingress_rule"
            and body["security_group_id"] == "${aws_security_group.tasks.id}"
        ]
        reached = sorted(
            (rule["referenced_security_group_id"], rule["from_port"]) for rule in ingress
        )
        assert reached == [
            ("${aws_security_group.alb.id}", "${local.container_port}"),
            ("${aws_security_group.metrics_scrapers.id}", "${local.metrics_port}"),
            ("${aws_security_group.tasks.id}", "${local.container_port}"),
            ("${aws_security_group.tasks.id}", "${local.metrics_port}"),
        ]
        assert all("cidr_ipv4" not in rule for rule in ingress)
        assert all(rule["from_port"] == rule["to_port"] for rule in ingress)

    def test_todo_api_finds_the_tracker_and_the_worker_by_name_inside_the_vpc(
        self, tf: Terraform
    ) -> None:
        definitions = tf.resources["aws_ecs_task_definition", "service"]["container_definitions"]
        for setting, service in (
            ("JOB_TRACKER_URL", "job_tracker"),
            ("CALENDAR_WORKER_URL", "calendar_worker"),
        ):
            assert f'name = "{setting}", value = local.service_urls["{service}"]' in definitions
            metrics = f'name = "{setting[:-4]}_METRICS_URL", value = local.service_metrics_urls'
            assert f'{metrics}["{service}"]' in definitions
            assert service in tf.locals["discovered"]
        assert ":${local.metrics_port}" in tf.locals["service_metrics_urls"]
        web = tf.resources["aws_ecs_service", "web"]["dynamic"]
        assert "service_registries" in str(web)
        worker = tf.resources["aws_ecs_service", "worker"]
        assert "calendar_worker" in only(worker["service_registries"])["registry_arn"]

    def test_the_worker_scales_on_its_queue_depth(self, tf: Terraform) -> None:
        policy = tf.resources["aws_appautoscaling_policy", "worker_queue_depth"]
        metric = only(
            only(policy["target_tracking_scaling_policy_configuration"])[
                "customized_metric_specification"
            ]
        )
        assert metric["metric_name"] == "ApproximateNumberOfMessagesVisible"
        assert only(metric["dimensions"])["value"] == (
            "${aws_sqs_queue.queue[local.services.calendar_worker.queue].name}"
        )

    def test_the_database_password_never_reaches_the_state(self, tf: Terraform) -> None:
        database = tf.resources["aws_db_instance", "main"]
        assert "password" not in database
        assert "password_wo" in database
        for name in ("db_password", "database_url", "task_secret"):
            version = tf.resources["aws_secretsmanager_secret_version", name]
            assert "secret_string" not in version
            assert "secret_string_wo" in version


class TestBucket:
    def test_results_are_private_encrypted_and_expire(self, tf: Terraform) -> None:
        block = tf.resources["aws_s3_bucket_public_access_block", "results"]
        flags = ("block_public_acls", "block_public_policy", "ignore_public_acls")
        assert all(block[flag] is True for flag in (*flags, "restrict_public_buckets"))
        encryption = tf.resources["aws_s3_bucket_server_side_encryption_configuration", "results"]
        assert "apply_server_side_encryption_by_default" in only(encryption["rule"])
        assert expiry_of(tf, calendar_blob_key("acme", uuid4())) == "${var.result_expiry_days}"

    def test_snapshots_outlive_a_dead_letter_redriven_through_its_queue(
        self, tf: Terraform
    ) -> None:
        request = CalendarRequested(task_id=uuid4(), requested_at=datetime.now(), todo_count=0)
        assert expiry_of(tf, snapshot_blob_key(request)) == "${var.snapshot_expiry_days}"
        # a copy of the request can arrive until the duplicate window ends: its queue's
        # retention, a DLQ's, then a redrive (the embedded folder keeps snapshots as long)
        snapshot_days = tf.variables["snapshot_expiry_days"]["default"]
        assert snapshot_days * 24 * 3600 >= DUPLICATE_WINDOW_S
        assert DUPLICATE_WINDOW_S == DLQ_RETENTION_S + QUEUE_RETENTION_S + REDRIVE_WINDOW_S
        assert expiring_snapshots(Settings()).window == timedelta(seconds=DUPLICATE_WINDOW_S)
        condition = only(tf.variables["snapshot_expiry_days"]["validation"])["condition"]
        assert condition == (
            "${var.snapshot_expiry_days * 86400 >= "
            "var.queue_retention_s + var.dlq_retention_s + var.redrive_window_s}"
        )
        assert as_terraform_vars()["redrive_window_s"] == REDRIVE_WINDOW_S

    def test_calendars_expire_when_the_tracker_stops_serving_them(self, tf: Terraform) -> None:
        # the service's RESULT_TTL_DAYS is the lifecycle rule's days, and the embedded folder's
        # expiry keeps them as long (and a minute)
        definitions = tf.resources["aws_ecs_task_definition", "service"]["container_definitions"]
        assert '{name = "RESULT_TTL_DAYS", value = tostring(var.result_expiry_days)}' in definitions
        assert tf.variables["result_expiry_days"]["default"] == Settings().result_ttl_days
        assert expiring_results(Settings()).window >= Settings().result_ttl

    def test_a_job_s_history_outlasts_its_late_deliveries_and_its_calendar(
        self, tf: Terraform
    ) -> None:
        definitions = tf.resources["aws_ecs_task_definition", "service"]["container_definitions"]
        assert '{name = "JOB_RETENTION_DAYS", value = tostring(var.job_retention_days)}' in (
            definitions
        )
        assert tf.variables["job_retention_days"]["default"] == Settings().job_retention_days
        # the least the services accept still outlasts every late delivery
        shortest = Settings.model_fields["job_retention_days"].metadata[0].ge
        assert shortest * 86400 > DUPLICATE_WINDOW_S
        condition = only(tf.variables["job_retention_days"]["validation"])["condition"]
        assert "var.queue_retention_s + var.dlq_retention_s + var.redrive_window_s" in condition
        assert "var.job_retention_days >= var.result_expiry_days" in condition


class TestTaskRoles:
    def test_the_roles_that_read_objects_may_list_the_bucket_itself_and_nothing_more(
        self, tf: Terraform
    ) -> None:
        # without s3:ListBucket S3 answers a missing key 403, not 404 (shared/aws/blobs.py)
        statements = task_statements(tf)
        listing = statements["missingis404"]
        assert listing["for_each"] == statements["read"]["for_each"]
        content = only(listing["content"])
        assert content["actions"] == ["s3:ListBucket"]
        assert content["resources"] == ["${aws_s3_bucket.results.arn}"]
        readers = {name for name, spec in tf.locals["services"].items() if spec["s3_read"]}
        assert readers == {"job_tracker", "calendar_worker"}

    def test_every_key_the_code_reads_or_writes_is_under_its_roles_prefixes(
        self, tf: Terraform
    ) -> None:
        services = tf.locals["services"]
        request = CalendarRequested(task_id=uuid4(), requested_at=datetime.now(), todo_count=0)
        calendar, snapshot = calendar_blob_key("acme", uuid4()), snapshot_blob_key(request)
        granted = {
            ("todo_api", "s3_write", snapshot),
            ("calendar_worker", "s3_read", snapshot),
            ("calendar_worker", "s3_write", calendar),
            ("job_tracker", "s3_read", calendar),
        }
        for service, access, key in granted:
            patterns = services[service][access]
            assert any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns), (service, key)


class TestMonitoring:
    def test_each_queue_alarms_on_the_age_of_its_oldest_message_and_on_its_depth(
        self, tf: Terraform
    ) -> None:
        for name, metric in (
            ("queue_age", "ApproximateAgeOfOldestMessage"),
            ("queue_depth", "ApproximateNumberOfMessagesVisible"),
        ):
            alarm = tf.resources["aws_cloudwatch_metric_alarm", name]
            assert alarm["for_each"] == "${var.queues}"
            assert (alarm["namespace"], alarm["metric_name"]) == ("AWS/SQS", metric)
            assert alarm["dimensions"] == {"QueueName": "${aws_sqs_queue.queue[each.key].name}"}

    def test_the_load_balancer_alarms_on_5xx_of_both_kinds_and_on_slow_answers(
        self, tf: Terraform
    ) -> None:
        errors = tf.resources["aws_cloudwatch_metric_alarm", "alb_5xx"]
        assert set(errors["for_each"].values()) == {
            "HTTPCode_Target_5XX_Count",
            "HTTPCode_ELB_5XX_Count",
        }
        assert errors["dimensions"] == {"LoadBalancer": "${aws_lb.main.arn_suffix}"}
        slow = tf.resources["aws_cloudwatch_metric_alarm", "response_time"]
        assert slow["for_each"] == "${local.public}"
        assert (slow["metric_name"], slow["extended_statistic"]) == ("TargetResponseTime", "p95")
        assert slow["dimensions"]["TargetGroup"] == (
            "${aws_lb_target_group.service[each.key].arn_suffix}"
        )

    def test_every_ecs_service_alarms_on_its_cpu_and_memory(self, tf: Terraform) -> None:
        alarm = tf.resources["aws_cloudwatch_metric_alarm", "ecs_utilization"]
        assert "setproduct(keys(local.services)" in alarm["for_each"]
        assert '["CPUUtilization", "MemoryUtilization"]' in alarm["for_each"]
        assert alarm["namespace"] == "AWS/ECS"
        named = tf.locals["ecs_service_names"]
        assert "aws_ecs_service.web" in named
        assert "calendar_worker = aws_ecs_service.worker.name" in named

    def test_every_alarm_notifies_the_alarm_topic_and_is_on_the_dashboard(
        self, tf: Terraform
    ) -> None:
        alarms = [name for kind, name in tf.resources if kind == "aws_cloudwatch_metric_alarm"]
        assert len(alarms) == 6
        topic = "${aws_sns_topic.alarms.arn}"
        for name in alarms:
            actions = tf.resources["aws_cloudwatch_metric_alarm", name]["alarm_actions"]
            assert actions in ([topic], "${local.alarm_actions}"), name
            assert f"aws_cloudwatch_metric_alarm.{name} :" in tf.locals["alarm_arns"], name
        assert tf.locals["alarm_actions"] == [topic]
        assert (
            "local.alarm_arns" in tf.resources["aws_cloudwatch_dashboard", "main"]["dashboard_body"]
        )

    def test_the_dashboard_graphs_the_signals_of_the_operations_page(self, tf: Terraform) -> None:
        graphed = " ".join(str(graph[1]) for graph in tf.locals["dashboard_graphs"])
        rows = {name: str(tf.locals[name]) for name in ("queue_metric_rows", "dlq_rows")}
        for metric in (
            "ApproximateNumberOfMessagesVisible",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateAgeOfOldestMessage",
        ):
            assert metric in rows["queue_metric_rows"]
            assert f"local.queue_metric_rows.{metric}" in graphed
        assert "aws_sqs_queue.dlq" in rows["dlq_rows"]
        for local_name in ("dlq_rows", "alb_rows", "latency_rows", "ecs_rows"):
            assert f"local.{local_name}" in graphed

    def test_the_operations_page_may_read_the_depth_of_every_queue_and_dlq(
        self, tf: Terraform
    ) -> None:
        statement = only(tf.data["aws_iam_policy_document", "queue_depths"]["statement"])
        assert statement["actions"] == ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
        assert "aws_sqs_queue.queue" in statement["resources"]
        assert "aws_sqs_queue.dlq" in statement["resources"]
        policy = tf.resources["aws_iam_role_policy", "queue_depths"]
        assert policy["role"] == '${aws_iam_role.task["todo_api"].id}'


def task_statements(tf: Terraform) -> dict[str, dict[str, Any]]:
    """The task roles' dynamic policy statements by sid: each with its for_each and content."""
    dynamics = tf.data["aws_iam_policy_document", "task"]["dynamic"]
    statements = [block["statement"] for block in dynamics]
    return {only(statement["content"])["sid"]: statement for statement in statements}


class TestDatabaseConnections:
    """The pools of every task that can run at once fit the database's connections: the worker
    at its autoscaling ceiling and every service doubled while a deployment runs."""

    def test_the_worst_case_fits_the_limit_or_terraform_refuses_to_plan(
        self, tf: Terraform
    ) -> None:
        checked = 0
        for api, tracker, workers, percent, limit in itertools.product(
            (1, 2, 4), (1, 3), (1, 4, 10), (100, 150, 200), (112, 225, 450)
        ):
            variables = defaults_of(tf) | {
                "api_count": api,
                "tracker_count": tracker,
                "worker_max_count": workers,
                "deployment_maximum_percent": percent,
                "db_max_connections": limit,
            }
            found = Locals(tf, variables)
            if not found.evaluate(pool_precondition(tf)):
                continue
            per_task = found["db_pool_size"] + found["db_pool_overflow"]
            worst = sum(found["db_peak_tasks"].values()) * per_task
            assert found["db_pool_size"] >= 1
            assert worst <= limit - variables["db_reserved_connections"], variables
            checked += 1
        assert checked > 0

    def test_with_the_defaults_the_worst_case_stays_under_db_t4g_micro_s_limit(
        self, tf: Terraform
    ) -> None:
        variables = defaults_of(tf)
        found = Locals(tf, variables)
        peak = found["db_peak_tasks"]
        worst = sum(peak.values()) * (found["db_pool_size"] + found["db_pool_overflow"])

        assert variables["db_instance_class"] == "db.t4g.micro"
        assert variables["db_max_connections"] == 112
        assert peak == {"todo_api": 2, "job_tracker": 2, "calendar_worker": 8}
        assert (found["db_pool_size"], found["db_pool_overflow"]) == (7, 1)
        assert worst == 96
        assert found.evaluate(pool_precondition(tf))

    def test_too_many_tasks_for_the_database_refuse_to_plan(self, tf: Terraform) -> None:
        variables = defaults_of(tf) | {"worker_max_count": 60}

        assert not Locals(tf, variables).evaluate(pool_precondition(tf))

    def test_the_tasks_the_figure_counts_are_the_ones_ecs_may_run(self, tf: Terraform) -> None:
        peak = tf.locals["db_peak_tasks"]
        assert set(peak) == set(tf.locals["services"])
        for name in ("todo_api", "job_tracker"):
            assert tf.locals["services"][name]["desired_count"].strip("${}") in peak[name]
        ceiling = tf.resources["aws_appautoscaling_target", "worker"]["max_capacity"]
        assert ceiling.strip("${}") in peak["calendar_worker"]
        assert all("var.deployment_maximum_percent" in count for count in peak.values())
        for name in ("web", "worker"):
            service = tf.resources["aws_ecs_service", name]
            assert service["deployment_maximum_percent"] == "${var.deployment_maximum_percent}"

    def test_the_tasks_get_the_figures_and_the_database_the_limit(self, tf: Terraform) -> None:
        definitions = tf.resources["aws_ecs_task_definition", "service"]["container_definitions"]
        assert 'name = "DB_POOL_SIZE", value = tostring(local.db_pool_size)' in definitions
        assert 'name = "DB_POOL_OVERFLOW", value = tostring(local.db_pool_overflow)' in definitions
        parameters = tf.resources["aws_db_parameter_group", "main"]["parameter"]
        [limit] = [p for p in parameters if p["name"] == "max_connections"]
        assert limit["value"] == "${tostring(var.db_max_connections)}"

    @pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
    def test_terraform_itself_computes_the_same_figures(
        self, tf: Terraform, tmp_path: Path
    ) -> None:
        # the locals and their variables alone need no provider: terraform console evaluates them
        source = (TERRAFORM / "database.tf").read_text()
        locals_block = re.search(r"^locals \{.*?^\}", source, re.MULTILINE | re.DOTALL)
        assert locals_block is not None
        variables = defaults_of(tf)
        declared = "".join(
            f'variable "{name}" {{\n  default = {json.dumps(value)}\n}}\n'
            for name, value in variables.items()
        )
        (tmp_path / "main.tf").write_text(declared + locals_block.group(0) + "\n")
        expected = Locals(tf, variables)
        for name in ("db_task_connections", "db_pool_size", "db_pool_overflow"):
            result = subprocess.run(
                ["terraform", "console"],
                input=f"local.{name}\n",
                cwd=tmp_path,
                capture_output=True,
                text=True,
                check=True,
            )
            assert int(result.stdout.strip()) == expected[name], name


USER_POOL = "${aws_cognito_user_pool.people[0].id}"
WEB_PAGE_CLIENT = "${aws_cognito_user_pool_client.web_page[0].id}"


class TestSignIn:
    def test_the_groups_are_the_roles_the_services_know(self, tf: Terraform) -> None:
        assert set(tf.locals["sign_in_groups"]) == ROLES
        groups = tf.resources["aws_cognito_user_group", "role"]
        assert "local.sign_in_groups" in groups["for_each"]
        assert groups["name"] == "${each.key}"
        assert groups["user_pool_id"] == USER_POOL

    def test_the_web_page_s_client_has_no_secret_and_signs_in_by_code_only(
        self, tf: Terraform
    ) -> None:
        client = tf.resources["aws_cognito_user_pool_client", "web_page"]
        assert client["generate_secret"] is False
        assert client["allowed_oauth_flows_user_pool_client"] is True
        assert client["allowed_oauth_flows"] == ["code"]
        assert set(client["allowed_oauth_scopes"]) == {"openid", "email", "profile"}
        # no password, SRP or admin sign-in through the API: the hosted page, then refreshes
        assert client["explicit_auth_flows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]
        assert client["callback_urls"] == client["logout_urls"] == ["${local.public_base_url}/"]
        assert client["user_pool_id"] == USER_POOL

    def test_people_sign_in_with_their_email_a_strong_password_and_optional_totp(
        self, tf: Terraform
    ) -> None:
        pool = tf.resources["aws_cognito_user_pool", "people"]
        assert pool["username_attributes"] == ["email"]
        assert pool["mfa_configuration"] == "OPTIONAL"
        assert only(pool["software_token_mfa_configuration"])["enabled"] is True
        policy = only(pool["password_policy"])
        assert policy["minimum_length"] >= 12
        assert all(policy[f"require_{kind}"] for kind in ("lowercase", "uppercase", "numbers"))
        assert policy["require_symbols"] is True

    def test_the_tenant_is_given_once_by_an_operator_and_read_from_the_id_token(
        self, tf: Terraform
    ) -> None:
        pool = tf.resources["aws_cognito_user_pool", "people"]
        [tenant] = [attribute for attribute in pool["schema"] if attribute["name"] == "tenant"]
        assert tenant["attribute_data_type"] == "String"
        assert tenant["mutable"] is False
        longest = only(tenant["string_attribute_constraints"])["max_length"]
        assert TENANT_PATTERN.fullmatch("t" * longest)
        assert not TENANT_PATTERN.fullmatch("t" * (longest + 1))
        # a person who signed themselves up, or the page, could otherwise name any tenant
        assert only(pool["admin_create_user_config"])["allow_admin_create_user_only"] is True
        client = tf.resources["aws_cognito_user_pool_client", "web_page"]
        assert "custom:tenant" in client["read_attributes"]
        assert "custom:tenant" not in client["write_attributes"]

    def test_the_issuer_url_is_built_from_the_pool(self, tf: Terraform) -> None:
        issuer = f"https://cognito-idp.${{var.region}}.amazonaws.com/{USER_POOL}"
        assert tf.locals["oidc_issuer"] == f'${{local.sign_in ? "{issuer}" : null}}'

    def test_the_services_people_call_accept_the_pool_s_id_tokens(self, tf: Terraform) -> None:
        environment = oidc_environment(tf)
        assert environment == {
            "OIDC_ISSUER": "local.oidc_issuer",
            # the page sends the ID token, whose aud is the client id
            "OIDC_AUDIENCE": WEB_PAGE_CLIENT[2:-1],
            "OIDC_CLIENT_ID": WEB_PAGE_CLIENT[2:-1],
            "OIDC_TENANT_CLAIM": '"custom:tenant"',
            "OIDC_ROLES_CLAIM": '"cognito:groups"',
        }
        assert set(environment) <= SETTINGS_ENV
        definitions = tf.resources["aws_ecs_task_definition", "service"]["container_definitions"]
        assert "contains(local.public, each.key) ? local.oidc_environment : []" in definitions

    def test_every_task_requires_credentials_and_no_other_origin_is_allowed(
        self, tf: Terraform
    ) -> None:
        definitions = tf.resources["aws_ecs_task_definition", "service"]["container_definitions"]
        assert 'name = "AUTH_MODE", value = "required"' in definitions
        everything = definitions + tf.locals["oidc_environment"]
        assert "ALLOW_ANONYMOUS_ACCESS" not in everything
        # the page is served by todo_api itself, on the one public origin
        assert "CORS_ALLOWED_ORIGINS" not in everything

    def test_the_outputs_name_the_pool_the_client_and_the_hosted_page(self, tf: Terraform) -> None:
        assert USER_POOL[2:-1] in tf.outputs["cognito_user_pool_id"]["value"]
        assert WEB_PAGE_CLIENT[2:-1] in tf.outputs["cognito_client_id"]["value"]
        hosted = tf.outputs["cognito_hosted_ui_url"]["value"]
        assert ".auth.${var.region}.amazoncognito.com" in hosted
        assert "aws_cognito_user_pool_domain.sign_in[0].domain" in hosted

    @pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
    @pytest.mark.parametrize(
        ("public_base_url", "certificate_arn", "signs_in"),
        [
            ("", "", False),
            ("", "arn:aws:acm:us-east-1:123456789012:certificate/x", True),
            ("https://todo.example.com", "", True),
            ("http://todo.example.com", "arn:aws:acm:us-east-1:123456789012:certificate/x", False),
        ],
    )
    def test_sign_in_is_made_only_for_an_https_page_known_when_planning(
        self,
        tf: Terraform,
        tmp_path: Path,
        public_base_url: str,
        certificate_arn: str,
        signs_in: bool,
    ) -> None:
        # from variables alone (no resource attribute), so `count` is known at plan time
        (tmp_path / "main.tf").write_text(
            f'variable "public_base_url" {{\n  default = {json.dumps(public_base_url)}\n}}\n'
            f'variable "certificate_arn" {{\n  default = {json.dumps(certificate_arn)}\n}}\n'
            "locals {\n"
            f"  https   = {tf.locals['https'][2:-1]}\n"
            f"  sign_in = {tf.locals['sign_in'][2:-1]}\n"
            "}\n"
        )
        result = subprocess.run(
            ["terraform", "console"],
            input="local.sign_in\n",
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.strip() == str(signs_in).lower()


class TestFirstOperatorKey:
    """The admin task that gives the first operator a key when every task requires one."""

    def admin_definitions(self, tf: Terraform) -> str:
        definitions: str = tf.resources["aws_ecs_task_definition", "admin"]["container_definitions"]
        return definitions

    def test_its_command_is_the_admin_tool_s_ensure_into_the_key_s_secret(
        self, tf: Terraform
    ) -> None:
        listed = re.search(r"command = \[([^\]]*)\]", self.admin_definitions(tf))
        assert listed is not None
        words = [word.strip() for word in listed[1].split(",")]
        assert [json.loads(word) for word in words[:3]] == ["python", "-m", "scripts.admin"]
        values = {
            "var.operator_tenant": "operations",
            "aws_secretsmanager_secret.operator_api_key.arn": "arn:aws:secretsmanager:x",
        }
        argv = [values[word] if word in values else json.loads(word) for word in words[3:]]

        args = parse_admin(argv)

        assert (args.area, args.action) == ("keys", "ensure")
        assert args.secret_id == "arn:aws:secretsmanager:x"
        assert sorted(args.roles) == ["member", "operator"]

    def test_it_runs_todo_api_s_image_on_todo_api_s_database_with_known_settings(
        self, tf: Terraform
    ) -> None:
        definitions = self.admin_definitions(tf)
        assert 'aws_ecr_repository.service["todo_api"]' in definitions
        assert 'name = "DATABASE_SCHEMA", value = "todo_api"' in definitions
        assert "valueFrom = aws_secretsmanager_secret.database_url.arn" in definitions
        names = set(re.findall(r'name = "([A-Z][A-Z0-9_]*)"', definitions))
        assert names <= SETTINGS_ENV

    def test_its_role_may_only_read_and_replace_the_key_s_secret(self, tf: Terraform) -> None:
        statements = tf.data["aws_iam_policy_document", "admin_task"]["statement"]
        by_sid = {statement["sid"]: statement for statement in statements}
        assert set(by_sid) == {"holdthekey", "encryptthekey"}
        assert by_sid["holdthekey"]["resources"] == [
            "${aws_secretsmanager_secret.operator_api_key.arn}"
        ]
        assert all(
            action.startswith(("secretsmanager:", "kms:"))
            for statement in statements
            for action in statement["actions"]
        )
        role = tf.resources["aws_ecs_task_definition", "admin"]["task_role_arn"]
        assert role == "${aws_iam_role.admin_task.arn}"

    def test_the_outputs_run_the_task_and_read_the_secret(self, tf: Terraform) -> None:
        run = tf.outputs["issue_operator_key_command"]["value"]
        assert "aws ecs run-task" in run
        assert "aws_ecs_task_definition.admin.family" in run
        read = tf.outputs["read_operator_key_command"]["value"]
        assert "aws secretsmanager get-secret-value" in read
        assert "aws_secretsmanager_secret.operator_api_key.arn" in read


def oidc_environment(tf: Terraform) -> dict[str, str]:
    """The OIDC settings the services are given when sign-in is made: name -> HCL expression."""
    pairs = re.findall(r'\{name = "([A-Z_]+)", value = ([^}]+)\}', tf.locals["oidc_environment"])
    return {name: value.strip() for name, value in pairs}


def defaults_of(tf: Terraform) -> dict[str, Any]:
    return {name: body["default"] for name, body in tf.variables.items() if "default" in body}


def pool_precondition(tf: Terraform) -> str:
    lifecycle = only(tf.resources["aws_ecs_task_definition", "service"]["lifecycle"])
    condition: str = only(lifecycle["precondition"])["condition"]
    return condition


class Locals:
    """Terraform locals of arithmetic on variables (ceil, floor, min, sum, values), evaluated."""

    FUNCTIONS: dict[str, Any] = {
        "ceil": math.ceil,
        "floor": math.floor,
        "min": min,
        "max": max,
        "sum": sum,
        "values": lambda mapping: list(mapping.values()),
    }

    def __init__(self, tf: Terraform, variables: dict[str, Any]) -> None:
        self._tf = tf
        self._variables = variables

    def __getitem__(self, name: str) -> Any:
        found = self._tf.locals[name]
        if isinstance(found, dict):
            return {key: self.evaluate(value) for key, value in found.items()}
        return self.evaluate(found)

    def evaluate(self, expression: str) -> Any:
        body = expression.removeprefix("${").removesuffix("}")
        python = re.sub(r"\b(var|local)\.(\w+)", r"\1_['\2']", body)
        assert re.fullmatch(r"[\w\s'\[\]().,*/+<>=-]*", python), python
        names = {**self.FUNCTIONS, "var_": self._variables, "local_": self}
        # our own HCL, and only arithmetic on names and numbers (checked above)
        return eval(python, {"__builtins__": {}}, names)


def served_paths(service: str) -> set[str]:
    """The route templates the service's app answers."""
    factory = importlib.import_module(f"services.{service}.app").create_app
    return {resource.canonical for resource in factory(Settings()).router.resources()}


def expiry_of(tf: Terraform, key: str) -> Any:
    """The expiration days of the one expiring lifecycle rule that covers `key`.

    S3 applies the shortest of overlapping expirations, so a second expiring rule (a bucket-wide
    one, say) would silently cut the longer one short; a rule that only aborts failed uploads
    expires nothing.
    """
    rules = tf.resources["aws_s3_bucket_lifecycle_configuration", "results"]["rule"]
    covering = [
        r
        for r in rules
        if "expiration" in r and key.startswith(only(r["filter"]).get("prefix", ""))
    ]
    return only(only(covering)["expiration"])["days"]


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_fmt_finds_nothing_to_change() -> None:
    # `terraform validate` needs the providers, which cannot be downloaded here
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "terraform"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change: {result.stdout}"
