#!/usr/bin/env bash
# Layering check: no module under a service's src/domain/ may use an I/O crate. The domain is
# pure; adapters live in infrastructure/. Fails (exit 1) listing every offending line.
# Usage: scripts/check-layers.sh [ROOT]  (ROOT defaults to the repository)
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
forbidden='\b(tokio_postgres|deadpool_postgres|rdkafka|axum|reqwest|pgwire_replication|tokio::net|hyper)\b'
status=0
for domain in */src/domain; do
  [ -d "$domain" ] || continue
  if hits=$(grep -rnE "$forbidden" "$domain" --include='*.rs'); then
    printf 'layering violation: %s must stay free of I/O crates:\n%s\n' "$domain" "$hits" >&2
    status=1
  fi
done
for service in order-producer cdc-relay payment-processor dlq-handler; do
  for layer in domain application infrastructure; do
    if [ -d "$service/src/domain" ] && [ ! -d "$service/src/$layer" ]; then
      printf 'layering (warning): %s has src/domain but no src/%s yet\n' "$service" "$layer" >&2
    fi
  done
done
[ "$status" = 0 ] && echo "layering check passed: domain/ modules import no I/O crate"
exit "$status"
