#!/usr/bin/env python3
"""Offline validation of rendered Kubernetes manifests (run by scripts/k8s-validate.sh).

`objects FILE`: every document of a rendered multi-document YAML file goes to exactly one
validator, chosen by its API group:
  - built-in kinds: kubernetes-validate, strict (unknown fields are errors), against the JSON
    schemas of the pinned Kubernetes version;
  - kafka.strimzi.io: Strimzi's Java model (strimzi/StrictStrimzi.java), strict;
  - keda.sh, monitoring.coreos.com: the operators' Go types (operators/), strict;
  - postgresql.cnpg.io: CloudNativePG's published CRD schema (crds/, pinned), strict: every
    object schema that lists properties and does not preserve unknown fields gets
    additionalProperties: false (the Go module proxy does not serve CloudNativePG's types).
A document of a custom group no validator knows fails the run (no silent pass). Prints one line
per failure naming the object and field, then counts per kind and per validator.

`topics FILE CSV --replicas N --min-insync N`: the KafkaTopics of a rendered overlay equal the
rows of deploy/topics.csv (name, partitions, retention.ms, cleanup.policy), with the overlay's
replication factor and min.insync.replicas.
"""
import argparse
import collections
import csv
import json
import subprocess
import sys
import tempfile

import yaml

BUILTIN_GROUPS = {
    "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "scheduling.k8s.io", "storage.k8s.io", "coordination.k8s.io", "discovery.k8s.io",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "certificates.k8s.io", "node.k8s.io",
}
STRIMZI_GROUPS = {"kafka.strimzi.io"}
OPERATOR_GROUPS = {"keda.sh", "monitoring.coreos.com"}
# group -> the pinned CRD files (gzipped YAML) whose schemas validate its kinds
CRD_SCHEMA_GROUPS = {
    "postgresql.cnpg.io": ["crds/postgresql.cnpg.io_clusters-v1.27.4.yaml.gz"],
}


class StringTimestampLoader(yaml.SafeLoader):
    """Safe YAML, but timestamps stay strings (as the API server reads them)."""


StringTimestampLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}


def load(path):
    with open(path) as f:
        docs = [d for d in yaml.load_all(f, Loader=StringTimestampLoader) if d is not None]
    for i, d in enumerate(docs):
        if not isinstance(d, dict):
            raise SystemExit(f"{path}: document {i} is not a mapping")
    return docs


def ident(doc):
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind', '?')}/{meta.get('name', '<no name>')}"


def group_of(doc):
    api = str(doc.get("apiVersion", ""))
    return api.rsplit("/", 1)[0] if "/" in api else ""


