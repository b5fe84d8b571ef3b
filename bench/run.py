"""End-to-end benchmark: audit a synthetic fleet (bench/fleetgen.py) in process and compare with the floor.

    python bench/run.py [--targets 12] [--objects 1500] [--dir /tmp/gitops-audit-bench] [--runs 2] [--policy-share]
                        [--commit-overlay K]

Prints, per run: per-stage times (prepare = git tree + provenance index, render, list+parse, drift,
policy, provenance, reports), wall time, peak RSS, API requests per target (and per kind x
namespace), and the *floor*: the time to only run kustomize once per distinct overlay plus fetch and
``json.loads`` every request the audit made (replayed with the same parallelism). Stage times other
than render/prepare/reports are sums over targets, which run ``concurrency`` at a time, so they can
add up to more than the wall time. Each invocation starts with an empty render cache, so run 1 is
cold and later runs reuse its renders. ``--policy-share`` adds two audits without policies (warm, then
cold render cache) and prints how much of the audit's wall time policy evaluation accounts for.
``--commit-overlay K`` then commits a change to overlay K (``fleetgen.py commit``; the fleet directory is
changed) and audits once more with the same render cache: the nightly run after a typical merge.
Renders and checks stream (issue 19), so "render phase" spans the first to the last render, not a barrier.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import fleetgen  # noqa: E402

from auditor import pipeline, wiring  # noqa: E402
from auditor.config import load_config  # noqa: E402
from auditor.report.history import write_run  # noqa: E402
from auditor.util.proc import available_cpus  # noqa: E402
from auditor.util.proc import run as run_tool  # noqa: E402


class Timer:
    """Accumulates wall time of wrapped calls (thread-safe); counts calls."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self._lock = threading.Lock()

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                t1 = time.perf_counter()
                with self._lock:
                    self.seconds[name] += t1 - t0
                    self.calls[name] += 1
                    self.first[name] = min(self.first.get(name, t0), t0)
                    self.last[name] = max(self.last.get(name, t1), t1)

        return timed


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its waited-for children (kustomize, git, policy workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def audit_once(cfg: Any, kubeconfig: str, out: Path) -> dict[str, Any]:
    timer = Timer()
    originals = {n: getattr(pipeline, n) for n in ("render_target", "prepare_tree", "build_index", "load_policies")}
    for name, fn in originals.items():
        setattr(pipeline, name, timer.wrap(name, fn))
    loaded: list[Any] = []
    load = pipeline.load_policies

    def keep(*a: Any, **kw: Any) -> Any:
        ps = load(*a, **kw)
        loaded.append(ps)
        return ps

    pipeline.load_policies = keep
    try:
        args = argparse.Namespace(kubeconfig=kubeconfig, worktree=False)
        opts = wiring.run_options(cfg, args)
        c0 = _cpu()
        t0 = time.perf_counter()
        report = pipeline.run_audit(opts, cfg.targets)
        t1 = time.perf_counter()
        c1 = _cpu()
        write_run(report, out, keep=5, config_bytes=cfg.raw)
        t2 = time.perf_counter()
        c2 = _cpu()
    finally:
        for name, fn in originals.items():
            setattr(pipeline, name, fn)
    stages: Counter[str] = Counter()
    for r in report.results:
        for k, v in r.timings.items():
            stages[k] += v
    skipped = [f"{r.target.name}: {r.skip_reason}" for r in report.results if not r.audited]
    return {
        "wall": t2 - t0,
        "cpu_audit": c1[0] - c0[0],
        "cpu_children": c2[1] - c0[1],
        "cpu_reports": c2[0] - c1[0],
        "audit": t1 - t0,
        "reports": t2 - t1,
        "prepare": timer.seconds["prepare_tree"] + timer.seconds["build_index"],
        "render": timer.seconds["render_target"],
        "render_phase": timer.last.get("render_target", 0.0) - timer.first.get("render_target", 0.0),
        "checks_phase": t1 - timer.last.get("render_target", t0),
        "renders": timer.calls["render_target"],
        "stages": dict(stages),
        "findings": len(report.findings),
        "desired": sum(r.desired_count for r in report.results),
        "live": sum(r.live_count for r in report.results),
        "skipped": skipped,
        "exit_code": report.exit_code(),
        "policy_runner": loaded[0].runner.stats if loaded else None,
    }


def floor(root: Path, cfg: Any, servers: dict[str, str], log: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """kustomize per distinct overlay, then every logged request fetched and json.loads'ed.

    kustomize runs as the audit runs it: one per CPU at a time (``cpu_bound``), the fastest way here (more at
    once cost more CPU); the reads with the audit's parallelism.
    """
    overlays = sorted({t.path for t in cfg.targets})
    conc = max(1, cfg.concurrency)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(conc) as pool:
        list(pool.map(lambda p: run_tool(["kubectl", "kustomize", str(root / "repo" / p)], action="floor",
                                         timeout=1800, cpu_bound=True), overlays))
    t1 = time.perf_counter()
    urls = []
    for name, entries in log.items():
        for e in entries:
            query = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in e["query"].items())
            urls.append(servers[name] + e["path"] + (f"?{query}" if query else ""))

    def fetch(url: str) -> int:
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {fleetgen.TOKEN}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return len(json.loads(resp.read()).get("items", []))

    with ThreadPoolExecutor(conc * max(1, cfg.cluster.parallel_lists)) as pool:
        list(pool.map(fetch, urls))
    t2 = time.perf_counter()
    return {"render": t1 - t0, "fetch": t2 - t1, "total": t2 - t0, "overlays": len(overlays), "requests": len(urls)}


def report_run(res: dict[str, Any], cfg: Any, log: dict[str, list[dict[str, Any]]]) -> None:
    """Print one audit's figures (``log``: the API requests it made, per target)."""
    per_target = {n: len(v) for n, v in log.items()}
    # First pages of resource lists (not discovery, not continue pages): one per (kind, namespace).
    lists = [e for v in log.values() for e in v
             if "continue" not in e["query"] and e["path"].count("/") >= (4 if e["path"].startswith(
                 "/apis/") else 3) and e["path"] not in ("/api/v1", "/apis")]
    pages = sum(1 for v in log.values() for e in v if "continue" in e["query"])
    st = res["stages"]
    print(f"  wall {res['wall']:.2f}s  (audit {res['audit']:.2f}s + reports {res['reports']:.2f}s); "
          f"exit {res['exit_code']}; findings {res['findings']}; desired {res['desired']}; "
          f"live {res['live']}; skipped {res['skipped'] or 'none'}")
    print(f"  prepare (git tree + provenance index) {res['prepare']:.2f}s")
    print(f"  render {res['render']:.2f}s for {res['renders']} renders (sum over render threads); "
          f"render phase wall {res['render_phase']:.2f}s")
    print(f"  checks phase wall (live+drift+policy+provenance, {cfg.concurrency} targets at a time) "
          f"{res['checks_phase']:.2f}s")
    for k in ("live", "drift", "policy", "provenance"):
        print(f"  {k:<10} {st.get(k, 0.0):7.2f}s (sum over targets)")
    stats = res["policy_runner"]
    if stats is not None:
        print(f"  policy documents {stats.documents}: evaluated {stats.evaluated} "
              f"({stats.in_workers} in worker processes, {stats.worker_cpu:.2f}s CPU there), "
              f"{stats.cached} from the run's cache, {stats.not_applicable} with no package for their kind")
    print(f"  reports    {res['reports']:7.2f}s")
    total = res["cpu_audit"] + res["cpu_children"] + res["cpu_reports"]
    cpus = available_cpus()
    print(f"  CPU {total:.2f}s = audit process {res['cpu_audit']:.2f}s + child processes {res['cpu_children']:.2f}s "
          f"(kustomize, git, policy workers) + reports {res['cpu_reports']:.2f}s; / {cpus} CPUs = {total / cpus:.2f}s; "
          f"wall / that = {res['wall'] / (total / cpus):.2f} (1.0: every CPU busy all along)")
    print(f"  peak RSS   {peak_rss_mib():7.0f} MiB")
    if per_target:
        print(f"  API requests per target: min {min(per_target.values())} max {max(per_target.values())}; "
              f"lists per target {len(lists) / max(1, len(per_target)):.1f} + continue pages in all {pages}",
              flush=True)


def print_policy_share(walls: list[tuple[str, bool, float]]) -> None:
    """Policy's share of the audit: the wall time it adds, over the wall time with it (cold and warm cache)."""
    def last(label: str, cold: bool) -> float | None:
        found = [w for lb, c, w in walls if lb.startswith(label) and c == cold]
        return found[-1] if found else None

    print("\n== policy share of the audit (wall with - wall without) / wall with; goal <= 0.25 ==")
    for cold in (True, False):
        with_p, without = last("with policies", cold), last("without policies", cold)
        if with_p and without:
            print(f"  {'cold' if cold else 'warm'} render cache: {with_p:.2f}s with, {without:.2f}s without "
                  f"-> share {(with_p - without) / with_p:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", type=int, default=12)
    p.add_argument("--objects", type=int, default=1500)
    p.add_argument("--dir", type=Path, default=None, help="fleet directory (generated when absent)")
    p.add_argument("--runs", type=int, default=2, help="audits of the unchanged repository (render reuse)")
    p.add_argument("--commit-overlay", type=int, default=None, metavar="K",
                   help="after the runs, commit a change to overlay K and audit again (same render cache)")
    p.add_argument("--policy-share", action="store_true",
                   help="also audit without policies (render cache warm, then cold) to measure policy's share")
    args = p.parse_args()
    # A render cache of our own: the first run is cold whatever earlier benchmarks left behind.
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="bench-cache-")
    root = args.dir or Path(tempfile.gettempdir()) / f"gitops-audit-bench-{args.targets}x{args.objects}"
    if not (root / "fleet.json").exists():
        t0 = time.perf_counter()
        fleetgen.generate(root, args.targets, args.objects, 0.02, 0.1)
        print(f"generated {root} in {time.perf_counter() - t0:.1f}s")
    fleet = json.loads((root / "fleet.json").read_text())
    server = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "fleetgen.py"), "serve", str(root)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert server.stdin and server.stdout
    ready = json.loads(server.stdout.readline())

    def requests() -> dict[str, list[dict[str, Any]]]:
        assert server.stdin and server.stdout
        server.stdin.write("\n")
        server.stdin.flush()
        return json.loads(server.stdout.readline())

    cfg = load_config(root / "gitops-audit.yaml")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"fleet: {json.dumps(fleet)}")
    no_policy = dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, builtin=False, dirs=()))
    plan = [("with policies", cfg, False)] * args.runs
    if args.commit_overlay is not None:
        plan += [(f"after a commit to overlay {args.commit_overlay}", cfg, False)]
    if args.policy_share:
        plan += [("without policies", no_policy, False), ("without policies, cold render cache", no_policy, True)]
    walls: list[tuple[str, bool, float]] = []
    try:
        for i, (label, run_cfg, cold) in enumerate(plan):
            if cold:
                os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="bench-cache-")
            if label.startswith("after a commit"):
                print(f"\ncommitted {fleetgen.commit_change(root, overlay=args.commit_overlay)}")
            out = Path(tempfile.mkdtemp(prefix="bench-reports-"))
            print(f"\n== run {i + 1}: {label} == (load average before: {_load()})", flush=True)
            res = audit_once(run_cfg, ready["kubeconfig"], out)
            walls.append((label, cold or i == 0, res["wall"]))
            log = requests()
            report_run(res, cfg, log)
            if i == 0:  # the floor does not change between runs: measure it once
                fl = floor(root, cfg, ready["servers"], log)
                requests()  # drop the floor's own requests from the next run's log
                print(f"  floor {fl['total']:.2f}s = kustomize x{fl['overlays']} {fl['render']:.2f}s + "
                      f"{fl['requests']} requests fetched+parsed {fl['fetch']:.2f}s")
            print(f"  ratio wall / floor = {res['wall'] / fl['total']:.2f} (goal <= 1.5); "
                  f"load average after: {_load()}", flush=True)
        if args.policy_share:
            print_policy_share(walls)
    finally:
        assert server.stdin
        server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
