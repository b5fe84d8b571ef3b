"""Sharded audit benchmark (issue 19): N shards by name and by size, merged, against one unsharded audit.

    python bench/bench_shards.py [--targets 24] [--objects 1500] [--sizes 300,1500,3000] [--shards 4]
                                 [--dir /tmp/gitops-audit-shards]

Every audit runs as its own ``gitops-audit run`` process with an empty render cache, one after another:
as the pods of an Indexed Job would (no shared cache, each on its own node), without two audits
competing for this machine's cores. Each shard's wall time and CPU time (the process and its
kustomize/git children) are recorded; CPU time is the fairer figure on a shared machine. The shards
are then merged with ``report merge`` and their findings (target, rule, fingerprint, severity,
suppression) compared with the unsharded run's: they must be identical. Balance is reported as the
slowest shard over the mean, for the name hash and for ``--shard-costs`` (sizes from the unsharded run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import fleetgen  # noqa: E402


def _audit(argv: list[str], cache: Path) -> tuple[int, float, float]:
    """Run ``gitops-audit`` with ``argv``; (exit code, wall seconds, CPU seconds of it and its children)."""
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    code = subprocess.run([sys.executable, "-m", "auditor", *argv], env=env, stdout=subprocess.DEVNULL,
                          check=False).returncode
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return code, wall, cpu


def _findings(reports: Path) -> set[tuple[str, ...]]:
    doc = json.loads((reports / "latest" / "report.json").read_text())
    return {(t["target"]["name"], f["rule_id"], f.get("fingerprint", ""), f["severity"], f["suppressed_by"])
            for t in doc["targets"] for f in t["findings"]}


def _targets(reports: Path) -> list[tuple[str, int]]:
    doc = json.loads((reports / "latest" / "report.json").read_text())
    return [(t["target"]["name"], t["desired_count"] + t["live_count"]) for t in doc["targets"]]


def main() -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--targets", type=int, default=24)
    p.add_argument("--objects", type=int, default=1500)
    p.add_argument("--sizes", default="300,1500,3000", help="objects per overlay, in turn (fleetgen --sizes)")
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--dir", type=Path)
    args = p.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(",") if s)
    name = f"gitops-audit-shards-{args.targets}x{args.sizes.replace(',', '-')}"
    root = args.dir or Path(tempfile.gettempdir()) / name
    if not (root / "fleet.json").exists():
        fleetgen.generate(root, args.targets, args.objects, 0.02, 0.1, sizes=sizes)
    server = subprocess.Popen([sys.executable, str(REPO / "bench" / "fleetgen.py"), "serve", str(root)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdout and server.stdin
    kubeconfig = json.loads(server.stdout.readline())["kubeconfig"]
    work = Path(tempfile.mkdtemp(prefix="bench-shards-"))
    common = ["--config", str(root / "gitops-audit.yaml"), "--kubeconfig", kubeconfig, "-q"]
    print(f"fleet: {root.name}, {args.shards} shards, load average {os.getloadavg()[0]:.1f}", flush=True)
    try:
        code, wall, cpu = _audit(["run", *common, "--out", str(work / "whole")], work / "cache-whole")
        whole = _findings(work / "whole")
        print(f"unsharded: exit {code}, wall {wall:.1f}s, CPU {cpu:.1f}s, {len(whole)} findings", flush=True)
        results: dict[str, Any] = {}
        for basis, extra in (("name", []), ("size", ["--shard-costs", str(work / "whole")])):
            rows = []
            for k in range(args.shards):
                out = work / basis / str(k)
                code, wall, cpu = _audit(["run", *common, "--shard", f"{k}/{args.shards}", *extra, "--out", str(out)],
                                         work / f"cache-{basis}-{k}")
                targets = _targets(out)
                rows.append((k, len(targets), sum(n for _, n in targets), wall, cpu, code))
                print(f"  {basis} shard {k}: {len(targets)} targets, {rows[-1][2]} objects, wall {wall:.1f}s, "
                      f"CPU {cpu:.1f}s, exit {code}", flush=True)
            merged = work / basis / "merged"
            parts = [str(work / basis / str(k)) for k in range(args.shards)]
            mcode, mwall, _ = _audit(["report", "merge", *parts, "--out", str(merged), "--config",
                                      str(root / "gitops-audit.yaml"), "-q"], work / "cache-merge")
            same = _findings(merged) == whole
            walls, cpus = [r[3] for r in rows], [r[4] for r in rows]
            results[basis] = {"wall_max_over_mean": max(walls) / (sum(walls) / len(walls)),
                              "cpu_max_over_mean": max(cpus) / (sum(cpus) / len(cpus)),
                              "merge_wall": mwall, "merge_exit": mcode, "identical_findings": same}
            print(f"{basis}: slowest/mean wall {results[basis]['wall_max_over_mean']:.2f}, CPU "
                  f"{results[basis]['cpu_max_over_mean']:.2f}; merge {mwall:.1f}s exit {mcode}; findings "
                  f"{'identical to' if same else 'DIFFERENT from'} the unsharded run", flush=True)
        print(json.dumps(results))
        return 0 if all(r["identical_findings"] for r in results.values()) else 1
    finally:
        server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    raise SystemExit(main())