def strict(schema):
    """The CRD's OpenAPI schema with unknown fields refused wherever it lists properties."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_validators(group):
    """{(apiVersion, kind): jsonschema validator} from the pinned CRDs of `group`."""
    import gzip
    import os

    import jsonschema

    here = os.path.dirname(os.path.abspath(__file__))
    validators = {}
    for rel in CRD_SCHEMA_GROUPS[group]:
        with gzip.open(os.path.join(here, rel), "rt") as f:
            crd = yaml.load(f, Loader=StringTimestampLoader)
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            # metadata is the API server's ObjectMeta, checked by the server, not by the CRD.
            schema.setdefault("properties", {})["metadata"] = {"type": "object"}
            validators[(f"{group}/{version['name']}", kind)] = (
                jsonschema.Draft7Validator(schema), f"{os.path.basename(rel)}")
    return validators


def run_crd_schema(docs, failures, counts):
    by_group = collections.defaultdict(list)
    for d in docs:
        by_group[group_of(d)].append(d)
    for group, group_docs in by_group.items():
        validators = crd_validators(group)
        for d in group_docs:
            found = validators.get((d.get("apiVersion"), d.get("kind")))
            if found is None:
                failures.append(f"[crd-schema] {ident(d)}: {d.get('apiVersion')} {d.get('kind')} "
                                f"is not in the pinned CRDs of {group}")
                continue
            validator, source = found
            counts[f"crd-schema {source} strict"] += 1
            for e in sorted(validator.iter_errors(d), key=lambda e: list(map(str, e.absolute_path))):
                path = ".".join(str(p) for p in e.absolute_path) or "<root>"
                failures.append(f"[crd-schema] {ident(d)}: field {path}: {e.message}")
            # What CloudNativePG's admission webhook adds to the schema and we can check offline.
            storage = (d.get("spec") or {}).get("storage") or {}
            if d.get("kind") == "Cluster" and not (storage.get("size") or storage.get("pvcTemplate")):
                failures.append(f"[crd-schema] {ident(d)}: field spec.storage.size: required "
                                "(or spec.storage.pvcTemplate; CloudNativePG's webhook refuses neither)")


def run_typed(name, command, docs, failures, counts):
    """Runs a typed decoder (Java or Go) over docs as JSON lines; parses its ok/error lines."""
    if not docs:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")
    proc = subprocess.run(command + [f.name], capture_output=True, text=True)
    seen_ok = 0
    for line in proc.stdout.splitlines():
        if line.startswith("ok "):
            seen_ok += 1
        elif line.startswith("error "):
            failures.append(f"[{name}] {line[len('error '):]}")
    if proc.returncode not in (0, 1) or (proc.returncode == 0 and seen_ok != len(docs)):
        failures.append(f"[{name}] decoder failed (exit {proc.returncode}, {seen_ok}/{len(docs)} ok): "
                        f"{proc.stderr.strip()[-2000:]}")
    if proc.returncode == 1 and not any(x.startswith(f"[{name}]") for x in failures):
        failures.append(f"[{name}] decoder exited 1 without naming an object: {proc.stderr.strip()[-2000:]}")
    counts[name] += len(docs)


def cmd_objects(args):
    import kubernetes_validate.utils as kv

    docs = load(args.file)
    failures, per_kind, per_validator = [], collections.Counter(), collections.Counter()
    strimzi, operators, crd_schema = [], [], []
    for doc in docs:
        per_kind[f"{doc.get('apiVersion')} {doc.get('kind')}"] += 1
        group = group_of(doc)
        if group in STRIMZI_GROUPS:
            strimzi.append(doc)
        elif group in OPERATOR_GROUPS:
            operators.append(doc)
        elif group in CRD_SCHEMA_GROUPS:
            crd_schema.append(doc)
        elif group in BUILTIN_GROUPS or group.endswith(".k8s.io"):
            per_validator[f"kubernetes-validate {args.kubernetes_version} strict"] += 1
            try:
                kv.validate(doc, args.kubernetes_version, strict=True)
            except kv.SchemaNotFoundError:
                failures.append(f"[kubernetes-validate] {ident(doc)}: no schema for "
                                f"{doc.get('apiVersion')} {doc.get('kind')} in Kubernetes {args.kubernetes_version}")
            except kv.ValidationError as e:
                path = ".".join(str(p) for p in e.absolute_path) or "<root>"
                failures.append(f"[kubernetes-validate] {ident(doc)}: field {path}: {e.message}")
        else:
            failures.append(f"[no validator] {ident(doc)}: {doc.get('apiVersion')} {doc.get('kind')} "
                            "is handled by no validator (add one in deploy/k8s/validate)")
    run_typed("strimzi-java-model", args.strimzi, strimzi, failures, per_validator)
    run_typed("operators-go-types", [args.operators], operators, failures, per_validator)
    run_crd_schema(crd_schema, failures, per_validator)

    print(f"{args.file}: {len(docs)} objects")
    for kind, n in sorted(per_kind.items()):
        print(f"  {n:3d}  {kind}")
    print("  by validator:")
    for v, n in sorted(per_validator.items()):
        print(f"  {n:3d}  {v}")
    for f in failures:
        print(f"FAIL {f}")
    if not docs:
        print("FAIL no objects rendered")
        return 1
    return 1 if failures else 0


def cmd_topics(args):
    expected = {}
    with open(args.csv) as f:
        rows = [line for line in f if line.strip() and not line.lstrip().startswith("#")]
    for row in csv.reader(rows):
        name, partitions, retention_ms, cleanup, _purpose = (row + [""])[:5]
        expected[name] = (int(partitions), str(int(retention_ms)), cleanup)
    failures = []
    topics = [d for d in load(args.file) if group_of(d) == "kafka.strimzi.io" and d.get("kind") == "KafkaTopic"]
    seen = {}
    for t in topics:
        spec = t.get("spec") or {}
        name = spec.get("topicName") or t["metadata"]["name"]
        if name in seen:
            failures.append(f"KafkaTopic/{t['metadata']['name']}: topic {name} defined twice")
        config = spec.get("config") or {}
        seen[name] = True
        if name not in expected:
            failures.append(f"KafkaTopic/{t['metadata']['name']}: topic {name} is not in {args.csv}")
            continue
        partitions, retention_ms, cleanup = expected[name]
        checks = [
            ("spec.partitions", spec.get("partitions"), partitions),
            ("spec.replicas", spec.get("replicas"), args.replicas),
            ("spec.config.retention.ms", None if config.get("retention.ms") is None else str(config.get("retention.ms")), retention_ms),
            ("spec.config.cleanup.policy", config.get("cleanup.policy"), cleanup),
            ("spec.config.min.insync.replicas", None if config.get("min.insync.replicas") is None
             else str(config.get("min.insync.replicas")), args.min_insync),
        ]
        for field, got, want in checks:
            if got != want:
                failures.append(f"KafkaTopic/{t['metadata']['name']}: field {field} is {got!r}, expected {want!r}")
    for name in expected:
        if name not in seen:
            failures.append(f"topic {name} of {args.csv} has no KafkaTopic")
    print(f"{args.file}: {len(topics)} KafkaTopics checked against {len(expected)} rows of {args.csv} "
          f"(replicas {args.replicas}, min.insync.replicas {args.min_insync})")
    for f in failures:
        print(f"FAIL [topics] {f}")
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("objects")
    o.add_argument("file")
    o.add_argument("--kubernetes-version", required=True)
    o.add_argument("--strimzi", required=True, type=json.loads, help="JSON list: the command, file appended")
    o.add_argument("--operators", required=True, help="the operators binary")
    t = sub.add_parser("topics")
    t.add_argument("file")
    t.add_argument("csv")
    t.add_argument("--replicas", required=True, type=int)
    t.add_argument("--min-insync", required=True)
    args = p.parse_args()
    sys.exit(cmd_objects(args) if args.cmd == "objects" else cmd_topics(args))


if __name__ == "__main__":
    main()
