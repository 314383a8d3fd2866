#!/usr/bin/env bash
# `make demo [DEMO_ARGS="--orders 5000 --rate 100 --outage 20s --keep"]`: the main job.
# Starts the local stack when it is not running (and stops it again at the end unless --keep),
# builds the release binaries, and runs the demo driver (tests/src/bin/pipeline_demo.rs), which
# starts every service, places the orders, stops the payment processor part-way, waits until
# every order settles and prints the summary. Exit status: the driver's (1 = a promise broken).
# `target/release/pipeline_demo --help` lists every flag.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK=deploy/local/stack.sh

keep=false
for arg in "$@"; do
  [ "$arg" = --keep ] && keep=true
  # The demo on the 3-broker cluster: the stack starts it too.
  [ "$arg" = --kafka-cluster ] && export KAFKA_NODES=3
done

# Running before we started? Then it is not ours to stop.
was_up=false cluster_was_up=false
status="$(bash "$STACK" status 2>&1 || true)"
if [ "$(grep -cE "^\[stack\] (kafka|registry|postgres): running" <<<"$status")" = 3 ]; then was_up=true; fi
if grep -q "^\[stack\] kafka cluster node 100: running" <<<"$status"; then cluster_was_up=true; fi

stop_stack() {
  [ "$keep" = false ] || return 0
  if [ "$was_up" = false ]; then
    echo "== stopping the stack this demo started (make demo DEMO_ARGS=--keep leaves it up)"
    bash "$STACK" down || true
  elif [ "${KAFKA_NODES:-1}" = 3 ] && [ "$cluster_was_up" = false ]; then
    echo "== stopping the 3-broker cluster this demo started (--keep leaves it up)"
    bash "$STACK" cluster-down || true
  fi
}
trap stop_stack EXIT

echo "== starting the local stack (PostgreSQL, Kafka, Apicurio Registry)"
bash "$STACK" up
echo "== building the release binaries"
cargo build --release --workspace --bins
set -a
# shellcheck disable=SC1091
source .stack/env
set +a
target/release/pipeline_demo "$@"
