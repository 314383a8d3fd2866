#!/usr/bin/env bash
# Side-by-side benchmark: POST /orders through the service (order_load) vs. the same SQL
# transaction straight to Postgres (pgbench), same client count and duration, then the ratio.
#
#   order-producer/bench/run.sh [CLIENTS] [SECONDS]      (defaults: 8 clients, 10 s each)
#
# Needs the local stack (`make up`). Builds release binaries, starts order-producer on
# 127.0.0.1:$BENCH_PORT (HTTP only, no consumer) against the orders database, stops it after.
# The benchmark rows stay in the orders database (customer ids load-* and pgbench).
set -euo pipefail
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLIENTS="${1:-8}"
SECONDS_EACH="${2:-10}"
BENCH_PORT="${BENCH_PORT:-18099}"
LOG_DIR="${LOG_DIR:-/tmp/order-producer-bench}"
mkdir -p "$LOG_DIR"
cd "$REPO_DIR"
if [ -f .stack/env ]; then set -a; source .stack/env; set +a; fi
: "${ORDERS_DATABASE_URL:=postgres://pipeline:pipeline@127.0.0.1:54329/orders}"
command -v pgbench >/dev/null || { echo "pgbench not found (apt-get install postgresql-client)" >&2; exit 1; }

echo "building release binaries (log: $LOG_DIR/build.log)" >&2
cargo build --release -p order-producer --bins >"$LOG_DIR/build.log" 2>&1 \
  || { tail -n 30 "$LOG_DIR/build.log" >&2; exit 1; }

ORDER_PRODUCER_LISTEN_ADDR="127.0.0.1:$BENCH_PORT" ORDER_PRODUCER_DISABLE_CONSUMER=true \
  RUST_LOG=warn target/release/order-producer >"$LOG_DIR/service.log" 2>&1 &
SERVICE_PID=$!
trap 'kill "$SERVICE_PID" 2>/dev/null || true; wait "$SERVICE_PID" 2>/dev/null || true' EXIT
deadline=$(( $(date +%s) + 60 ))
until curl -sf -o /dev/null "http://127.0.0.1:$BENCH_PORT/readyz"; do
  kill -0 "$SERVICE_PID" 2>/dev/null || { echo "order-producer exited:" >&2; tail -n 30 "$LOG_DIR/service.log" >&2; exit 1; }
  [ "$(date +%s)" -lt "$deadline" ] || { echo "order-producer not ready in 60 s" >&2; exit 1; }
  sleep 0.2
done

echo "== service: order_load -c $CLIENTS -d $SECONDS_EACH" >&2
target/release/order_load --url "http://127.0.0.1:$BENCH_PORT" -c "$CLIENTS" -d "$SECONDS_EACH" \
  | tee "$LOG_DIR/order_load.txt"
echo "== postgres: pgbench -n -c $CLIENTS -T $SECONDS_EACH" >&2
pgbench -n -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_EACH" -r -f order-producer/bench/pgbench_order_tx.sql \
  "$ORDERS_DATABASE_URL" >"$LOG_DIR/pgbench.txt" 2>&1 || { cat "$LOG_DIR/pgbench.txt" >&2; exit 1; }
grep -E '^(tps|latency average)' "$LOG_DIR/pgbench.txt"

service_rate=$(sed -n 's/^orders_per_s=//p' "$LOG_DIR/order_load.txt")
pg_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$LOG_DIR/pgbench.txt" | head -n 1)
echo
printf 'clients=%s seconds=%s\n' "$CLIENTS" "$SECONDS_EACH"
printf 'service orders/s : %s (p50 %s ms, p99 %s ms)\n' "$service_rate" \
  "$(sed -n 's/^p50_ms=//p' "$LOG_DIR/order_load.txt")" "$(sed -n 's/^p99_ms=//p' "$LOG_DIR/order_load.txt")"
printf 'pgbench tx/s     : %s\n' "$pg_tps"
awk -v s="$service_rate" -v p="$pg_tps" 'BEGIN { if (p > 0) printf "ratio service/pgbench: %.2f\n", s / p }'
