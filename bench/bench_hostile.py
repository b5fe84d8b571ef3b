"""What the hostile-input defences cost (issue 16), and how fast the hostile cases are now.

    python bench/bench_hostile.py [--objects 3000] [--calls 50]

Prints one table: render-error explanations on 200 KB hostile messages; YAML and JSON parsing with the new
bounds (alias/nesting/depth/duplicate checks) against the bare parsers on the same input; the cost of one
child process through ``proc.run`` (process group, pdeathsig wrapper, rlimit, bounded reads) with and without
network isolation, against a bare ``subprocess.run``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cluster.conftest import load_live_objects

from auditor.render.kustomize.explain import explain_failure
from auditor.render.kustomize.graph import Graph
from auditor.render.kustomize.tree import PreparedTree
from auditor.util import proc, yamlio

N = 200_000
HOSTILE = {
    "word-run": "a" * N,
    "op-no-path-end": "x operation does not apply: doc is missing path: " + "b" * N,
    "klog-multiline-open": "err=<\n" * (N // 6),
    "malformed-yaml-repeated": "MalformedYAMLError: " * (N // 20),
    "trouble-configuring": "trouble configuring builtin a with config: `" * (N // 45),
    "nothing-selected-dots": "nothing selected by " + "a." * (N // 2),
}


def best(fn: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=3000, help="copies of the 15 fixture objects (x15 objects)")
    ap.add_argument("--calls", type=int, default=50)
    args = ap.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        graph, tree = Graph(root=root, overlay=""), PreparedTree(root=root, commit="0" * 40)
        total = best(lambda: [explain_failure(v, graph, tree) for v in HOSTILE.values()], 1)
        rows.append((f"explain {len(HOSTILE)} hostile messages of 200 KB", f"{total * 1000:.1f} ms in all"))

    objs = load_live_objects()
    big = [copy.deepcopy(o) for _ in range(args.objects) for o in objs]
    ydata = yamlio.dump_all(big[: len(big) // 5]).encode()
    loader = yamlio._Loader  # the bare loader the product used before
    t_old = best(lambda: list(yaml.load_all(ydata, Loader=loader)))
    t_new = best(lambda: yamlio.load_all(ydata, "bench"))
    t_dup = best(lambda: yamlio.load_all(ydata, "bench", duplicates=[]))
    rows.append((f"YAML {len(ydata) / 1e6:.1f} MB, bare loader", f"{t_old:.3f} s"))
    rows.append(("YAML, bounded load_all (+ depth, surrogates)", f"{t_new:.3f} s ({t_new / t_old:.2f}x)"))
    rows.append(("YAML, bounded + duplicate keys (snapshots)", f"{t_dup:.3f} s ({t_dup / t_old:.2f}x)"))

    jdata = json.dumps({"kind": "List", "items": big}).encode()
    j_old = best(lambda: json.loads(jdata))
    j_new = best(lambda: yamlio.parse_json(jdata, "bench"))
    j_dup = best(lambda: yamlio.parse_json(jdata, "bench", duplicates=[]))
    rows.append((f"JSON {len(jdata) / 1e6:.1f} MB ({len(big):,} objects), json.loads", f"{j_old:.3f} s"))
    rows.append(("JSON, parse_json (+ depth bound) — API pages", f"{j_new:.3f} s ({j_new / j_old:.2f}x)"))
    rows.append(("JSON, + duplicate keys (snapshot files)", f"{j_dup:.3f} s ({j_dup / j_old:.2f}x)"))

    n = args.calls
    env = {"PATH": os.environ.get("PATH", "")}
    bare = best(lambda: [subprocess.run(["true"], env=env, check=True, capture_output=True) for _ in range(n)]) / n
    wrapped = best(lambda: [proc.run(["true"], action="bench") for _ in range(n)]) / n
    isolated = best(lambda: [proc.run(["true"], action="bench", network=False) for _ in range(n)]) / n
    rows.append(("child process, bare subprocess.run", f"{bare * 1000:.2f} ms"))
    rows.append((f"child via proc.run ({proc.process_guard()})", f"{wrapped * 1000:.2f} ms"))
    rows.append((f"child via proc.run, no network ({proc.network_isolation()})", f"{isolated * 1000:.2f} ms"))

    width = max(len(r[0]) for r in rows)
    print(f"load average {os.getloadavg()[0]:.1f}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
