"""Start-up time of the light commands (pre-commit hooks, CI loops): ``--version``, ``--help``,
``codeowners``, ``diff``, ``policy test``.

Each command runs ``--runs`` times as a fresh ``python -m auditor`` process (the real interpreter,
not a pyenv shim); the table shows the minimum and the median wall time, next to a bare interpreter
(``python -c pass``) measured the same way, so the figure that matters, ``min - bare``, is visible
on a loaded machine. Usage::

    python bench/bench_startup.py --runs 15
    PYTHONPATH=/path/to/other/checkout python bench/bench_startup.py   # the same figures for other code
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {replicas: 2, template: {spec: {containers: [{name: web, image: reg/web:1}]}}}
"""
POLICY = """package main
import rego.v1
deny contains msg if { input.kind == "Deployment"; msg := "no" }
"""


def _fixture(root: Path) -> dict[str, list[str]]:
    (root / "desired.yaml").write_text(DEPLOY)
    (root / "live.yaml").write_text(DEPLOY.replace("replicas: 2", "replicas: 3"))
    (root / "policy").mkdir()
    (root / "policy" / "p.rego").write_text(POLICY)
    repo = root / "repo"
    (repo / ".github").mkdir(parents=True)
    (repo / ".github" / "CODEOWNERS").write_text("* @platform\n/apps/ @apps\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return {
        "--version": ["--version"],
        "--help": ["--help"],
        "codeowners owners": ["codeowners", "owners", "apps/x.yaml", "--repo", str(repo)],
        "codeowners check": ["codeowners", "check", "--repo", str(repo)],
        "diff": ["diff", "--desired", str(root / "desired.yaml"), "--live", str(root / "live.yaml")],
        "policy test": ["policy", "test", str(root / "desired.yaml"), "-p", str(root / "policy")],
        "run --help": ["run", "--help"],
    }


def _time(argv: list[str], runs: int, cwd: str | None = None) -> tuple[float, float, float]:
    """(min wall, median wall, min CPU = user + system) seconds of ``argv`` as a child process.

    CPU time is what the process itself costs; on a machine shared with other work the wall time
    also holds the time spent waiting for a core.
    """
    samples, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, cwd=cwd)
        samples.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(samples), statistics.median(samples), min(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    py = sys.executable
    bare_min, bare_med, bare_cpu = _time([py, "-c", "pass"], args.runs)
    print(f"python: {py}  runs: {args.runs}  load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'command':<20} {'min s':>7} {'median s':>9} {'min - bare':>11} {'cpu s':>7}")
    print(f"{'(bare python)':<20} {bare_min:7.3f} {bare_med:9.3f} {0:11.3f} {bare_cpu:7.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, cmd in _fixture(Path(tmp)).items():
            # Run outside any checkout, so PYTHONPATH (or the installed package) decides which code runs.
            lo, med, cpu = _time([py, "-m", "auditor", *cmd], args.runs, cwd=tmp)
            print(f"{name:<20} {lo:7.3f} {med:9.3f} {lo - bare_min:11.3f} {cpu:7.3f}")


if __name__ == "__main__":
    main()
