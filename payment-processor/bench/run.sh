#!/usr/bin/env bash
# payment-processor benchmark against the local stack (`make up`): how fast the release
# payment-processor drains a backlog of OrderCreated records through the gateway simulator, with
# the key-ordered runtime (`--ordering key --max-in-flight 256`) and with the baseline
# `--ordering partition` (one record in flight per partition, as a plain consumer), at each
# simulated gateway latency.
#
# Usage: payment-processor/bench/run.sh [--orders N] [--baseline-orders N] [--repeats R]
#                                       [--latencies 0ms,20ms] [--skip-baseline]
#
# Every run gets a fresh consumer group, payments schema, gateway database and retry/dead-letter
# topics; the backlog topics are shared by the runs of one invocation. Topics are named
# bench.pp.<id>.* and stay; schemas and gateway databases are dropped at exit.
set -euo pipefail
ORDERS=100000
BASELINE_ORDERS=10000
REPEATS=3
LATENCIES=0ms,20ms
SKIP_BASELINE=0
COMMAND="$0 $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --orders) ORDERS=$2; shift 2 ;;
    --baseline-orders) BASELINE_ORDERS=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --latencies) LATENCIES=$2; shift 2 ;;
    --skip-baseline) SKIP_BASELINE=1; shift ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
if [ -f .stack/env ]; then set -a; . .stack/env; set +a; fi
: "${PAYMENTS_DATABASE_URL:=postgres://pipeline:pipeline@127.0.0.1:54329/payments}"
: "${POSTGRES_ADMIN_URL:=postgres://postgres:postgres@127.0.0.1:54329/postgres}"
: "${KAFKA_BOOTSTRAP_SERVERS:=127.0.0.1:9092}"
: "${SCHEMA_REGISTRY_URL:=http://127.0.0.1:8081/apis/ccompat/v7}"
export PAYMENTS_DATABASE_URL KAFKA_BOOTSTRAP_SERVERS SCHEMA_REGISTRY_URL
# The gateway databases live next to the payments database, owned by the same user.
PG_BASE=${PAYMENTS_DATABASE_URL%/*}
ID=$(date +%s)
PREFIX=bench.pp.$ID
DBID=bench_pp_$ID
OUT=${BENCH_OUT:-/tmp/payment-processor-bench-$ID}
RESULTS=$OUT/results.tsv
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-900}
mkdir -p "$OUT"
: >"$RESULTS"

echo "== building (release)"
if ! cargo build --release -p payment-processor -p payment-gateway-sim --bins \
  --example payment-processor-bench >"$OUT/build.log" 2>&1; then
  echo "build failed, see $OUT/build.log"; tail -20 "$OUT/build.log"; exit 1
fi
PROCESSOR=target/release/payment-processor
GATEWAY=target/release/payment-gateway-sim
BENCH=target/release/examples/payment-processor-bench

psql_admin() { psql "$POSTGRES_ADMIN_URL" -qAt -v ON_ERROR_STOP=1 "$@"; }
psql_payments() { psql "$PAYMENTS_DATABASE_URL" -qAt -v ON_ERROR_STOP=1 "$@"; }

# A free 127.0.0.1 port, from $1 upwards (bounded).
free_port() {
  local port=$1
  for _ in $(seq 1 200); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    port=$((port + 1))
  done
  echo "no free port from $1" >&2; return 1
}

# SIGTERM a process we started, wait up to 30 s, then SIGKILL.
stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  echo "pid $pid still running after 30 s: SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

PROCESSOR_PID= GATEWAY_PID= SCHEMAS=() DATABASES=()
cleanup() {
  stop_pid "$PROCESSOR_PID"; PROCESSOR_PID=
  stop_pid "$GATEWAY_PID"; GATEWAY_PID=
  for schema in "${SCHEMAS[@]}"; do
    psql_payments -c "DROP SCHEMA IF EXISTS \"$schema\" CASCADE" >/dev/null 2>&1 || true
  done
  for db in "${DATABASES[@]}"; do
    psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  SCHEMAS=() DATABASES=()
}
trap cleanup EXIT

fail() { # message, log
  echo "FAILED: $1" >&2
  if [ -n "${2:-}" ]; then echo "log: $2" >&2; tail -25 "$2" >&2; fi
  exit 1
}

# Wait (bounded) for an HTTP endpoint to answer 200.
wait_ready() { # url, seconds, log
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null --max-time 2 "$1"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$1 not ready after $2 s" "$3"
    sleep 0.2
  done
}

echo "== backlog: $ORDERS orders into $PREFIX.orders (6 partitions)"
$BENCH create-topics --topic "$PREFIX.orders" --partitions 6
$BENCH produce --topic "$PREFIX.orders" --orders "$ORDERS"
if [ "$SKIP_BASELINE" = 0 ]; then
  echo "== baseline backlog: $BASELINE_ORDERS orders into $PREFIX.orders-baseline (6 partitions)"
  echo "   (the partition-at-a-time baseline drains a smaller backlog to keep runs short; events/s compare)"
  $BENCH create-topics --topic "$PREFIX.orders-baseline" --partitions 6
  $BENCH produce --topic "$PREFIX.orders-baseline" --orders "$BASELINE_ORDERS"
fi

RUN=0
# One drain: fresh gateway database + simulator, fresh group/schema/retry topics, the processor.
measure() { # latency, ordering, source topic, orders
  local latency=$1 ordering=$2 topic=$3 orders=$4
  RUN=$((RUN + 1))
  local name="r$RUN" gw_db="${DBID}_gw_r$RUN" schema="${DBID}_r$RUN"
  local gw_port ops_port gw_log="$OUT/$name.gateway.log" log="$OUT/$name.processor.log"
  gw_port=$(free_port 18390)
  psql_admin -c "CREATE DATABASE $gw_db OWNER pipeline" >/dev/null
  DATABASES+=("$gw_db")
  $GATEWAY --listen-addr "127.0.0.1:$gw_port" --database-url "$PG_BASE/$gw_db" \
    --latency "$latency" >"$gw_log" 2>&1 &
  GATEWAY_PID=$!
  wait_ready "http://127.0.0.1:$gw_port/readyz" 60 "$gw_log"
  $BENCH create-topics --topic "$PREFIX.$name.retry.5s" --topic "$PREFIX.$name.retry.30s" \
    --topic "$PREFIX.$name.dlq" --partitions 6
  ops_port=$(free_port $((gw_port + 1)))
  SCHEMAS+=("$schema")
  local started_ms
  started_ms=$(date +%s%3N)
  $PROCESSOR --ops-addr "127.0.0.1:$ops_port" --database-schema "$schema" \
    --gateway-url "http://127.0.0.1:$gw_port" --payment-deadline 1h --retry-jitter 0 \
    --source-topic "$topic" --retry-topics "$PREFIX.$name.retry.5s,$PREFIX.$name.retry.30s" \
    --dlq-topic "$PREFIX.$name.dlq" --group-id "$PREFIX.$name" \
    --ordering "$ordering" --max-in-flight ${BENCH_MAX_IN_FLIGHT:-256} >"$log" 2>&1 &
  PROCESSOR_PID=$!
  echo "-- $name: --ordering $ordering, gateway --latency $latency, $orders orders (log $log)"
  $BENCH drain --pid "$PROCESSOR_PID" --schema "$schema" --group "$PREFIX.$name" \
    --topic "$topic" --orders "$orders" --started-at-ms "$started_ms" \
    --config "$ordering@$latency" --results "$RESULTS" --clk-tck "$(getconf CLK_TCK)" \
    --timeout-secs "$DRAIN_TIMEOUT" || fail "drain $name" "$log"
  if grep -q "dead_lettered\|retried" <(curl -fsS --max-time 2 "127.0.0.1:$ops_port/metrics" \
      | grep '^payment_processor_records_total' | grep -v 'outcome="processed"'); then
    echo "   note: some records were retried or dead-lettered in $name (see $log)"
  fi
  cleanup
}

IFS=, read -r -a LATENCY_LIST <<<"$LATENCIES"
for latency in "${LATENCY_LIST[@]}"; do
  for r in $(seq 1 "$REPEATS"); do
    measure "$latency" key "$PREFIX.orders" "$ORDERS"
    if [ "$SKIP_BASELINE" = 0 ]; then
      measure "$latency" partition "$PREFIX.orders-baseline" "$BASELINE_ORDERS"
    fi
  done
done

echo
echo "== results ($REPEATS run(s) per configuration; key: $ORDERS orders, partition: $BASELINE_ORDERS orders)"
$BENCH summary --results "$RESULTS"
echo
echo "command: $COMMAND"
echo "outputs in $OUT"
