"""The verdict: waived and ignored findings never count toward the exit code; partial wins; thresholds.

End to end: a fleet whose only high/critical findings are waived (policy) or ignored (drift) exits 0,
and the same fleet without the waiver and the ignore rule exits 1. Unit level: the table of
``AuditReport.exit_code`` (DESIGN §5). Written against deliberate breaks of ``auditor/model.py``
(issue 20).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.model import AuditReport, Category, Finding, Severity, Target, TargetResult
from tests.test_cli import FLEET, render, snapshot

PRIVILEGED = FLEET["base/deployment.yaml"].replace(
    "          image: registry.example.com/web:1.0.0\n",
    "          image: registry.example.com/web:1.0.0\n          securityContext: {privileged: true}\n",
)
WAIVE_AND_IGNORE = """\
policy:
  waivers:
    - {rule: pod_security.privileged, reason: "CNI agent needs it (SEC-42)", kind: Deployment, name: web}
drift:
  ignore_differences:
    - {kind: Service, name: web, id: service-moved-to-mesh}
"""


@pytest.fixture
def fleet(make_repo: Callable[..., Path], tmp_path: Path) -> Path:
    repo = make_repo({**FLEET, "base/deployment.yaml": PRIVILEGED})
    live = [o for o in render(repo, "overlays/prod") if o["kind"] != "Service"]  # Service missing: high
    snapshot(tmp_path / "snap", live)
    return tmp_path


def _config(root: Path, name: str, extra: str = "") -> str:
    path = root / name
    path.write_text("version: 1\nrepo: repo\nref: main\ntargets:\n"
                    "  - {name: prod, env: production, path: overlays/prod, snapshot: snap}\n" + extra)
    return str(path)


def _findings(out: Path) -> list[dict]:
    doc = json.loads((out / "latest" / "report.json").read_text())
    return [f for t in doc["targets"] for f in t["findings"]]


def test_only_waived_or_ignored_high_findings_exit_0(fleet: Path) -> None:
    plain = _config(fleet, "plain.yaml")
    assert main(["run", "--config", plain, "--out", str(fleet / "plain"), "-q", "--fail-on", "high"]) == 1
    high = {(f["rule_id"], f["severity"]) for f in _findings(fleet / "plain")
            if f["severity"] in ("critical", "high")}
    assert high == {("pod_security.privileged", "critical"), ("drift.missing", "high")}

    waived = _config(fleet, "waived.yaml", WAIVE_AND_IGNORE)
    assert main(["run", "--config", waived, "--out", str(fleet / "waived"), "-q", "--fail-on", "high"]) == 0
    findings = _findings(fleet / "waived")
    severe = [f for f in findings if f["severity"] in ("critical", "high")]
    # Still reported, each with what hides it: suppressed, never dropped.
    assert {(f["rule_id"], f["suppressed_by"]) for f in severe} == {
        ("pod_security.privileged", "waiver:pod_security.privileged[kind=Deployment,name=web]"),
        ("drift.missing", "service-moved-to-mesh"),
    }
    # The threshold still works on what does count.
    assert main(["run", "--config", waived, "--out", str(fleet / "medium"), "-q", "--fail-on", "medium"]) == 1


# --------------------------------------------------------------------------- the table


def _finding(sev: Severity, suppressed_by: str = "") -> Finding:
    return Finding("t", Category.POLICY, "r", sev, "m", suppressed_by=suppressed_by)


def _report(*findings: Finding, audited: bool = True, fail_on: Severity = Severity.HIGH) -> AuditReport:
    result = TargetResult(Target("t", context="c"), audited=audited, findings=findings)
    return AuditReport("run", "0", "s", "f", "repo", "c", "main", (result,), fail_on=fail_on)


@pytest.mark.parametrize(("findings", "fail_on", "code"), [
    ((), None, 0),
    ((_finding(Severity.HIGH),), None, 1),
    ((_finding(Severity.CRITICAL),), None, 1),
    ((_finding(Severity.MEDIUM),), None, 0),
    ((_finding(Severity.MEDIUM),), Severity.MEDIUM, 1),
    ((_finding(Severity.INFO),), Severity.INFO, 1),
    ((_finding(Severity.LOW),), Severity.MEDIUM, 0),
    ((_finding(Severity.CRITICAL, "waiver:x"),), None, 0),
    ((_finding(Severity.HIGH, "ignore:y"),), Severity.INFO, 0),
    ((_finding(Severity.HIGH, "waiver:x"), _finding(Severity.MEDIUM)), Severity.MEDIUM, 1),
    ((_finding(Severity.HIGH),), Severity.CRITICAL, 0),
])
def test_exit_code_table(findings: tuple[Finding, ...], fail_on: Severity | None, code: int) -> None:
    assert _report(*findings).exit_code(fail_on) == code


def test_report_threshold_is_the_default() -> None:
    report = _report(_finding(Severity.MEDIUM), fail_on=Severity.MEDIUM)
    assert report.exit_code() == 1
    assert report.exit_code(Severity.HIGH) == 0  # an explicit threshold wins
    assert report.failing() == report.findings and report.failing(Severity.HIGH) == ()


def test_partial_wins_over_findings_and_over_clean() -> None:
    skipped = TargetResult(Target("down", context="d"), audited=False, skip_reason="unreachable")
    clean = _report()
    with_findings = _report(_finding(Severity.CRITICAL))
    for report in (clean, with_findings):
        partial = dataclasses.replace(report, results=(*report.results, skipped))
        assert partial.partial
        assert partial.exit_code() == 3 and partial.exit_code(Severity.INFO) == 3
    assert not clean.partial and clean.exit_code() == 0


@pytest.mark.parametrize(("sev", "threshold", "at_least"), [
    (Severity.CRITICAL, Severity.HIGH, True), (Severity.HIGH, Severity.HIGH, True),
    (Severity.MEDIUM, Severity.HIGH, False), (Severity.INFO, Severity.INFO, True),
    (Severity.LOW, Severity.INFO, True), (Severity.INFO, Severity.LOW, False),
])
def test_severity_order(sev: Severity, threshold: Severity, at_least: bool) -> None:
    assert sev.at_least(threshold) is at_least


def test_counts_is_not_suppressed() -> None:
    assert _finding(Severity.LOW).counts
    assert not _finding(Severity.LOW, "waiver:x").counts
