.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help install run test check fmt pytest bench clean queue-demo replay

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its dev tools

run: $(STAMP)  ## run the whole system on the embedded defaults (SQLite + in-process AWS emulator)
	$(PY) -m services.embedded

check: $(STAMP)  ## lint, format check, type check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared services scripts tests

fmt: $(STAMP)  ## format and auto-fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

pytest: $(STAMP)
	$(PY) -m pytest $(ARGS)

test: check pytest  ## check, then the whole test suite (unit, integration, e2e)

bench: $(STAMP)  ## print performance figures
	$(PY) -m bench $(ARGS)

queue-demo: $(STAMP)  ## the practical's SQS queue demo, e.g. make queue-demo ARGS="--name csse6400_prac --client-name alice"
	$(PY) -m scripts.queue_demo $(ARGS)

replay: $(STAMP)  ## operator tools: make replay ARGS="status" (README, Operations)
	$(PY) -m scripts.replay $(ARGS)

clean:  ## remove local state
	rm -rf var/*.db var/blobs
