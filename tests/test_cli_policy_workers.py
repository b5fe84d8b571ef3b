"""Policy worker processes and the run's result cache, end to end through the real CLI entry point.

The pool starts with ``spawn``, which re-imports the program's main module in each worker: this runs
``python -m auditor`` in a subprocess so that the path users take is the one tested.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

APPS = 450  # above the batch size that starts a pool


def deployments() -> str:
    docs = []
    for i in range(APPS):
        container: dict = {"name": "app", "image": f"registry.example.com/app{i}:1.0.{i}"}
        if i % 3:  # every third one has no resources: the built-in pack flags it
            container["resources"] = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}
        docs.append({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"app{i}", "labels": {"app": f"app{i}"}},
            "spec": {
                "selector": {"matchLabels": {"app": f"app{i}"}},
                "template": {"metadata": {"labels": {"app": f"app{i}"}}, "spec": {"containers": [container]}},
            },
        })
    return yaml.safe_dump_all(docs)


def audit(cfg: Path, out: Path) -> tuple[int, list[dict], dict[str, int]]:
    env = {k: v for k, v in os.environ.items() if k != "GITOPS_AUDIT_CONFIG"}
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", "--log-format", "json", "-v", "run", "--config", str(cfg),
         "--out", str(out), "-q"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    stats: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if line.startswith("{") and (m := re.match(
            r"policy: (\d+) documents, (\d+) evaluated \((\d+) in worker processes\), (\d+) from the run's cache",
            json.loads(line)["msg"],
        )):
            stats = dict(zip(("documents", "evaluated", "in_workers", "cached"), map(int, m.groups()), strict=True))
    doc = json.loads((out / "latest" / "report.json").read_text())
    findings = [
        {k: v for k, v in f.items() if k not in ("status", "first_seen", "last_seen")}
        for t in doc["targets"] for f in t["findings"] if f["category"] == "policy"
    ]
    return proc.returncode, findings, stats


def test_worker_processes_and_shared_results_match_in_process(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = make_repo({
        "apps/deployments.yaml": deployments(),
        "apps/kustomization.yaml": "namespace: shop\nresources: [deployments.yaml]\n",
    })
    assert repo.name == "repo"
    targets = (
        "targets:\n"
        "  - {name: prod-a, env: production, region: us, path: apps, snapshot: snap}\n"
        "  - {name: prod-b, env: production, region: us, path: apps, snapshot: snap}\n"
    )
    (tmp_path / "snap").mkdir()
    (tmp_path / "snap" / "live.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": []}))
    results = {}
    for workers in (0, 1):
        cfg = tmp_path / f"cfg-{workers}.yaml"
        cfg.write_text(f"version: 1\nrepo: repo\nref: main\npolicy:\n  workers: {workers}\n{targets}")
        results[workers] = audit(cfg, tmp_path / f"out-{workers}")
    (code0, findings0, stats0), (code1, findings1, stats1) = results[0], results[1]
    assert code0 == code1 == 1
    assert findings0 == findings1
    assert sum(1 for f in findings1 if f["target"] == "prod-b" and f["rule_id"].startswith("resources.")) >= 150
    # Both targets share the overlay and every field the built-in pack reads: each document (and the combined
    # input of the side, one more job per target) is evaluated once.
    assert stats0["documents"] == stats1["documents"] == 2 * (APPS + 1)
    assert stats0["evaluated"] == stats1["evaluated"] == APPS + 1 and stats1["cached"] == APPS + 1
    assert stats0["in_workers"] == 0 and stats1["in_workers"] == APPS + 1
