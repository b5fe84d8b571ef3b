"""End to end: a Flux fleet audited with nothing but `flux.clusters` configured (issue 8's done-when)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from auditor.cli import main
from tests.conftest import git

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "flux-fleet"


@pytest.fixture
def flux_fleet(tmp_path: Path) -> Path:
    repo = tmp_path / "fleet"
    shutil.copytree(EXAMPLE / "fleet", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "fleet")
    (tmp_path / "gitops-audit.yaml").write_text(
        "version: 1\nrepo: fleet\nref: main\n"
        f"flux:\n  clusters: clusters/*\n  snapshot: {EXAMPLE / 'snapshots'}/{{name}}\n"
    )
    return tmp_path


def findings(out: Path) -> dict[str, list[dict]]:
    doc = json.loads((out / "latest" / "report.json").read_text())
    return {t["target"]["name"]: t["findings"] for t in doc["targets"]}


def test_flux_clusters_alone_audits_every_cluster(flux_fleet: Path) -> None:
    code = main(["run", "--config", str(flux_fleet / "gitops-audit.yaml"), "--out", str(flux_fleet / "r"), "-q"])
    by_target = findings(flux_fleet / "r")
    assert sorted(by_target) == ["production", "staging"]
    prod = by_target["production"]
    drift = {(f["rule_id"], f["object"]["name"], f["path"]) for f in prod if f["category"] == "drift"}
    assert drift == {
        ("drift.modified", "prod-web", "spec.replicas"),
        ("drift.orphaned.stale", "removed-from-git", ""),
        ("drift.orphaned.unmanaged", "hand-made", ""),
    }
    assert not [f for f in by_target["staging"] if f["category"] == "drift"]
    # the ingress-nginx chart is remote: part of the desired state is unknown, so the run is partial
    assert code == 3
    not_rendered = [f for f in prod if f["rule_id"] == "coverage.not-rendered"]
    assert [f["path"] for f in not_rendered] == ["HelmRelease.helm.toolkit.fluxcd.io/infra/ingress-nginx"]
    assert not not_rendered[0]["suppressed_by"]


def test_accepted_unrendered_parts_leave_the_run_complete(flux_fleet: Path) -> None:
    cfg = flux_fleet / "gitops-audit.yaml"
    cfg.write_text(cfg.read_text() + "accept_unrendered:\n  - kind: HelmRelease\n    name: infra/ingress-nginx\n"
                   "    reason: vendor chart, audited upstream\n")
    code = main(["run", "--config", str(cfg), "--out", str(flux_fleet / "a"), "-q"])
    prod = findings(flux_fleet / "a")["production"]
    accepted = [f for f in prod if f["rule_id"] == "coverage.not-rendered"]
    assert [f["suppressed_by"] for f in accepted] == ["accepted: vendor chart, audited upstream"]
    doc = json.loads((flux_fleet / "a" / "latest" / "report.json").read_text())
    assert doc["partial"] is False
    assert code == 1


def test_selection_applies_after_discovery(flux_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(flux_fleet / "gitops-audit.yaml")
    main(["run", "--config", cfg, "--env", "staging", "--out", str(flux_fleet / "s"), "-q"])
    assert sorted(findings(flux_fleet / "s")) == ["staging"]
    assert main(["run", "--config", cfg, "--target", "nope", "--out", str(flux_fleet / "n"), "-q"]) == 2
    assert "no target matches" in capsys.readouterr().err


def test_render_prints_what_kustomize_controller_applies(flux_fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--config", str(flux_fleet / "gitops-audit.yaml"), "--target", "production"]) == 0
    out = capsys.readouterr().out
    assert "name: prod-web" in out and "kustomize.toolkit.fluxcd.io/name:" in out
