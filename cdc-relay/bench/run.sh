#!/usr/bin/env bash
# cdc-relay benchmark against the local stack (`make up`).
#   (a) drain a backlog of ROWS outbox rows (~300-byte payloads): relay vs pg_recvlogical
#   (b) commit→ack latency at steady 1,000 and 3,000 events/s
# Usage: cdc-relay/bench/run.sh [--rows N] [--latency-seconds S] [--skip-latency]
set -euo pipefail
ROWS=1000000
LAT_SECONDS=20
SKIP_LATENCY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --latency-seconds) LAT_SECONDS=$2; shift 2 ;;
    --skip-latency) SKIP_LATENCY=1; shift ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PG_HOST=127.0.0.1 PG_PORT=${PG_PORT:-54329}
ADMIN="postgres://postgres:postgres@$PG_HOST:$PG_PORT/postgres"
BOOT=${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}
ID=$(date +%s)
DB=relay_bench_$ID
URL="postgres://pipeline:pipeline@$PG_HOST:$PG_PORT/$DB"
PREFIX=bench.$ID
OUT=${BENCH_OUT:-/tmp/cdc-relay-bench-$ID}
mkdir -p "$OUT"
psql_admin() { PGPASSWORD=postgres psql -h $PG_HOST -p $PG_PORT -U postgres -qAt -v ON_ERROR_STOP=1 "$@"; }
psql_db() { PGPASSWORD=pipeline psql -h $PG_HOST -p $PG_PORT -U pipeline -d "$DB" -qAt -v ON_ERROR_STOP=1 "$@"; }

cargo build --release -p cdc-relay --bin cdc-relay --example cdc-relay-bench >"$OUT/build.log" 2>&1
RELAY=target/release/cdc-relay
BENCH=target/release/examples/cdc-relay-bench

# SIGTERM the relay (the child of /usr/bin/time when timed) and wait for it.
stop_relay() {
  [ -n "${RELAY_PID:-}" ] || return 0
  local child
  child=$(pgrep -P "$RELAY_PID" || true)
  kill -TERM "${child:-$RELAY_PID}" 2>/dev/null || true
  wait "$RELAY_PID" 2>/dev/null || true
  RELAY_PID=
}
cleanup() {
  stop_relay
  psql_admin -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$DB' AND active_pid IS NULL" >/dev/null || true
  psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true
}
trap cleanup EXIT

psql_admin -c "CREATE DATABASE $DB OWNER pipeline"
psql_db -f eventing/sql/outbox_table.sql
psql_db -c "CREATE PUBLICATION bench_pub FOR TABLE outbox"
# Both slots exist before the backlog is written, so both see all of it.
psql_db -c "SELECT pg_create_logical_replication_slot('bench_relay', 'pgoutput')" >/dev/null
psql_db -c "SELECT pg_create_logical_replication_slot('bench_recv', 'pgoutput')" >/dev/null
$BENCH create-topic --topic "$PREFIX.order" --partitions 6 --bootstrap "$BOOT"

echo "== seeding $ROWS rows"
$BENCH seed --database-url "$URL" --rows "$ROWS"
END_LSN=$(psql_db -c "SELECT pg_current_wal_lsn()")
echo "backlog ends at $END_LSN"

echo "== (a) pg_recvlogical draining the backlog"
/usr/bin/time -v -o "$OUT/recvlogical.time" pg_recvlogical -d "$URL" --slot bench_recv --start \
  -o proto_version=1 -o publication_names=bench_pub --endpos "$END_LSN" -f /dev/null --no-loop
grep -E "Elapsed|User time|System time|Maximum resident" "$OUT/recvlogical.time"

echo "== (a) cdc-relay draining the backlog"
PORT=18090
/usr/bin/time -v -o "$OUT/relay.time" $RELAY --database-url "$URL" --slot-name bench_relay \
  --publication bench_pub --topic-template "$PREFIX.{aggregatetype}" --ops-addr 127.0.0.1:$PORT \
  --kafka-bootstrap-servers "$BOOT" >"$OUT/relay.log" 2>&1 &
RELAY_PID=$!
SECS=$($BENCH wait-metric --port $PORT --name cdc_relay_events_total --at-least "$ROWS")
stop_relay
echo "relay: $ROWS events in $SECS s (incl. start-up) = $(awk "BEGIN{printf \"%.0f\", $ROWS/$SECS}") events/s"
grep -E "Elapsed|User time|System time|Maximum resident" "$OUT/relay.time"

if [ "$SKIP_LATENCY" = 0 ]; then
  for RATE in 1000 3000; do
    echo "== (b) latency at $RATE events/s for $LAT_SECONDS s"
    PORT=$((18091 + RATE / 1000))
    $RELAY --database-url "$URL" --slot-name bench_relay --publication bench_pub \
      --topic-template "$PREFIX.{aggregatetype}" --ops-addr 127.0.0.1:$PORT \
      --kafka-bootstrap-servers "$BOOT" >"$OUT/relay-$RATE.log" 2>&1 &
    RELAY_PID=$!
    $BENCH latency --database-url "$URL" --topic "$PREFIX.order" --rate $RATE --seconds "$LAT_SECONDS" --bootstrap "$BOOT"
    echo "commit → Kafka ack, measured inside the relay (Postgres commit timestamp → delivery"
    echo "report), histogram cdc_relay_commit_to_ack_seconds of this run:"
    curl -s "127.0.0.1:$PORT/metrics" | awk -v metric=cdc_relay_commit_to_ack_seconds -f cdc-relay/bench/histogram.awk
    stop_relay
  done
fi
echo "outputs in $OUT"
