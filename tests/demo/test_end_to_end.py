"""Audit the demo the way ``gitops-audit demo`` does and hold the result to DRIFT.md.

This is the contract between the demo and the engines: every injected drift is found, with the
promised rule, object and path, nothing else is reported as drift (dev-eu-west stays clean), and
change control flags exactly Dave's unapproved production commit.
"""

from __future__ import annotations

import argparse
import base64
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.demo.fleet import create_demo
from auditor.demo.history import PACKAGE_DIR
from auditor.demo.regenerate import secret_canary
from auditor.model import AuditReport, Category

pytestmark = pytest.mark.slow

DRIFT = yaml.safe_load((PACKAGE_DIR / "drift.yaml").read_text())

RULES = {
    ("missing", None): "drift.missing",
    ("modified", None): "drift.modified",
    ("added", None): "drift.added",
    ("orphaned", "stale"): "drift.orphaned.stale",
    ("orphaned", "unmanaged"): "drift.orphaned.unmanaged",
}


def _subject(target: str, d: dict[str, Any]) -> str:
    ns = DRIFT["targets"][target]["namespace"]
    obj = d["object"]
    name = obj["metadata"]["name"] if "metadata" in obj else obj["name"]
    return f"{obj['kind']}/{ns}/{name}"


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditReport, Path]:
    from auditor.commands.run import execute
    from auditor.config import load_config

    root = tmp_path_factory.mktemp("e2e")
    fleet = create_demo(root / "demo-fleet")
    cfg = load_config(fleet.config)
    args = argparse.Namespace(
        fail_on=None, out=str(root / "reports"), keep=None, quiet=True, no_color=True, kubeconfig=None, worktree=False
    )
    outcome = execute(cfg, args)
    assert outcome.exit_code == 1  # findings at or above high, every target audited
    return outcome.report, root / "reports"


@pytest.fixture(scope="module")
def report(audit: tuple[AuditReport, Path]) -> AuditReport:
    return audit[0]


def test_all_targets_audited(report: AuditReport) -> None:
    assert sorted(r.target.name for r in report.results) == sorted(DRIFT["targets"])
    assert all(r.audited for r in report.results), [(r.target.name, r.skip_reason) for r in report.results]


def test_drift_findings_are_exactly_drift_md(report: AuditReport) -> None:
    found = {
        (r.target.name, f.rule_id, f.ref.subject if f.ref else "", f.path)
        for r in report.results
        for f in r.findings
        if f.category == Category.DRIFT and f.counts
    }
    expected = {
        (
            target,
            RULES[(d["expect"]["drift"], d["expect"].get("note"))],
            _subject(target, d),
            d["expect"].get("path", ""),
        )
        for target, spec in DRIFT["targets"].items()
        for d in spec["drift"]
    }
    assert found == expected


def test_out_of_band_findings_name_the_manager(report: AuditReport) -> None:
    managers = {
        (r.target.name, f.path): {lp.manager for lp in f.provenance.live}
        for r in report.results
        for f in r.findings
        if f.category == Category.DRIFT and f.path
    }
    for target, spec in DRIFT["targets"].items():
        for d in spec["drift"]:
            if "manager" in d["expect"]:
                key = (target, d["expect"]["path"])
                assert key in managers, key
                assert d["expect"]["manager"] in managers[key], (key, managers[key])


def test_change_control_flags_only_the_unapproved_production_commit(report: AuditReport) -> None:
    cc = [
        (r.target.name, f.rule_id, f.message)
        for r in report.results
        for f in r.findings
        if f.category == Category.CHANGE_CONTROL and f.counts
    ]
    assert [(t, rule) for t, rule, _ in cc] == [("production-eu-west", "change-control.unapproved-commit")]
    assert "Dave Okafor" in cc[0][2]



def test_secret_canaries_never_reach_a_report(audit: tuple[AuditReport, Path]) -> None:
    """The demo's Secret values (clear or base64) appear in no report file, zipped evidence included."""
    _report, reports = audit
    canaries: list[bytes] = []
    for target in DRIFT["targets"]:
        for key in ("api-key", "webhook-signing-key"):
            clear = secret_canary(target, key).encode()
            canaries += [clear, base64.b64encode(clear)]
    blobs: dict[str, bytes] = {}
    for f in reports.rglob("*"):
        if not f.is_file():
            continue
        blobs[str(f)] = f.read_bytes()
        if f.suffix == ".zip":
            with zipfile.ZipFile(f) as z:
                for name in z.namelist():
                    blobs[f"{f}!{name}"] = z.read(name)
    assert len(blobs) > 3
    leaks = [(name, c) for name, blob in blobs.items() for c in canaries if c in blob]
    assert leaks == []
