#!/usr/bin/env bash
# Sum the "test result:" lines of cargo test logs (and of scripts/api-contract.sh and
# scripts/k8s-validate.sh, which print them in the same format: the manifests validation counts
# as one test, its --self-test as one per negative control) into one closing line:
# "N passed, N failed".
set -euo pipefail
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1); if ($(i) ~ /^ignored/) s += $(i-1) } }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$@"
