#!/usr/bin/env bash
# Run a command against LocalStack started on this host, without Docker:
#   scripts/localstack.sh [COMMAND...]
# Installs LocalStack into its own virtual environment if missing (it needs Python 3.13+ and pins
# an older botocore than the product, so it cannot share .venv), starts it on 127.0.0.1:4566,
# waits until it is healthy, runs COMMAND with TEST_AWS_ENDPOINT_URL set (the tests' switch from
# moto to another AWS endpoint), and stops it afterwards whatever happened. Without a command it
# only installs.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${LOCALSTACK_VENV:-.venv-localstack}
HOST=127.0.0.1
PORT=${LOCALSTACK_PORT:-4566}
ENDPOINT="http://$HOST:$PORT"
START_TIMEOUT_S=${LOCALSTACK_START_TIMEOUT_S:-120}
LOG=${LOCALSTACK_LOG:-var/localstack.log}
# the versions seen working together on the host; LocalStack's own pins are older than these
PACKAGES=(
  "localstack-core[runtime]==2026.3.0"
  "cbor2<6"
  "cryptography<44"
  "pyopenssl<24.3"
  "service_identity"
)

fail() { echo "localstack: $*" >&2; exit 1; }

# localstack-core 2026.3.0 says Python >= 3.10 but imports warnings.deprecated, new in 3.13
is_modern_python() {
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' >/dev/null 2>&1
}

# Python 3.13 or newer: on PATH (pyenv shims of inactive versions fail the probe), then pyenv's
find_python() {
  local candidate
  for candidate in python3.13 python3.14 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && is_modern_python "$candidate"; then
      command -v "$candidate"; return 0
    fi
  done
  local root=${PYENV_ROOT:-$HOME/.pyenv}
  if command -v pyenv >/dev/null 2>&1; then root=$(pyenv root); fi
  for candidate in "$root"/versions/3.1[3-9]*/bin/python3; do
    if [[ -x "$candidate" ]] && is_modern_python "$candidate"; then echo "$candidate"; return 0; fi
  done
  return 1
}

install_venv() {
  if [[ -f "$VENV/.installed" ]] && is_modern_python "$VENV/bin/python"; then return 0; fi
  local python
  python=$(find_python) || fail "LocalStack needs Python 3.13 or newer and none was found \
(looked for python3.13/python3.14/python3 on PATH and under \$(pyenv root)/versions). \
Install one, e.g. 'pyenv install 3.13', and run this again."
  echo "localstack: installing into $VENV with $("$python" -V)"
  rm -rf "$VENV"
  "$python" -m venv "$VENV"
  # never committed, whatever the repository's .gitignore says
  echo '*' >"$VENV/.gitignore"
  # pip's warnings about this machine's unused local indexes would drown the real errors
  "$VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -m pip install --quiet "${PACKAGES[@]}" 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -c 'import localstack.aws.components' || fail "the install in $VENV does not import"
  touch "$VENV/.installed"
}

healthy() {
  "$VENV/bin/python" - "$ENDPOINT" <<'EOF' >/dev/null 2>&1
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/_localstack/health", timeout=2) as answer:
    services = json.load(answer)["services"]
sys.exit(0 if all(services.get(name) in ("available", "running") for name in ("sns", "sqs", "s3")) else 1)
EOF
}

port_taken() {
  "$VENV/bin/python" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('$HOST', $PORT)) != 0)"
}

LOCALSTACK_PID=""
stop_localstack() {
  [[ -n "$LOCALSTACK_PID" ]] || return 0
  kill -TERM "$LOCALSTACK_PID" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$LOCALSTACK_PID" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL "$LOCALSTACK_PID" 2>/dev/null || true
}

start_localstack() {
  port_taken && fail "$HOST:$PORT is already in use (is 'make run' or another LocalStack running?)"
  mkdir -p "$(dirname "$LOG")" var/localstack
  echo "localstack: starting on $ENDPOINT (log: $LOG)"
  # loopback only: no DNS server (it would bind port 53 and look up localstack.cloud), no
  # analytics, no certificate download. IN_MEMORY_CLIENT: SNS hands a message to its SQS
  # subscribers in process instead of over HTTP to itself (README, Performance: a publish costs
  # LocalStack about 2 ms less CPU, and each SNS-to-SQS hop about 2 ms less time)
  GATEWAY_LISTEN="$HOST:$PORT" SERVICES=sns,sqs,s3 EAGER_SERVICE_LOADING=1 DNS_ADDRESS=0 \
    DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 LOCALSTACK_VOLUME_DIR="$PWD/var/localstack" \
    IN_MEMORY_CLIENT=${LOCALSTACK_IN_MEMORY_CLIENT:-1} \
    "$VENV/bin/python" -m localstack.runtime.main >"$LOG" 2>&1 &
  LOCALSTACK_PID=$!
  trap stop_localstack EXIT
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until healthy; do
    kill -0 "$LOCALSTACK_PID" 2>/dev/null || { tail -n 40 "$LOG" >&2; fail "exited at start"; }
    ((SECONDS < deadline)) || { tail -n 40 "$LOG" >&2; fail "not healthy in ${START_TIMEOUT_S}s"; }
    sleep 1
  done
  echo "localstack: healthy at $ENDPOINT"
}

install_venv
[[ $# -gt 0 ]] || exit 0
start_localstack
TEST_AWS_ENDPOINT_URL="$ENDPOINT" "$@"
