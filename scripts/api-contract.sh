#!/usr/bin/env bash
# The API contract check (part of `make test`; alone: `make api-contract`): schemathesis, pinned,
# from PyPI into .stack/venv (installed once, reused after), runs against a real order-producer
# (the built debug binary, on a free port, with its own fresh database on the local stack, no
# Kafka consumer) and its served /openapi.json, in positive and negative mode, with every check.
# Any failure fails the run. Its last line is a cargo-style "test result:" line that
# scripts/test-summary.sh counts (the whole check as one test).
#
# Settings (env): API_CONTRACT_MAX_EXAMPLES (default 100 per operation and phase),
# API_CONTRACT_SEED (default fixed, so a run is reproducible; set another to explore),
# ORDER_PRODUCER_BIN (default target/debug/order-producer). Needs the stack's env
# (ORDERS_DATABASE_URL, POSTGRES_ADMIN_URL, SCHEMA_REGISTRY_URL): `set -a; source .stack/env`.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
venv=.stack/venv
max_examples=${API_CONTRACT_MAX_EXAMPLES:-100}
seed=${API_CONTRACT_SEED:-20261126}
binary=${ORDER_PRODUCER_BIN:-target/debug/order-producer}
logs=.stack/logs
mkdir -p "$logs"

result() { # $1 = ok|FAILED
  echo "api contract (schemathesis):"
  if [ "$1" = ok ]; then
    echo "test result: ok. 1 passed; 0 failed; 0 ignored"
  else
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored"
  fi
}
fail() {
  echo "api-contract: $*" >&2
  result FAILED
  exit 1
}

for var in ORDERS_DATABASE_URL POSTGRES_ADMIN_URL SCHEMA_REGISTRY_URL; do
  [ -n "${!var:-}" ] || fail "$var is not set: start the stack with \`make up\` and source .stack/env"
done
[ -x "$binary" ] || fail "$binary not found: build it with \`cargo build -p order-producer\`"

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION"; then
  echo "api-contract: installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv" || fail "python3 -m venv failed"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
    || fail "pip install schemathesis==$SCHEMATHESIS_VERSION failed"
fi

# An isolated database (dropped on exit), on the same server and with the same credentials
# and parameters as the stack's orders database.
db="api_contract_$(date +%s)_$$"
base=${ORDERS_DATABASE_URL%%\?*}
query=${ORDERS_DATABASE_URL#"$base"}
database_url="${base%/*}/$db$query"
owner=$(psql "$ORDERS_DATABASE_URL" -qtAX -c "SELECT current_user") \
  || fail "Postgres unreachable: start the stack with \`make up\`"
psql "$POSTGRES_ADMIN_URL" -qtAX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db OWNER \"$owner\"" >/dev/null \
  || fail "cannot create database $db"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$logs/api-contract-order-producer.log"
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  psql "$POSTGRES_ADMIN_URL" -qtAX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$binary" --listen-addr "127.0.0.1:$port" --database-url "$database_url" --disable-consumer \
  --schema-registry-url "$SCHEMA_REGISTRY_URL" --log-format json >"$log" 2>&1 &
pid=$!

base_url="http://127.0.0.1:$port"
deadline=$((SECONDS + 60))
until curl -fsS -o /dev/null "$base_url/readyz" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || fail "order-producer exited; its log: $log"
  [ $SECONDS -lt $deadline ] || fail "order-producer not ready after 60 s; its log: $log"
  sleep 0.2
done

# Every check, both modes, every phase (examples, coverage, fuzzing, stateful). No check is
# excluded: where a check and the server disagreed, the server or the document was fixed.
status=0
timeout 900 "$venv/bin/schemathesis" run "$base_url/openapi.json" \
  --checks all --mode all \
  --max-examples "$max_examples" --seed "$seed" \
  --workers 2 --request-timeout 10 \
  --generation-database none \
  --report junit,har --report-junit-path "$logs/api-contract-junit.xml" --report-har-path "$logs/api-contract.har" \
  --no-color || status=$?
if [ "$status" -ne 0 ]; then
  echo "api-contract: schemathesis found problems (exit $status); server log: $log" >&2
  result FAILED
  exit 1
fi
result ok
