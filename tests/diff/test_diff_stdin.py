"""``gitops-audit render … | gitops-audit diff --desired - --live <snapshot dir>`` end to end (real processes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.demo.fleet import create_demo

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "auditor", *args]


def test_render_piped_into_diff_against_a_snapshot_directory(tmp_path: Path) -> None:
    fleet = create_demo(tmp_path / "demo-fleet")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    config = str(fleet.config)
    render = subprocess.run(_cmd("render", "--config", config, "--target", "production-us-east"),
                            capture_output=True, env=env, cwd=tmp_path, timeout=300, check=True)
    snapshot = fleet.root / "snapshots" / "production-us-east"
    diff = subprocess.run(_cmd("diff", "--desired", "-", "--live", str(snapshot), "--orphans"),
                          input=render.stdout, capture_output=True, env=env, cwd=tmp_path, timeout=300)
    out = diff.stdout.decode()
    assert diff.returncode == 1, diff.stderr.decode()
    # The demo's injected drifts in this cluster (auditor/demo/drift.yaml), nothing else drifted.
    assert "► Deployment/shop/shop-api drifted\n  spec.replicas: 3 → 6" in out
    assert "+ spec.template.spec.containers[name=web].env[name=DEBUG_SLOW_REQUESTS]" in out
    assert "► RoleBinding/shop/oncall-cluster-admin orphaned" in out
    assert "► ConfigMap/shop/incident-2417-notes orphaned" in out
    assert sorted(line.split()[1] for line in out.splitlines() if line.startswith("► ")) == sorted([
        "ConfigMap/shop/incident-2417-notes", "Service/shop/legacy-gateway", "Deployment/shop/legacy-gateway",
        "Deployment/shop/shop-api", "Deployment/shop/shop-web", "RoleBinding/shop/oncall-cluster-admin"])
    both = subprocess.run(_cmd("diff", "--desired", "-", "--live", "-"), input=b"", capture_output=True, env=env,
                          timeout=60)
    assert both.returncode == 2 and b"only one of --desired and --live" in both.stderr
