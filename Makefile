.DEFAULT_GOAL := help
VENV ?= .venv
COMPOSE ?= docker compose
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the official AsyncAPI JSON Schemas (npm's @asyncapi/specs, pinned in tools/asyncapi/), which
# make check and the tests validate the generated AsyncAPI document against
ASYNCAPI_SPECS := tools/asyncapi/node_modules/.package-lock.json

.PHONY: help install run test check fmt pytest test-unit test-integration test-e2e bench clean queue-demo replay admin up down logs test-localstack check-terraform

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(ASYNCAPI_SPECS): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	npm ci --prefix tools/asyncapi --ignore-scripts --no-audit --no-fund
	touch $@

install: $(STAMP)  ## create .venv and install the project with its dev tools (make check adds the AsyncAPI schemas, with npm)

run: $(STAMP)  ## run the whole system on the embedded defaults (SQLite + in-process AWS emulator)
	$(PY) -m embedded

check: $(STAMP) $(ASYNCAPI_SPECS)  ## lint, format check, type check, import contracts, the AsyncAPI document
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared services embedded scripts bench tests
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(PY) -m scripts.asyncapi --check

fmt: $(STAMP)  ## format and auto-fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

pytest: $(STAMP) $(ASYNCAPI_SPECS)
	$(PY) -m pytest $(ARGS)

test: check pytest  ## check, then the whole test suite (unit, integration, e2e)

test-unit: $(STAMP) $(ASYNCAPI_SPECS)  ## the unit tests alone: pure logic, no database or network (ARGS for pytest)
	$(PY) -m pytest tests/unit $(ARGS)

test-integration: $(STAMP) $(ASYNCAPI_SPECS)  ## one real adapter at a time: SQLite, PostgreSQL, moto (ARGS for pytest)
	$(PY) -m pytest tests/integration $(ARGS)

test-e2e: $(STAMP)  ## the services as processes, over HTTP on loopback (ARGS for pytest)
	$(PY) -m pytest tests/e2e $(ARGS)

bench: $(STAMP)  ## print performance figures (ARGS: sections; LocalStack is started for its section)
	scripts/localstack.sh $(PY) -m bench $(ARGS)

queue-demo: $(STAMP)  ## the practical's SQS queue demo, e.g. make queue-demo ARGS="--name csse6400_prac --client-name alice"
	$(PY) -m scripts.queue_demo $(ARGS)

replay: $(STAMP)  ## operator tools: make replay ARGS="status" (README, Operations)
	$(PY) -m scripts.replay $(ARGS)

admin: $(STAMP)  ## API keys: make admin ARGS="keys issue --tenant T --role member --label L" (list, revoke ID)
	$(PY) -m scripts.admin $(ARGS)

up:  ## the local stack in Docker: LocalStack, PostgreSQL, the topology, the three services on http://localhost:6400; its key in var/stack-api-key
	$(COMPOSE) up --build --detach --wait --wait-timeout 300
	COMPOSE="$(COMPOSE)" scripts/stack_key.sh

down:  ## stop the local stack (ARGS=--volumes also drops its database)
	$(COMPOSE) down $(ARGS)

logs:  ## follow the local stack's logs (ARGS=todo-api for one service)
	$(COMPOSE) logs --follow $(ARGS)

test-localstack: $(STAMP)  ## the tests marked localstack (e2e, DLQ, contracts) against LocalStack on this host (needs Python 3.13+; installs .venv-localstack)
	scripts/localstack.sh $(PY) -m pytest -m localstack tests $(ARGS)

check-terraform:  ## terraform fmt (when installed) and checkov on terraform/, checkov in its own .venv-checkov
	if command -v terraform >/dev/null; then terraform fmt -check -recursive terraform; fi
	test -x .venv-checkov/bin/checkov || (python3 -m venv .venv-checkov && .venv-checkov/bin/pip install --quiet checkov)
	.venv-checkov/bin/checkov -d terraform --framework terraform --quiet --compact --skip-download

clean:  ## remove local state
	rm -rf var/*.db var/blobs
