"""Every formatter runs on the sample report and history writes a run directory."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from auditor.report import csv_report, history, html_report, json_report, junit, sarif, terminal

from .report_sample import SECRET_PLAIN, make_report


def test_every_format_renders() -> None:
    """Each format parses as what it claims to be and carries every finding of the sample report."""
    report = make_report()
    fingerprints = {f.fingerprint for f in report.findings}
    assert len(fingerprints) == len(report.findings) == 11

    doc = json.loads(json_report.render(report))
    assert doc["run_id"] == report.run_id
    assert {f["fingerprint"] for t in doc["targets"] for f in t["findings"]} == fingerprints

    text = csv_report.render(report)
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert {r["fingerprint"] for r in rows} == fingerprints and len(rows) == len(fingerprints)

    page = html_report.render(report)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert report.run_id in page and all(fp in page for fp in fingerprints)

    root = ET.fromstring(junit.render(report))
    cases = list(root.iter("testcase"))
    assert len(cases) == len(fingerprints) + 1  # one per finding, one error for the target not audited
    assert {s.get("name") for s in root.iter("testsuite")} == {r.target.name for r in report.results}

    log = json.loads(sarif.render(report))
    assert log["version"] == "2.1.0"
    assert {r["partialFingerprints"]["gitopsAudit/v1"] for run in log["runs"] for r in run["results"]} == fingerprints

    summary = terminal.summary(report, color=False)
    assert report.run_id in summary
    assert all(r.target.name in summary for r in report.results)
    assert "NOT AUDITED" in summary.upper()

    for out in (json.dumps(doc), text, page, junit.render(report), sarif.render(report), summary):
        assert SECRET_PLAIN not in out


def test_write_run_layout(tmp_path: Path) -> None:
    paths = history.write_run(make_report(), tmp_path, keep=3, config_bytes=b"version: 1\n")
    for p in (paths.html, paths.json, paths.csv, paths.junit, paths.sarif, paths.bundle, paths.index):
        assert p.is_file(), p
    assert history.latest_run_id(tmp_path) == make_report().run_id
    prev = history.previous_run(tmp_path)
    assert prev is not None and prev.run_id == make_report().run_id
