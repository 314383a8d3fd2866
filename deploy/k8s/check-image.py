#!/usr/bin/env python3
"""Check that the Dockerfile and the Kubernetes manifests name exactly the workspace's service binaries.

The one image (Dockerfile) copies a fixed list of binaries into /usr/local/bin, and every
Deployment selects one with `command: ["/usr/local/bin/<bin>"]`. Either can drift from the
workspace (a binary renamed, a service added). This compares three lists and fails on any gap:

  1. workspace binaries: `cargo metadata --no-deps --format-version 1`, targets of kind `bin`,
     minus tools that are not services (SERVICE_EXCLUDED: load generators and demo drivers);
  2. the Dockerfile: the `for bin in ...` loop of the builder and the runtime stage's
     `COPY --from=builder /out/<bin> ...`;
  3. the manifests: every `/usr/local/bin/<bin>` in deploy/k8s/**/*.yaml must be a binary the
     image holds.

    python3 deploy/k8s/check-image.py     # exit 0: consistent; 1: a mismatch (printed)

Python 3.11 standard library only; needs `cargo` on PATH.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
MANIFESTS = REPO / "deploy" / "k8s"
# Workspace binaries that are tools, not services: never in the image.
SERVICE_EXCLUDED = {"order_load", "pipeline_demo"}


def workspace_binaries() -> set[str]:
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout
    return {
        target["name"]
        for package in json.loads(out)["packages"]
        for target in package["targets"]
        if "bin" in target["kind"]
    }


def dockerfile_binaries(text: str) -> tuple[set[str], set[str]]:
    """(binaries the builder copies out, binaries the runtime stage copies in)."""
    joined = text.replace("\\\n", " ")
    loop = re.search(r"for bin in ([^;]+);", joined)
    built = set(loop.group(1).split()) if loop else set()
    copied = set()
    for line in joined.splitlines():
        if line.strip().startswith("COPY --from=builder /out/"):
            copied |= {Path(arg).name for arg in line.split()[2:-1] if arg.startswith("/out/")}
    return built, copied


def manifest_binaries() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        for name in re.findall(r"/usr/local/bin/([A-Za-z0-9_-]+)", path.read_text(encoding="utf-8")):
            found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def main() -> int:
    problems = []
    services = workspace_binaries() - SERVICE_EXCLUDED
    built, copied = dockerfile_binaries(DOCKERFILE.read_text(encoding="utf-8"))
    if not built:
        problems.append("Dockerfile: no `for bin in ...;` loop found in the builder stage")
    for name in sorted(services - built):
        problems.append(f"workspace binary `{name}` is not built into the image (Dockerfile `for bin in` loop)")
    for name in sorted(built - services):
        problems.append(f"Dockerfile builds `{name}`, which is not a workspace service binary")
    if copied != built:
        problems.append(f"Dockerfile runtime stage copies {sorted(copied)} but the builder produces {sorted(built)}")
    used = manifest_binaries()
    if not used:
        problems.append("deploy/k8s: no Deployment command names /usr/local/bin/<binary>")
    for name, files in sorted(used.items()):
        if name not in copied:
            problems.append(f"{', '.join(sorted(files))}: runs /usr/local/bin/{name}, which the image does not contain")
    for name in sorted(copied - set(used)):
        problems.append(f"the image holds `{name}` but no manifest runs it")
    if problems:
        print("check-image: FAILED", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"check-image: ok ({len(copied)} service binaries: {', '.join(sorted(copied))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
