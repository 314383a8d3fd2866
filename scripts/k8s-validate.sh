#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests (part of `make test`; alone: `make k8s-validate`).
# Needs no cluster and no stack. Every tool is pinned and installs itself once under .stack/:
#   kustomize (go install, .stack/bin), kubernetes-validate and checkov (PyPI, .stack/venv-k8s),
#   Strimzi's Java model (Maven Central, ~/.m2; classpath and classes in .stack/k8s-validate),
#   the operators' Go types (Go module proxy; binary .stack/bin/k8s-operators-validate).
# Steps, for each overlay (dev, prod) rendered to .stack/k8s/<overlay>.yaml:
#   1. every object strictly against its schema (deploy/k8s/validate/validate.py objects):
#      built-in kinds with kubernetes-validate (Kubernetes $KUBERNETES_VERSION), Strimzi's with
#      Strimzi's Java model, KEDA / prometheus-operator with their Go types,
#      CloudNativePG against its published CRD schema (pinned in deploy/k8s/validate/crds);
#      an object no validator handles fails;
#   2. checkov policies over the rendered overlays and the Dockerfile: zero failed checks (skips
#      only as annotations in the manifests, with a reason, or in GLOBAL_SKIPS below);
#   3. the rendered KafkaTopics equal deploy/topics.csv (prod: replicas 3, min.insync.replicas 2;
#      dev: 1 and 1); deploy/k8s/generate-topics.py --check; deploy/k8s/check-image.py.
# `--self-test` runs the negative controls instead: every bad fixture in
# deploy/k8s/validate/testdata is rejected by the validator meant to catch it, and the good one
# passes. The last line is a cargo-style "test result:" line that scripts/test-summary.sh counts.
#
# Settings (env): K8S_VALIDATE_ROOT (default: this checkout) is where deploy/ and the
# Dockerfile are read from.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

KUSTOMIZE_VERSION=v5.7.1
KUBERNETES_VALIDATE_VERSION=1.37.0
CHECKOV_VERSION=3.3.30
KUBERNETES_VERSION=1.33.0 # the schemas kubernetes-validate checks against (it bundles 1.x up to 1.37)
# checkov checks skipped everywhere, each with its reason. Keep this short: a finding that
# applies to one object is skipped by an annotation on that object, with its reason.
GLOBAL_SKIPS=(
)

root=${K8S_VALIDATE_ROOT:-$repo}
bin=$repo/.stack/bin
venv=$repo/.stack/venv-k8s
work=$repo/.stack/k8s-validate
out=$repo/.stack/k8s
logs=$repo/.stack/logs
validate_dir=$repo/deploy/k8s/validate
mkdir -p "$bin" "$work" "$out" "$logs"
mode=run
case "${1:-}" in
  "") ;;
  --self-test) mode=self-test ;;
  *) echo "usage: $0 [--self-test]" >&2; exit 2 ;;
esac
label="k8s manifests validation"
[ "$mode" = self-test ] && label="k8s validation self-test (negative controls)"

result() { # $1 = ok|FAILED, $2 passed, $3 failed
  echo "$label:"
  if [ "$1" = ok ]; then
    echo "test result: ok. $2 passed; 0 failed; 0 ignored"
  else
    echo "test result: FAILED. $2 passed; $3 failed; 0 ignored"
  fi
}
fail() {
  echo "k8s-validate: $*" >&2
  result FAILED 0 1
  exit 1
}

# --- Tools (each installed only when missing or of another version; in parallel) -------------
started=$SECONDS
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

