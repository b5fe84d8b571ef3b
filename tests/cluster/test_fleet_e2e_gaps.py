"""End to end through the CLI: a kind the auditor may not list (403) reaches every report as a coverage gap.

The fake API server refuses ``configmaps`` in ``shop`` the way a real one does when the auditor's Role
lacks that resource. The run still audits everything else, names what it could not read in every
report format, and does not guess: the unreadable ConfigMap is not reported missing.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from auditor.cli import main

from .conftest import TOKEN
from .fakeapi import FakeAPIServer
from .pki import Pki, cluster_entry, write_kubeconfig
from .test_fleet_e2e import FILES

FORBIDDEN = ('configmaps is forbidden: User "auditor" cannot list resource "configmaps" in API group "" '
             'in the namespace "shop"')


def _fleet(make_repo: Callable[..., Path], tmp_path: Path, pki: Pki, api: FakeAPIServer) -> Path:
    make_repo(FILES)
    write_kubeconfig(tmp_path / "kubeconfig", [cluster_entry("prod", api.url, pki.ca_cert)],
                     [{"name": "auditor", "user": {"token": TOKEN}}], [("prod", "prod", "auditor")])
    cfg = tmp_path / "gitops-audit.yaml"
    cfg.write_text(
        "version: 1\nrepo: repo\nref: main\n"
        f"cluster: {{kubeconfig: {tmp_path / 'kubeconfig'}, deadline: 20, request_timeout: 5}}\n"
        "targets:\n  - {name: prod, path: overlays/prod, context: prod}\n"
    )
    api.add_fault(r"/namespaces/shop/configmaps$", status=403, message=FORBIDDEN)
    return cfg


def test_forbidden_kind_is_a_coverage_finding_in_every_report(
    make_repo: Callable[..., Path], tmp_path: Path, pki: Pki, api: FakeAPIServer
) -> None:
    cfg = _fleet(make_repo, tmp_path, pki, api)
    out = tmp_path / "r"
    code = main(["run", "--config", str(cfg), "--out", str(out), "-q"])
    assert code == 3  # audited, but partial: the ConfigMaps git declares in shop are unknown
    assert [r.status for r in api.log if r.path.endswith("/configmaps")] == [403]  # no retry on 403

    run = out / "latest"
    doc = json.loads((run / "report.json").read_text())
    (target,) = doc["targets"]
    assert target["audited"] is True
    gaps = [f for f in target["findings"] if f["category"] == "coverage"]
    assert [(f["rule_id"], f["severity"], f["message"]) for f in gaps] == [
        ("coverage.not-audited", "medium", "ConfigMap in shop not audited: forbidden")]
    assert gaps[0]["fingerprint"]
    # Not guessed: the ConfigMap git holds is neither missing nor compared.
    assert not [f for f in target["findings"] if f.get("object") and f["object"]["kind"] == "ConfigMap"]
    assert gaps[0]["suppressed_by"] == "" and doc["totals"]["by_category"]["coverage"] == 1  # counted
    # Everything else was audited.
    assert any(f["rule_id"] == "drift.modified" and f["path"] == "spec.replicas" for f in target["findings"])

    rows = list(csv.DictReader(io.StringIO((run / "findings.csv").read_text("utf-8-sig"), newline="")))
    assert [(r["category"], r["rule_id"]) for r in rows if r["category"] == "coverage"] == [
        ("coverage", "coverage.not-audited")]
    junit = ET.fromstring((run / "junit.xml").read_text())
    assert any("ConfigMap in shop not audited" in (c.get("name") or "") + ET.tostring(c, encoding="unicode")
               for c in junit.iter("testcase"))
    sarif = json.loads((run / "report.sarif").read_text())
    assert any(r["ruleId"] == "coverage.not-audited" and "ConfigMap in shop" in r["message"]["text"]
               for r in sarif["runs"][0]["results"])
    assert "ConfigMap in shop not audited: forbidden" in (run / "report.html").read_text()


def test_forbidden_kind_makes_the_run_partial(
    make_repo: Callable[..., Path], tmp_path: Path, pki: Pki, api: FakeAPIServer
) -> None:
    cfg = _fleet(make_repo, tmp_path, pki, api)
    # The fleet has a critical finding (exit 1 when complete): partial wins (DESIGN §5).
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "r"), "-q", "--fail-on", "critical"]) == 3
    (target,) = json.loads((tmp_path / "r" / "latest" / "report.json").read_text())["targets"]
    assert target["incomplete"] == ["live ConfigMap in shop: forbidden"]


def test_accepted_unread_kind_is_shown_and_not_partial(
    make_repo: Callable[..., Path], tmp_path: Path, pki: Pki, api: FakeAPIServer
) -> None:
    cfg = _fleet(make_repo, tmp_path, pki, api)
    cfg.write_text(cfg.read_text() + "accept_unread:\n  - kind: ConfigMap\n    name: 'shop/*'\n"
                   "    reason: the auditor may not read ConfigMaps in shop\n")
    # 1, not 3: the run is complete as configured; its critical finding (an orphaned RoleBinding) remains.
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "r"), "-q", "--fail-on", "critical"]) == 1
    (target,) = json.loads((tmp_path / "r" / "latest" / "report.json").read_text())["targets"]
    assert "incomplete" not in target
    (gap,) = [f for f in target["findings"] if f["category"] == "coverage"]
    assert gap["suppressed_by"] == "accepted: the auditor may not read ConfigMaps in shop"


def test_accept_unread_for_another_namespace_does_not_cover_the_gap(
    make_repo: Callable[..., Path], tmp_path: Path, pki: Pki, api: FakeAPIServer
) -> None:
    cfg = _fleet(make_repo, tmp_path, pki, api)
    cfg.write_text(cfg.read_text() + "accept_unread:\n  - {kind: ConfigMap, name: 'other/*', reason: elsewhere}\n")
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "r"), "-q", "--fail-on", "critical"]) == 3
