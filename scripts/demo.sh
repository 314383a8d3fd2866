#!/usr/bin/env bash
# `make demo`: one order through the real pipeline on the local stack (`make up` started it and
# exported its env). Starts two cdc-relay instances (orders and payments databases),
# order-producer, the payment gateway simulator, payment-processor and dlq-handler, runs the demo driver
# (tests/src/bin/pipeline_demo.rs), stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_DIR=.stack/logs/demo
mkdir -p "$LOG_DIR"
BIN=target/debug
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # The demo's slots would otherwise hold WAL back on this Postgres for good.
  psql "$POSTGRES_ADMIN_URL" -qAt -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
    WHERE slot_name IN ('demo_orders_relay', 'demo_payments_relay') AND NOT active" >/dev/null 2>&1 || true
}
trap cleanup EXIT

wait_ready() { # NAME URL LOG
  local deadline=$(( $(date +%s) + 90 ))
  until curl -sf -o /dev/null "$2"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$1 not ready at $2 within 90 s; log: $3" >&2; tail -n 30 "$3" >&2; exit 1
    fi
    sleep 0.2
  done
  echo "   $1 ready ($2)"
}

echo "== starting the services (logs in $LOG_DIR)"
# The relays start first, on purpose: services start in any order (as on Kubernetes), and a
# relay whose outbox table does not exist yet waits for it (alive, not ready) until
# order-producer / payment-processor create it in their migrations.
"$BIN/cdc-relay" --database-url "$ORDERS_DATABASE_URL" --slot-name demo_orders_relay \
  --publication demo_orders_pub --header-column traceparent --ops-addr 127.0.0.1:8093 \
  >"$LOG_DIR/cdc-relay-orders.log" 2>&1 &
pids+=($!)
"$BIN/cdc-relay" --database-url "$PAYMENTS_DATABASE_URL" --slot-name demo_payments_relay \
  --publication demo_payments_pub --header-column traceparent --ops-addr 127.0.0.1:8094 \
  >"$LOG_DIR/cdc-relay-payments.log" 2>&1 &
pids+=($!)
ORDER_PRODUCER_LISTEN_ADDR=127.0.0.1:8080 "$BIN/order-producer" >"$LOG_DIR/order-producer.log" 2>&1 &
pids+=($!)
"$BIN/payment-gateway-sim" --listen-addr 127.0.0.1:8090 >"$LOG_DIR/payment-gateway-sim.log" 2>&1 &
pids+=($!)
"$BIN/payment-processor" --ops-addr 127.0.0.1:8082 --gateway-url http://127.0.0.1:8090 \
  >"$LOG_DIR/payment-processor.log" 2>&1 &
pids+=($!)
"$BIN/dlq-handler" --ops-addr 127.0.0.1:8083 --gateway-url http://127.0.0.1:8090 \
  >"$LOG_DIR/dlq-handler.log" 2>&1 &
pids+=($!)
wait_ready order-producer http://127.0.0.1:8080/readyz "$LOG_DIR/order-producer.log"
wait_ready payment-gateway-sim http://127.0.0.1:8090/readyz "$LOG_DIR/payment-gateway-sim.log"
wait_ready payment-processor http://127.0.0.1:8082/readyz "$LOG_DIR/payment-processor.log"
wait_ready dlq-handler http://127.0.0.1:8083/readyz "$LOG_DIR/dlq-handler.log"
wait_ready "cdc-relay (orders)" http://127.0.0.1:8093/readyz "$LOG_DIR/cdc-relay-orders.log"
wait_ready "cdc-relay (payments)" http://127.0.0.1:8094/readyz "$LOG_DIR/cdc-relay-payments.log"

"$BIN/pipeline_demo" run

echo
echo "== relay metrics (orders instance)"
curl -sf http://127.0.0.1:8093/metrics | grep -E '^cdc_relay_(events_total|slot_lag_bytes|in_flight)' || true
