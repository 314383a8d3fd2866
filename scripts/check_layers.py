#!/usr/bin/env python3
"""Layering check over the real dependency graph (`cargo metadata`), not over text alone.

Rules, each of which fails the check (exit 1) with the file and the dependency chain:

1. A crate marked pure (`[package.metadata.layering] pure = true`, e.g. `contracts`) has no I/O
   crate anywhere in its normal dependency tree.
2. In every workspace crate with a `src/domain/` folder, each external crate the domain modules
   name (`use x::...`, `x::...`) must itself have no I/O crate in its normal dependency tree.
   So `domain/` may use `contracts`, `uuid` or `rust_decimal`, but naming `eventing` fails
   because `eventing` depends on `rdkafka` — the graph decides, not a list of import strings.
3. `domain/` never reaches into its own service's outer layers (`crate::application`,
   `crate::infrastructure`) and never uses the standard library's I/O modules
   (`std::net`, `std::fs`, `std::process`).

Usage: scripts/check_layers.py [WORKSPACE_ROOT]   (defaults to this repository)
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

# Crates that do I/O (network, database, processes, async runtimes). A domain must not depend on
# them, directly or through anything it names.
IO_CRATES = {
    "tokio", "tokio-postgres", "postgres", "deadpool-postgres", "rdkafka", "rdkafka-sys",
    "axum", "hyper", "reqwest", "mio", "socket2", "pgwire-replication", "refinery",
    "schema_registry_converter", "async-std", "tonic", "sqlx",
}
STD_IO = re.compile(r"\bstd::(net|fs|process)\b")
OUTER_LAYERS = re.compile(r"\bcrate::(application|infrastructure)\b")
PATH_ROOT = re.compile(r"(?<![:\w])([A-Za-z_][A-Za-z0-9_]*)::")
USE_ROOT = re.compile(r"\buse\s+(?:::)?([A-Za-z_][A-Za-z0-9_]*)")
LINE_COMMENT = re.compile(r"//.*$", re.MULTILINE)


def metadata(root: pathlib.Path) -> dict:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--manifest-path", str(root / "Cargo.toml")],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def io_chain(start: str, graph: dict[str, list[str]], names: dict[str, str]) -> list[str] | None:
    """The shortest dependency chain from package id `start` to an I/O crate, or None."""
    seen = {start}
    queue = [[start]]
    while queue:
        path = queue.pop(0)
        if names[path[-1]] in IO_CRATES:
            return [names[p] for p in path]
        for dep in graph.get(path[-1], []):
            if dep not in seen:
                seen.add(dep)
                queue.append(path + [dep])
    return None


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent).resolve()
    meta = metadata(root)
    packages = {p["id"]: p for p in meta["packages"]}
    names = {pid: p["name"] for pid, p in packages.items()}
    graph: dict[str, list[str]] = {}
    deps_by_lib: dict[str, dict[str, str]] = {}  # package id -> {extern crate name -> dep id}
    for node in meta["resolve"]["nodes"]:
        normal = [d for d in node["deps"] if any(k["kind"] is None for k in d["dep_kinds"])]
        graph[node["id"]] = [d["pkg"] for d in normal]
        deps_by_lib[node["id"]] = {d["name"]: d["pkg"] for d in normal}

    problems: list[str] = []
    checked = 0
    for pid in meta["workspace_members"]:
        package = packages[pid]
        if (package.get("metadata") or {}).get("layering", {}).get("pure"):
            checked += 1
            for dep in graph.get(pid, []):
                chain = io_chain(dep, graph, names)
                if chain:
                    problems.append(f"{package['name']} is marked pure but depends on an I/O crate: "
                                    + " -> ".join([package["name"], *chain]))
        domain = pathlib.Path(package["manifest_path"]).parent / "src" / "domain"
        if not domain.is_dir():
            continue
        checked += 1
        externs = deps_by_lib.get(pid, {})
        for file in sorted(domain.rglob("*.rs")):
            text = LINE_COMMENT.sub("", file.read_text())
            rel = file.relative_to(root)
            for lineno, line in enumerate(text.splitlines(), 1):
                for rx, what in ((STD_IO, "standard-library I/O"), (OUTER_LAYERS, "an outer layer")):
                    if m := rx.search(line):
                        problems.append(f"{rel}:{lineno}: domain uses {what} `{m.group(0)}`")
            named = set(PATH_ROOT.findall(text)) | set(USE_ROOT.findall(text))
            for crate in sorted(named & externs.keys()):
                chain = io_chain(externs[crate], graph, names)
                if chain:
                    problems.append(f"{rel}: domain uses `{crate}`, which depends on an I/O crate: "
                                    + " -> ".join(chain))
    if problems:
        print("layering violations (domain/ and pure crates must stay free of I/O crates):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"layering check passed: {checked} domain modules / pure crates, no I/O crate in their dependency graphs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
