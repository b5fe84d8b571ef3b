"""examples/argocd-fleet audits end to end with its own config and snapshot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from auditor.cli import main
from tests.conftest import git

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "argocd-fleet"


def test_example_fleet_audits_drift_self_heal_and_stale(tmp_path: Path) -> None:
    repo = tmp_path / "argocd-fleet"
    shutil.copytree(EXAMPLE / "fleet", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "fleet")
    shutil.copytree(EXAMPLE / "snapshots", tmp_path / "snapshots")
    cfg = tmp_path / "gitops-audit.yaml"
    cfg.write_text((EXAMPLE / "gitops-audit.yaml").read_text().replace("repo: /tmp/argocd-fleet", f"repo: {repo}")
                   + "policy: {builtin: false}\nchange_control: {default_window: 1d}\n")
    code = main(["run", "--config", str(cfg), "--out", str(tmp_path / "out"), "-q", "--no-render-cache"])
    doc = json.loads((tmp_path / "out" / "latest" / "report.json").read_text())
    (target,) = doc["targets"]
    assert target["target"]["name"] == "in-cluster" and not target["partial"]
    got = {(f["rule_id"], (f["object"] or {}).get("name", ""), bool(f["suppressed_by"])) for f in target["findings"]}
    assert got == {
        ("drift.modified", "web", False),
        ("drift.self-heal-failed", "", False),
        ("drift.orphaned.stale", "old-ui", False),
    }  # the PreSync hook db-migrate- is absent live, which is normal: no finding at all
    assert not any(d["object"]["name"].startswith("db-migrate") and d["kind"] == "missing" for d in target["drift"])
    assert code == 1