install_kustomize() {
  if ! "$bin/kustomize" version 2>/dev/null | grep -qx "$KUSTOMIZE_VERSION"; then
    echo "k8s-validate: installing kustomize $KUSTOMIZE_VERSION into .stack/bin"
    GOBIN=$bin GOTOOLCHAIN=local go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  fi
}
install_python_tools() {
  if ! { "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -q "$KUBERNETES_VALIDATE_VERSION" \
      && "$venv/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; }; then
    echo "k8s-validate: installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and checkov $CHECKOV_VERSION into .stack/venv-k8s"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "checkov==$CHECKOV_VERSION"
  fi
}
build_operators() { # rebuilt when its sources change
  local h; h=$(hash_of "$validate_dir"/operators/go.mod "$validate_dir"/operators/go.sum "$validate_dir"/operators/*.go)
  if [ "$(cat "$work/operators.hash" 2>/dev/null)" != "$h" ] || [ ! -x "$bin/k8s-operators-validate" ]; then
    echo "k8s-validate: building the operators' Go type decoder"
    (cd "$validate_dir/operators" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -o "$bin/k8s-operators-validate" .)
    echo "$h" >"$work/operators.hash"
  fi
}
build_strimzi() { # classpath resolved once per pom (offline after), class compiled once per source
  local h; h=$(hash_of "$validate_dir"/strimzi/pom.xml "$validate_dir"/strimzi/StrictStrimzi.java)
  local jar stale=
  if [ -s "$work/strimzi.classpath" ]; then # a cleaned Maven repository makes the classpath stale
    while IFS= read -r jar; do [ -f "$jar" ] || stale=1; done < <(tr ':' '\n' <"$work/strimzi.classpath")
  fi
  if [ "$(cat "$work/strimzi.hash" 2>/dev/null)" != "$h" ] || [ ! -s "$work/strimzi.classpath" ] || [ -n "$stale" ]; then
    echo "k8s-validate: resolving Strimzi's Java model (Maven) and compiling StrictStrimzi"
    local offline=; [ -s "$work/strimzi.classpath" ] && [ -z "$stale" ] && offline=-o
    (cd "$validate_dir/strimzi" && { mvn -q -B $offline dependency:build-classpath -Dmdep.outputFile="$work/strimzi.classpath" \
      || mvn -q -B dependency:build-classpath -Dmdep.outputFile="$work/strimzi.classpath"; })
    rm -rf "$work/strimzi-classes"
    javac -nowarn -d "$work/strimzi-classes" -cp "$(cat "$work/strimzi.classpath")" "$validate_dir/strimzi/StrictStrimzi.java"
    echo "$h" >"$work/strimzi.hash"
  fi
}
pids=() names=()
for step in install_kustomize install_python_tools build_operators build_strimzi; do
  "$step" >"$logs/k8s-validate-$step.log" 2>&1 &
  pids+=($!) names+=("$step")
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { cat "$logs/k8s-validate-${names[$i]}.log" >&2; fail "${names[$i]} failed (log: .stack/logs/k8s-validate-${names[$i]}.log)"; }
  grep -h '^k8s-validate:' "$logs/k8s-validate-${names[$i]}.log" || true
done
echo "k8s-validate: tools ready in $((SECONDS - started)) s: kustomize $KUSTOMIZE_VERSION, kubernetes-validate $KUBERNETES_VALIDATE_VERSION (Kubernetes $KUBERNETES_VERSION), checkov $CHECKOV_VERSION, Strimzi api $(sed -n 's:.*<strimzi.version>\(.*\)</strimzi.version>.*:\1:p' "$validate_dir/strimzi/pom.xml"), $(cd "$validate_dir/operators" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go list -m -f '{{.Path}} {{.Version}}' github.com/kedacore/keda/v2 github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring github.com/prometheus/prometheus | sed 's:github.com/kedacore/keda/v2:KEDA:; s:github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring:prometheus-operator:; s:github.com/prometheus/prometheus:PromQL parser:' | paste -sd, | sed 's/,/, /g')"

py=$venv/bin/python
objects() { # $1 = rendered file
  "$py" "$validate_dir/validate.py" objects "$1" --kubernetes-version "$KUBERNETES_VERSION" \
    --strimzi "[\"java\", \"-cp\", \"$work/strimzi-classes:$(cat "$work/strimzi.classpath")\", \"StrictStrimzi\"]" \
    --operators "$bin/k8s-operators-validate"
}
policies() { # files...; kubernetes and dockerfile frameworks
  local args=() f skip
  for f in "$@"; do args+=(-f "$f"); done
  for skip in "${GLOBAL_SKIPS[@]}"; do args+=(--skip-check "${skip%%:*}"); done
  BC_SKIP_MAPPING=TRUE CHECKOV_NO_GUIDE=TRUE "$venv/bin/checkov" --quiet --compact --skip-download \
    --framework kubernetes dockerfile "${args[@]}"
}
topics() { # $1 rendered, $2 csv, $3 replicas, $4 min.insync.replicas
  "$py" "$validate_dir/validate.py" topics "$1" "$2" --replicas "$3" --min-insync "$4"
}

# --- Self-test: the negative controls --------------------------------------------------------
if [ "$mode" = self-test ]; then
  td=$validate_dir/testdata
  passed=0 failed=0
  expect() { # $1 name, $2 want (pass|reject), $3 grep -E pattern the output must hold, rest: command
    local name=$1 want=$2 pattern=$3 status=0 output; shift 3
    output=$("$@" 2>&1) || status=$?
    if [ "$want" = pass ] && [ $status -eq 0 ]; then
      echo "self-test ok: $name passes"; passed=$((passed + 1))
    elif [ "$want" = reject ] && [ $status -ne 0 ] && grep -qE -- "$pattern" <<<"$output"; then
      echo "self-test ok: $name rejected: $(grep -E -m1 -- "$pattern" <<<"$output" | sed 's/^ *//')"; passed=$((passed + 1))
    else
      echo "SELF-TEST FAILED: $name: expected $want (pattern: $pattern), got exit $status; output:"; echo "$output" | tail -40
      failed=$((failed + 1))
    fi
  }
  expect "good objects" pass "" objects "$td/good.yaml"
  expect "good objects' policies" pass "" policies "$td/good.yaml"
  expect "good topics" pass "" topics "$td/good-topics.yaml" "$td/topics.csv" 3 2
  expect "Deployment with an unknown field" reject \
    '\[kubernetes-validate\] Deployment/bad-unknown-field: .*imagePullPolicyy' objects "$td/bad-deployment-unknown-field.yaml"
  expect "KafkaTopic with an unknown spec field" reject \
    '\[strimzi-java-model\] KafkaTopic/bad-unknown-field: field spec.partitionCount' objects "$td/bad-kafkatopic-unknown-field.yaml"
  expect "KafkaUser with an unknown nested field" reject \
    '\[strimzi-java-model\] KafkaUser/bad-nested: field spec.authorization.acls\[0\].operationz' objects "$td/bad-kafkauser-nested-field.yaml"
  expect "CNPG Cluster without instances" reject \
    "\\[crd-schema\\] Cluster/bad-no-instances: field spec: 'instances' is a required property" objects "$td/bad-cnpg-missing-instances.yaml"
  expect "CNPG Cluster with a misspelled field" reject \
    "\\[crd-schema\\] Cluster/bad-misspelled: field spec: Additional properties are not allowed \\('instance' was unexpected\\)" objects "$td/bad-cnpg-misspelled.yaml"
  expect "CNPG Cluster with a misspelled nested field" reject \
    "\\[crd-schema\\] Cluster/bad-nested: field spec.replicationSlots.highAvailability: Additional properties are not allowed \\('enabledd' was unexpected\\)" objects "$td/bad-cnpg-nested-field.yaml"
  expect "CNPG Cluster with a value its schema forbids" reject \
    "\\[crd-schema\\] Cluster/bad-value: field spec.instances: 0 is less than the minimum of 1" objects "$td/bad-cnpg-value.yaml"
  expect "ServiceMonitor with an unknown field" reject \
    '\[operators-go-types\] ServiceMonitor/bad-unknown-field: unknown field "intervall"' objects "$td/bad-servicemonitor-unknown-field.yaml"
  expect "PrometheusRule with an expression that is not PromQL" reject \
    '\[operators-go-types\] PrometheusRule/bad-promql: field spec.groups\[0\].rules\[0\].expr: not valid PromQL' objects "$td/bad-prometheusrule-promql.yaml"
  expect "ScaledObject without triggers" reject \
    '\[operators-go-types\] ScaledObject/bad-no-triggers: field spec.triggers' objects "$td/bad-scaledobject-no-triggers.yaml"
  expect "a kind no validator handles" reject \
    '\[no validator\] Certificate/bad-unknown-kind' objects "$td/bad-unknown-kind.yaml"
  expect "privileged pod (checkov)" reject \
    'CKV_K8S_16' policies "$td/bad-privileged-pod.yaml"
  expect "topics not matching the CSV" reject \
    'KafkaTopic/payments.dlq: field spec.config.retention.ms' topics "$td/bad-topics.yaml" "$td/topics.csv" 3 2
  expect "topic missing from the manifests" reject \
    'topic cdc.errors of .* has no KafkaTopic' topics "$td/bad-topics.yaml" "$td/topics.csv" 3 2
  echo "k8s-validate --self-test: $passed passed, $failed failed in $((SECONDS - started)) s"
  if [ $failed -eq 0 ]; then result ok "$passed" 0; exit 0; fi
  result FAILED "$passed" "$failed"; exit 1
fi

# --- The real validation ---------------------------------------------------------------------
[ -d "$root/deploy/k8s/overlays" ] || fail "$root/deploy/k8s/overlays not found"
problems=() checked=0
check() { # $1 name, rest: command
  local name=$1; shift
  echo "== $name"
  checked=$((checked + 1))
  if ! "$@"; then problems+=("$name"); fi
}
rendered=()
for overlay in dev prod; do
  dir=$root/deploy/k8s/overlays/$overlay
  if [ ! -d "$dir" ]; then problems+=("overlay $overlay missing ($dir)"); continue; fi
  if "$bin/kustomize" build "$dir" >"$out/$overlay.yaml" 2>"$logs/k8s-validate-kustomize-$overlay.log"; then
    rendered+=("$out/$overlay.yaml")
    check "$overlay: objects against their schemas" objects "$out/$overlay.yaml"
  else
    cat "$logs/k8s-validate-kustomize-$overlay.log"; problems+=("kustomize build $overlay")
  fi
done
mapfile -t dockerfiles < <(cd "$root" && find . -name Dockerfile -not -path './target/*' -not -path './.stack/*' -not -path './.git/*' | sort)
[ ${#dockerfiles[@]} -gt 0 ] || problems+=("no Dockerfile found under $root")
check "policies (checkov): ${rendered[*]##*/} ${dockerfiles[*]}" policies "${rendered[@]}" "${dockerfiles[@]/#./$root}"
[ -f "$out/dev.yaml" ] && check "dev: topics equal deploy/topics.csv (replicas 1, min.insync.replicas 1)" \
  topics "$out/dev.yaml" "$root/deploy/topics.csv" 1 1
[ -f "$out/prod.yaml" ] && check "prod: topics equal deploy/topics.csv (replicas 3, min.insync.replicas 2)" \
  topics "$out/prod.yaml" "$root/deploy/topics.csv" 3 2
for tool in generate-topics.py check-image.py; do
  args=(); [ $tool = generate-topics.py ] && args=(--check)
  if [ -f "$root/deploy/k8s/$tool" ]; then
    check "deploy/k8s/$tool ${args[*]}" bash -c 'cd "$1" && shift && python3 "$@"' _ "$root" "deploy/k8s/$tool" "${args[@]}"
  else
    echo "== deploy/k8s/$tool: not present, not run"
  fi
done

echo "k8s-validate: $checked checks in $((SECONDS - started)) s; rendered: ${rendered[*]}"
if [ ${#problems[@]} -eq 0 ]; then result ok 1 0; exit 0; fi
printf 'k8s-validate FAILED: %s\n' "${problems[@]}" >&2
result FAILED 0 1
exit 1
