"""Controls end to end: the demo fleet audited from its config, every report format shows the controls."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.catalog.load import load_catalog, rego_sources
from auditor.cli import main
from auditor.demo.fleet import create_demo
from auditor.model import AuditReport
from auditor.policy.builtin import builtin_policy_dir
from auditor.report import json_report

pytestmark = pytest.mark.slow

CATALOG = load_catalog(rego_sources([builtin_policy_dir()]))


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditReport, Path]:
    from auditor.commands.run import execute
    from auditor.config import load_config

    root = tmp_path_factory.mktemp("controls")
    fleet = create_demo(root / "demo-fleet")
    args = argparse.Namespace(
        fail_on=None, out=str(root / "reports"), keep=None, quiet=True, no_color=True, kubeconfig=None, worktree=False
    )
    outcome = execute(load_config(fleet.config), args)
    assert outcome.exit_code == 1
    return outcome.report, outcome.run_dir


def _json(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "report.json").read_text())
    return data


def test_json_report_valid_with_controls_and_checks(audit: tuple[AuditReport, Path]) -> None:
    report, run_dir = audit
    data = _json(run_dir)
    jsonschema.validate(data, json.loads(json_report.schema_text()))
    findings = [f for t in data["targets"] for f in t["findings"]]
    for f in findings:
        expected = list(CATALOG.controls_of(f["rule_id"]))
        assert f["controls"] == expected, f["rule_id"]
    assert any(f["controls"] for f in findings if f["category"] == "drift")
    assert any(f["controls"] for f in findings if f["category"] == "change-control")
    for t in data["targets"]:
        checks = {c["rule_id"]: c["evaluated"] for c in t["checks"]}
        assert checks["pod_security.privileged"] >= 4  # every target runs four Deployments
        assert checks["drift.missing"] == t["desired_count"]
        assert "change-control.unapproved-commit" in checks if t["target"]["env"] == "production" else True
    # Round trip: loading the JSON keeps the checks.
    loaded = json_report.load((run_dir / "report.json").read_text())
    assert [r.checks for r in loaded.results] == [r.checks for r in report.results]


def test_framework_view(audit: tuple[AuditReport, Path]) -> None:
    _, run_dir = audit
    fw = _json(run_dir)["frameworks"]
    keys = [f["key"] for f in fw["frameworks"]]
    assert keys == ["cis-k8s", "nsa-cisa", "pss", "soc2", "iso27001", "pci-dss", "nist-800-53"]
    soc2 = next(f for f in fw["frameworks"] if f["key"] == "soc2")
    cc81 = next(c for c in soc2["controls"] if c["control"] == "CC8.1")
    # Dave's unapproved production commit and the drift fail CC8.1; many other checks pass.
    assert cc81["status"] == "failed" and cc81["failed"] >= 2 and cc81["passed"] > cc81["failed"]
    assert {"drift.modified", "change-control.unapproved-commit"} <= set(cc81["rules"])
    for f in fw["frameworks"]:
        for c in f["controls"]:
            assert c["passed"] + c["failed"] + c["waived"] == c["evaluated"]
    cm = {r["rule_id"]: r for r in fw["change_management"]}
    assert cm["change-control.unapproved-commit"]["failed"] == 1
    assert cm["drift.missing"]["evaluated"] > cm["drift.missing"]["failed"] >= 1


def test_csv_sarif_and_html_show_controls(audit: tuple[AuditReport, Path]) -> None:
    _, run_dir = audit
    rows = list(csv.DictReader(io.StringIO((run_dir / "findings.csv").read_text(encoding="utf-8-sig"))))
    row = next(r for r in rows if r["rule_id"] == "rbac.cluster_admin_binding")
    assert "cis-k8s:5.1.1" in row["controls"].split(";")
    sarif = json.loads((run_dir / "report.sarif").read_text())
    rules = {r["id"]: r for run in sarif["runs"] for r in run["tool"]["driver"]["rules"]}
    assert "soc2:CC8.1" in rules["change-control.unapproved-commit"]["properties"]["tags"]
    html = (run_dir / "report.html").read_text()
    assert 'id="frameworks"' in html and "SOC 2 Trust Services Criteria" in html and "Change management" in html


def test_policy_doc_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "doc"]) == 0
    md = capsys.readouterr().out
    assert "| `rbac.cluster_admin_binding` | critical |" in md and "### Polaris" in md
    user = tmp_path / "policy"
    user.mkdir()
    (user / "p.rego").write_text(
        "package acme\nimport rego.v1\n# METADATA\n# title: Team label\n# custom:\n#   rule_id: acme.team\n"
        "#   remediation: Add it.\n#   controls: {soc2: [CC8.1]}\ndeny contains \"x\" if true\n"
    )
    out = tmp_path / "catalog.json"
    assert main(["policy", "doc", "-p", str(user), "-o", "json", "--output-file", str(out)]) == 0
    doc = json.loads(out.read_text())
    acme = next(r for r in doc["rules"] if r["rule_id"] == "acme.team")
    assert acme["controls"] == {"soc2": ["CC8.1"]} and acme["title"] == "Team label"
    assert doc["equivalents"]["polaris"]["runAsPrivileged"] == ["pod_security.privileged"]
    (user / "bad.rego").write_text("package bad\n# METADATA\n# title: [x\ndeny contains 1 if true\n")
    assert main(["policy", "doc", "-p", str(user), "--no-builtin"]) == 2
    assert f"{user / 'bad.rego'}:3: METADATA is not valid YAML" in capsys.readouterr().err
    assert main(["policy", "doc", "-p", str(tmp_path / "missing")]) == 2


def test_oscal_names_the_catalogue_controls_of_every_rule_that_ran(audit: tuple[AuditReport, Path]) -> None:
    """oscal.json: one OSCAL finding per control the run's checks evidence, with the framework view's verdict."""
    from tests.report.test_report_oscal import SCHEMA, _python_patterns

    _, run_dir = audit
    doc = json.loads((run_dir / "oscal.json").read_text())
    schema = _python_patterns(json.loads(SCHEMA.read_text()))
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    assert [e.message for e in validator.iter_errors(doc)] == []
    result = doc["assessment-results"]["results"][0]
    state = {next(p["value"] for p in f["props"] if p["name"] == "control"): f["target"]["status"]["state"]
             for f in result["findings"]}
    # Every control of every rule that ran (the checks of report.json), passed ones included.
    data = _json(run_dir)
    ran = {c for t in data["targets"] for chk in t["checks"] if chk["evaluated"] for c in chk["controls"]}
    assert ran and ran <= set(state)
    # The same verdict as the framework view: a failed control is not satisfied, a passed one is satisfied.
    for fw in data["frameworks"]["frameworks"]:
        for c in fw["controls"]:
            cid = f"{fw['key']}:{c['control']}"
            if c["status"] == "failed":
                assert state[cid] == "not-satisfied", cid
            elif c["status"] == "passed":
                assert state[cid] == "satisfied", cid
    assert "satisfied" in state.values() and "not-satisfied" in state.values()
    # One OSCAL finding per control: the built-in defaults do not add a lower-case twin of a catalogue control.
    assert len(state) == len({c.casefold() for c in state})
