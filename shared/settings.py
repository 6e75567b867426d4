"""The one settings model every service reads from the environment."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

EMBEDDED_DATABASE_URL = "sqlite+aiosqlite:///./var/taskoverflow.db"
DEV_TASK_SECRET = "taskoverflow-dev-secret"
# what logs and spans call a process that names no service of its own (tools, tests)
DEFAULT_SERVICE_NAME = "taskoverflow"
# how SQLite syncs a commit: NORMAL at checkpoints only, FULL at every commit
SqliteSynchronous = Literal["NORMAL", "FULL"]
# requests a minute per principal with AUTH_MODE=required: writes at 2 a second, far beyond a
# person at the web page, enough for a sync script, while a runaway loop cannot flood the log;
# calendar jobs (each renders the whole list and stores a file) at 10 a minute, where a person
# asks for a few an hour and a subscribed calendar app reads the feed (a read, never limited)
RATE_LIMIT_DEFAULTS = {"writes": 120, "calendars": 10}
# a tenant's calendar jobs not yet finished with AUTH_MODE=required: a job takes seconds, so a
# person or a script waiting for each never meets it; a loop that never waits soon does
CALENDAR_JOBS_IN_FLIGHT_DEFAULT = 5


class SettingsError(SystemExit):
    """A bad setting: the process stops with a one-line message naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    database_url: str = EMBEDDED_DATABASE_URL
    # PostgreSQL schema the service's tables live in (None: the server's default search_path)
    database_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]*$")
    # SQLite files (the embedded mode's service databases and transport): NORMAL loses no commit
    # to a killed process, but a power cut or OS crash can take the last ones back; FULL cannot
    sqlite_synchronous: SqliteSynchronous = "NORMAL"
    # PostgreSQL connections a process keeps open, and may open beyond them under load: Terraform
    # sizes both from the database's connection limit and the most tasks that can run at once
    db_pool_size: int = Field(default=16, ge=1, le=1000)
    db_pool_overflow: int = Field(default=4, ge=0, le=1000)
    # how long PostgreSQL may stay silent (answering a statement, freeing a pooled connection)
    # before the request gives up and answers 503, and how long opening a connection may take:
    # far longer than any statement of these services takes, short enough that an outage shows
    # within seconds
    database_timeout_ms: int = Field(default=5000, ge=100, le=600000)
    database_connect_timeout_ms: int = Field(default=3000, ge=100, le=600000)
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    # unset: botocore's usual chain (env, profile, role); emulators accept any value
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    # prepended to every topic, queue and bucket name, so several stacks share one account
    resource_prefix: str = Field(default="", pattern=r"^[a-z0-9-]*$")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=6400, ge=0, le=65535)
    # pages on other origins whose scripts may call todo_api and the job tracker (CORS), each an
    # exact origin (https://app.example.com), comma-separated or a JSON list; none by default:
    # the web page is served by todo_api itself and needs none. Never a wildcard: the calls
    # carry the person's token
    cors_allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # GET /metrics is served on a listener of its own, never on the public port (unset: no
    # listener, the service still counts); METRICS_HOST unset: HTTP_HOST
    metrics_host: str | None = None
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # where todo_api forwards the job status and result routes, giving one public base URL
    job_tracker_url: str | None = None
    # the job tracker's schema on DATABASE_URL's PostgreSQL server: `python -m services.edge`
    # answers the job routes from its tables in todo_api's process, with no hop to the tracker
    # (unset: the routes go to JOB_TRACKER_URL)
    job_tracker_database_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]*$")
    # how long the tracker may stay silent while todo_api waits for its answer or its file's next
    # bytes; a transfer as a whole has no limit, so a slow client still gets a large file
    job_tracker_read_timeout_ms: int = Field(default=30000, ge=100, le=600000)
    # where todo_api's operations page asks calendar_worker for its readiness
    # (unset: the page shows the worker as unknown)
    calendar_worker_url: str | None = None
    # where the operations page reads their outbox backlog: their metrics listeners (unset: none)
    job_tracker_metrics_url: str | None = None
    calendar_worker_metrics_url: str | None = None
    # how long the operations page waits for each service, queue or the tracker's figures; by
    # default longer than a service's own readiness checks take (2 s), so it hears their reason
    ops_probe_timeout_ms: int = Field(default=3000, ge=100, le=30000)
    # a job's event stream (GET .../events) sends a comment line after this long without a change,
    # so no proxy or load balancer (the ALB's idle timeout, 60 s) takes it for a dead connection
    job_events_keepalive_ms: int = Field(default=15000, ge=10, le=300000)
    # the event streams one job tracker process holds open at most; one more answers 503
    job_events_max_streams: int = Field(default=1000, ge=0, le=100000)
    # signs task ids so the tracker can tell an issued id from a made-up one
    task_secret: str = Field(default=DEV_TASK_SECRET, min_length=16)
    # a calendar file this many days old is gone: the S3 bucket's lifecycle rule deletes it
    # (terraform's result_expiry_days, 7), or in the embedded mode the calendar worker's blob
    # expiry, so the tracker answers 410 from then on (RESULT_EXPIRY_S overrides it)
    result_ttl_days: int = Field(default=7, ge=1, le=36500)
    sqs_wait_time_s: int = Field(default=10, ge=0, le=20)
    sqs_visibility_timeout_s: int = Field(default=30, ge=1, le=43200)
    sqs_max_receive_count: int = Field(default=5, ge=1, le=1000)
    consumer_concurrency: int = Field(default=10, ge=1, le=100)
    relay_poll_interval_ms: int = Field(default=50, ge=1)
    # on AWS, where each request is billed: a consumer whose receive brought several messages
    # but no full batch, or a relay that published several events, waits this long before its
    # next request so that it carries more; a lone message never waits. The embedded transport
    # has no per-request cost and ignores it
    batch_window_ms: int = Field(default=40, ge=0, le=1000)
    log_level: str = "INFO"
    # "text": readable lines; "json": one JSON object a line, for a log collector
    log_format: Literal["text", "json"] = "text"
    # the name logs and spans give the service; each service's entry point sets its own
    service_name: str = Field(default=DEFAULT_SERVICE_NAME, pattern=r"^[A-Za-z0-9_.-]+$")
    # where spans go: "none" (still made, so trace ids travel and reach the logs and responses,
    # but not recorded), "console" (stdout) or "otlp" (OTLP over HTTP to the endpoint below)
    traces_exporter: Literal["none", "console", "otlp"] = "none"
    # the OTLP collector's base URL, spans go to <it>/v1/traces (unset: http://localhost:4318)
    otel_exporter_otlp_endpoint: str | None = Field(default=None, pattern=r"^https?://")
    # "embedded": SNS/SQS semantics on one SQLite file and blobs in a folder, both under var_dir
    transport: Literal["aws", "embedded"] = "aws"
    # the embedded mode's files: service databases, the transport's file, blobs
    var_dir: Path = Path("./var")
    # `make run`'s processes: 1 (all three services in one), 2 (todo_api with job_tracker, and
    # calendar_worker), 3 (one each); more than one use more cores (embedded/processes.py)
    embedded_processes: int = Field(default=3, ge=1, le=3)
    # where a service writes what it cost in AWS requests, as JSON, when it stops (make bench)
    aws_requests_file: str | None = None
    # "none": every request is the anonymous tenant's, as in the practical's contract (loopback
    # only, unless ALLOW_ANONYMOUS_ACCESS says so); "required": an API key or an OIDC token
    auth_mode: Literal["none", "required"] = "none"
    # AUTH_MODE=none on an address beyond loopback is refused at start unless this is set
    allow_anonymous_access: bool = False
    # OIDC bearer tokens (unset issuer: API keys only): the issuer's URL as tokens name it, the
    # audience they must carry, the claims that hold the tenant and the roles, the signing
    # algorithms accepted (asymmetric only), and the clock skew allowed on exp/nbf/iat
    oidc_issuer: str | None = Field(default=None, pattern=r"^https?://")
    oidc_audience: str | None = None
    # unset: <issuer>/.well-known/jwks.json
    oidc_jwks_url: str | None = Field(default=None, pattern=r"^https?://")
    oidc_tenant_claim: str = "tenant"
    oidc_roles_claim: str = "roles"
    oidc_algorithms: tuple[str, ...] = ("RS256", "ES256")
    oidc_leeway_s: int = Field(default=30, ge=0, le=300)
    # the web pages' sign-in with OIDC_ISSUER (authorization code with PKCE; unset: API keys
    # only): the public client the issuer knows the pages as, and the scope they ask for. The
    # pages send the ID token, whose aud is this client id, so it must equal OIDC_AUDIENCE
    oidc_client_id: str | None = None
    oidc_scope: str = "openid"
    # todo_api's limits per principal (tenant and subject), each a token bucket: writes (POST, PUT,
    # DELETE of todos) and calendar jobs (POST /api/v1/todos/ical); reads are never limited.
    # Requests a minute, 0 for no limit; unset: the RATE_LIMIT_DEFAULTS with AUTH_MODE=required,
    # none with AUTH_MODE=none (the practical's contract). The burst is how many may come at
    # once (unset: a minute's worth)
    rate_limit_writes_per_minute: int | None = Field(default=None, ge=0, le=1_000_000)
    rate_limit_writes_burst: int | None = Field(default=None, ge=1, le=1_000_000)
    rate_limit_calendars_per_minute: int | None = Field(default=None, ge=0, le=1_000_000)
    rate_limit_calendars_burst: int | None = Field(default=None, ge=1, le=1_000_000)
    # a request of a principal already refused, sent before its Retry-After, waits up to this
    # long (its bucket's next token, if sooner) before it is checked: a client that ignores
    # Retry-After gets about one answer a second per connection, not a share of the CPU
    rate_limit_refusal_pause_ms: int = Field(default=1000, ge=0, le=60_000)
    # todo_api's cap on a tenant's calendar jobs not yet finished (services/todo_api/jobs_cap.py),
    # 0 for none; unset: CALENDAR_JOBS_IN_FLIGHT_DEFAULT with AUTH_MODE=required, none with
    # AUTH_MODE=none (the practical's contract)
    calendar_jobs_in_flight_per_tenant: int | None = Field(default=None, ge=0, le=1_000_000)

    # storage kept bounded (shared/eventstore/expiry.py): how often each service deletes its
    # expired rows, and at most how many rows one statement deletes, so no lock is held for long
    expiry_interval_ms: int = Field(default=300_000, ge=10, le=86_400_000)
    expiry_batch_rows: int = Field(default=500, ge=1, le=100_000)
    # how long a consumer's inbox row is kept (unset: topology.DUPLICATE_WINDOW_S, the longest a
    # duplicate delivery can still arrive; shorter only in tests)
    inbox_expiry_s: int | None = Field(default=None, ge=1)
    # how long todo_api keeps an Idempotency-Key's uses (unset: the key's 24 hours and an hour's
    # margin, services/todo_api/key_use_expiry.py); shorter only in tests and soaks, where a key
    # whose uses are gone answers afresh sooner
    idempotency_expiry_s: int | None = Field(default=None, ge=1)
    # the embedded mode's blob folder, which no lifecycle rule clears: how long a calendar file is
    # kept (unset: RESULT_TTL_DAYS, which the tracker's 410 follows too) and a claim-checked
    # snapshot (unset: topology.DUPLICATE_WINDOW_S, the longest a redelivered request may still
    # need it); shorter only in tests and soaks
    result_expiry_s: int | None = Field(default=None, ge=1)
    snapshot_expiry_s: int | None = Field(default=None, ge=1)
    # how long after a lease ran out its row is deleted (a released one is deleted at once): a
    # day, far beyond any pause a holder survives (leases last seconds to a visibility timeout)
    lease_expiry_s: int = Field(default=86_400, ge=1)
    # a calendar job's history (its events in each service's log, the tracker's row) is deleted
    # this many days after its last change: at least the duplicate window (19 days), so no late
    # delivery or redrive finds its job forgotten and renders it again, and at least
    # RESULT_TTL_DAYS. JOB_EXPIRY_S (seconds) overrides it, shorter only in tests and soaks
    job_retention_days: int = Field(default=30, ge=20, le=36500)
    job_expiry_s: int | None = Field(default=None, ge=1)

    def with_embedded_database(self, service: str, var_dir: Path | None = None) -> Settings:
        """These settings with the service's own SQLite file, `<VAR_DIR>/<service>.db`: the
        embedded mode's layout (one file per service, so their writers never queue on each
        other), which the operator tools find again."""
        folder = self.var_dir if var_dir is None else var_dir
        return self.model_copy(
            update={"database_url": f"sqlite+aiosqlite:///{folder / service}.db"}
        )

    @property
    def result_ttl(self) -> timedelta:
        """How long a calendar file can be downloaded: RESULT_EXPIRY_S when set, else
        RESULT_TTL_DAYS. The tracker answers 410 after it, and the embedded folder deletes the
        file after it, so the two never disagree."""
        if self.result_expiry_s is not None:
            return timedelta(seconds=self.result_expiry_s)
        return timedelta(days=self.result_ttl_days)

    @property
    def job_retention(self) -> timedelta:
        """How long a job's history is kept after its last change (JOB_EXPIRY_S when set)."""
        if self.job_expiry_s is not None:
            return timedelta(seconds=self.job_expiry_s)
        return timedelta(days=self.job_retention_days)

    @model_validator(mode="after")
    def _history_outlasts_results(self) -> Settings:
        if self.job_expiry_s is None and self.job_retention_days < self.result_ttl_days:
            raise ValueError(
                "JOB_RETENTION_DAYS must be at least RESULT_TTL_DAYS: a job is kept while its "
                "calendar can be downloaded"
            )
        return self

    @model_validator(mode="after")
    def _tracker_schema_on_postgres(self) -> Settings:
        if self.job_tracker_database_schema is not None and self.is_sqlite:
            raise ValueError(
                "JOB_TRACKER_DATABASE_SCHEMA names a PostgreSQL schema: DATABASE_URL must be "
                "PostgreSQL's"
            )
        return self

    @property
    def batch_window_s(self) -> float:
        """The batch window in effect: none on the embedded transport."""
        return self.batch_window_ms / 1000 if self.transport == "aws" else 0.0

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, url: str) -> str:
        if not url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must start with postgresql+asyncpg:// or sqlite+aiosqlite://")
        return url

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _synchronous_in_capitals(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        if level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level.upper()

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if value.strip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("is neither a JSON list nor comma-separated origins") from None
        return [item for item in value.split(",") if item.strip()]

    @field_validator("cors_allowed_origins")
    @classmethod
    def _exact_origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(exact_origin(origin) for origin in origins)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls) -> Settings:
        """Read the environment; on a bad value exit with one line naming the variable."""
        try:
            return cls()
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]).upper() if first["loc"] else "settings"
            raise SettingsError(f"invalid setting {name}: {first['msg']}") from None


def exact_origin(text: str) -> str:
    """`text` as a browser's Origin header spells it (scheme://host[:port], lower case, no
    default port), or ValueError for a wildcard, a path or anything else that is no origin."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} is not an origin like https://app.example.com") from None
    extra = parts.path not in ("", "/") or parts.query or parts.fragment or parts.username
    if parts.scheme not in ("http", "https") or not parts.hostname or extra or "*" in text:
        raise ValueError(f"{text!r} is not an origin like https://app.example.com")
    default_port = {"http": 80, "https": 443}[parts.scheme]
    suffix = "" if port in (None, default_port) else f":{port}"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{suffix}"
