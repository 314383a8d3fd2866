# Two commands for a fresh machine: `make demo` (the main job) and `make test` (everything).
# Both install and start the local stack (deploy/local/stack.sh) when it is not running.
SHELL := /bin/bash
STACK := deploy/local/stack.sh
# The env lines `make up` prints (ORDERS_DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, ...).
WITH_STACK_ENV := set -a && source .stack/env && set +a

.PHONY: up up-cluster down status demo test fmt lint check-layers build unit e2e bench-orders api-contract k8s-validate

# `make up KAFKA_NODES=3` also starts the 3-broker Kafka cluster (stack.sh: "Kafka cluster").
up:
	@bash $(STACK) up

up-cluster:
	@KAFKA_NODES=3 bash $(STACK) up

down:
	@bash $(STACK) down

status:
	@bash $(STACK) status

build:
	cargo build --workspace --bins

# The main job: `make demo DEMO_ARGS="--orders 5000 --rate 100"` (flags: target/release/pipeline_demo --help).
demo:
	@bash scripts/demo.sh $(DEMO_ARGS)

fmt:
	cargo fmt --all -- --check

check-layers:
	python3 scripts/check_layers.py

lint:
	cargo clippy --workspace --all-targets -- -D warnings

# order-producer's HTTP API against its own OpenAPI document: schemathesis (pinned, PyPI, into
# .stack/venv once), positive and negative data, every check, zero failures (scripts/api-contract.sh).
api-contract: up
	cargo build -p order-producer --bin order-producer
	@$(WITH_STACK_ENV) && bash scripts/api-contract.sh

# The Kubernetes manifests, offline (no cluster, no stack): the negative controls first
# (--self-test), then both overlays rendered and checked strictly against their schemas, checkov
# policies, topics vs deploy/topics.csv (scripts/k8s-validate.sh; tools pinned, into .stack/).
k8s-validate:
	@bash scripts/k8s-validate.sh --self-test; selftest=$$?; bash scripts/k8s-validate.sh; real=$$?; \
	  [ $$selftest -eq 0 ] && [ $$real -eq 0 ]

# Everything: stack (with the 3-broker cluster the multi-broker tests need), formatting,
# layering, clippy, all unit, property and end-to-end tests, then the API contract check and the
# Kubernetes manifests validation; the closing line sums them all.
test: up-cluster fmt check-layers lint
	cargo build --workspace --bins
	@$(WITH_STACK_ENV) && cargo test --workspace --no-fail-fast 2>&1 | tee .stack/logs/cargo-test.log; \
	  status=$${PIPESTATUS[0]}; \
	  bash scripts/api-contract.sh 2>&1 | tee .stack/logs/api-contract.log; \
	  contract=$${PIPESTATUS[0]}; \
	  { bash scripts/k8s-validate.sh --self-test; selftest=$$?; bash scripts/k8s-validate.sh; real=$$?; \
	    [ $$selftest -eq 0 ] && [ $$real -eq 0 ]; } 2>&1 | tee .stack/logs/k8s-validate.log; \
	  k8s=$${PIPESTATUS[0]}; \
	  bash scripts/test-summary.sh .stack/logs/cargo-test.log .stack/logs/api-contract.log .stack/logs/k8s-validate.log; \
	  [ $$status -eq 0 ] && [ $$contract -eq 0 ] && [ $$k8s -eq 0 ]
