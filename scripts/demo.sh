#!/usr/bin/env bash
# `make demo`: the main job on the local stack (started by `make up`, env from .stack/env).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== stack"
bash deploy/local/stack.sh status
echo
echo "== what runs today"
echo "  the stack above (Postgres with logical replication, Kafka 4 KRaft, Apicurio Registry),"
echo "  topics from deploy/topics.csv, the Avro contracts registered through the codec:"
cargo test -q -p e2e-tests --test foundation every_contract_round_trips_through_the_registry_codec 2>&1 | tail -n 2
curl -sf "$SCHEMA_REGISTRY_URL/subjects" && echo
echo
echo "== not built yet: order-producer, cdc-relay, payment-processor, dlq-handler business logic"
