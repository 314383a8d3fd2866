#!/usr/bin/env bash
# POST → settled latency under a steady load, outside any outage, repeated: for each rate, runs
# `pipeline_demo --outage 0s` REPS times (gateway without declines or transient failures, so the
# figures are the pipeline's, not the retry delays) and prints min / median / max of p50, p99,
# max and the rate reached. Needs the stack up (make up) and the release build.
# Usage: scripts/demo-latency.sh [ORDERS] [REPS] RATE...   e.g. scripts/demo-latency.sh 5000 3 100 500
set -euo pipefail
cd "$(dirname "$0")/.."
orders=${1:-5000}; reps=${2:-3}; shift $(( $# < 2 ? $# : 2 ))
rates=("${@:-500}")
set -a; source .stack/env; set +a
out=.stack/logs/demo-latency; mkdir -p "$out"
for rate in "${rates[@]}"; do
  for rep in $(seq 1 "$reps"); do
    target/release/pipeline_demo --no-progress --orders "$orders" --rate "$rate" --outage 0s \
      --decline-rate 0 --transient-failure-rate 0 --summary-json "$out/rate-$rate-run-$rep.json" \
      >"$out/rate-$rate-run-$rep.log" 2>&1 || { echo "run failed: $out/rate-$rate-run-$rep.log"; exit 1; }
  done
  python3 - "$out" "$rate" "$reps" "$orders" <<'PY'
import json, statistics, sys
out, rate, reps, orders = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
runs = [json.load(open(f"{out}/rate-{rate}-run-{i}.json")) for i in range(1, reps + 1)]
def row(name, values, unit):
    v = sorted(values)
    return f"| {rate}/s | {name} | {v[0]:.0f}{unit} | {statistics.median(v):.0f}{unit} | {v[-1]:.0f}{unit} |"
lat = [r["latency_outside_outage"] for r in runs]
print(f"# {orders} orders x {reps} runs at {rate}/s: min / median / max")
print(row("POST → settled p50", [l["p50_ms"] for l in lat], " ms"))
print(row("POST → settled p99", [l["p99_ms"] for l in lat], " ms"))
print(row("POST → settled max", [l["max_ms"] for l in lat], " ms"))
print(row("POST → 201 p99", [r["post_latency"]["p99_ms"] for r in runs], " ms"))
print(row("rate reached", [(r["orders"] - 1) / r["placement_seconds"] for r in runs], "/s"))
PY
done
