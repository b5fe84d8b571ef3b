"""History: run directories, latest pointer, previous-run comparison, retention, index."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from auditor.errors import ReportError
from auditor.model import AuditReport, Finding, FindingStatus, Severity
from auditor.report import history, json_report

from .report_sample import PROD_EU, PROD_US


def _run(report: AuditReport, run_id: str, findings_us: tuple[Finding, ...] | None = None) -> AuditReport:
    results = report.results
    if findings_us is not None:
        results = tuple(
            dataclasses.replace(r, findings=findings_us) if r.target.name == PROD_US.name else r for r in results
        )
    return dataclasses.replace(report, run_id=run_id, results=results, previous_run_id="", resolved=())


def test_compare_without_previous_marks_everything_new(report: AuditReport) -> None:
    out = history.compare_with_previous(report, None)
    assert all(f.status is FindingStatus.NEW for f in out.findings)
    assert out.resolved == () and out.previous_run_id == ""


def test_compare_with_previous(report: AuditReport) -> None:
    base = _run(report, "20260101T000000Z-000001")
    us = next(r for r in base.results if r.target.name == PROD_US.name).findings
    new_finding = dataclasses.replace(us[0], rule_id="drift/brand-new", path="spec.paused")
    current = _run(report, "20260102T000000Z-000002", findings_us=(*us[1:], new_finding))
    before = [f.status for f in current.findings]
    out = history.compare_with_previous(current, base)
    assert out.previous_run_id == base.run_id
    by_fp = {f.fingerprint: f for f in out.findings}
    assert by_fp[new_finding.fingerprint].status is FindingStatus.NEW
    assert all(by_fp[f.fingerprint].status is FindingStatus.PERSISTING for f in us[1:])
    assert [f.fingerprint for f in out.resolved] == [us[0].fingerprint]
    # the input is not mutated
    assert [f.status for f in current.findings] == before


def test_resolved_ignores_targets_not_audited_now(report: AuditReport) -> None:
    base = _run(report, "20260101T000000Z-000001")
    current = dataclasses.replace(
        base,
        run_id="20260102T000000Z-000002",
        results=tuple(
            dataclasses.replace(r, audited=False, skip_reason="cluster unreachable", findings=())
            if r.target.name == PROD_EU.name
            else r
            for r in base.results
        ),
    )
    out = history.compare_with_previous(current, base)
    assert not any(f.target == PROD_EU.name for f in out.resolved)


def test_write_run_files_latest_and_previous(tmp_path: Path, report: AuditReport) -> None:
    first = _run(report, "20260101T000000Z-000001")
    p1 = history.write_run(first, tmp_path, config_bytes=b"version: 1\n")
    assert p1.run_dir == tmp_path / first.run_id
    assert {p.name for p in p1.run_dir.iterdir()} == {
        "report.html", "report.json", "findings.csv", "junit.xml", "report.sarif", "evidence.zip", "summary.json",
        "ledger.csv", "oscal.json"
    }
    assert (tmp_path / "latest").is_symlink()
    saved = json_report.load(p1.json.read_text("utf-8"))
    assert saved.config_sha256 == __import__("hashlib").sha256(b"version: 1\n").hexdigest()
    # no leftovers from staging
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

    second = _run(report, "20260102T000000Z-000002")
    prev = history.previous_run(tmp_path)
    assert prev is not None and prev.run_id == first.run_id
    compared = history.compare_with_previous(second, prev)
    p2 = history.write_run(compared, tmp_path)
    assert history.latest_run_id(tmp_path) == second.run_id
    assert os.readlink(tmp_path / "latest") == second.run_id
    index = p2.index.read_text("utf-8")
    assert first.run_id in index and second.run_id in index
    summaries = history.load_summaries(tmp_path)
    assert [s.run_id for s in summaries] == [first.run_id, second.run_id]
    assert summaries[1].new == 0  # everything persisted
    assert json.loads(p2.summary.read_text())["counted"] == summaries[1].counted


def test_latest_pointer_file_without_symlinks(
    tmp_path: Path, report: AuditReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_symlinks(*args: object, **kwargs: object) -> None:
        raise OSError("symlinks not supported")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    history.write_run(_run(report, "20260101T000000Z-000001"), tmp_path)
    latest = tmp_path / "latest"
    assert latest.is_file() and not latest.is_symlink()
    assert latest.read_text().strip() == "20260101T000000Z-000001"
    assert history.previous_run(tmp_path) is not None
    history.write_run(_run(report, "20260102T000000Z-000002"), tmp_path)
    assert history.latest_run_id(tmp_path) == "20260102T000000Z-000002"


def test_retention_keeps_newest(tmp_path: Path, report: AuditReport) -> None:
    ids = [f"2026010{i}T000000Z-00000{i}" for i in range(1, 6)]
    for run_id in ids:
        history.write_run(_run(report, run_id), tmp_path, keep=3)
    assert [d.name for d in history.run_dirs(tmp_path)] == ids[-3:]
    (tmp_path / "not-a-run").mkdir()  # a foreign directory is never removed
    (tmp_path / "20200101T000000Z-ffffff").mkdir()  # looks like a run id but holds no report
    history.write_run(_run(report, "20260109T000000Z-000009"), tmp_path, keep=1)
    assert (tmp_path / "not-a-run").is_dir()
    assert (tmp_path / "20200101T000000Z-ffffff").is_dir()
    assert not (tmp_path / ids[-1]).exists()


def test_directories_beside_the_runs_are_not_runs(tmp_path: Path, report: AuditReport) -> None:
    """An Indexed Job's merged reports directory also holds shards/ and metrics/ (deploy/overlays/indexed-job)."""
    (tmp_path / "shards" / "0").mkdir(parents=True)
    (tmp_path / "metrics").mkdir()
    assert history.run_dirs(tmp_path) == [] and history.latest_run_id(tmp_path) is None
    ids = [f"2026010{i}T000000Z-00000{i}" for i in range(1, 4)]
    for run_id in ids:
        history.write_run(_run(report, run_id), tmp_path, keep=2)
    (tmp_path / "latest").unlink()
    assert [d.name for d in history.run_dirs(tmp_path)] == ids[-2:]  # two runs kept, not two names
    assert history.latest_run_id(tmp_path) == ids[-1]
    assert (tmp_path / "shards" / "0").is_dir() and (tmp_path / "metrics").is_dir()


def test_previous_run_survives_damage(tmp_path: Path, report: AuditReport) -> None:
    paths = history.write_run(_run(report, "20260101T000000Z-000001"), tmp_path)
    paths.json.write_text("{broken")
    assert history.previous_run(tmp_path) is None
    assert history.previous_run(tmp_path / "nothing-here") is None


def test_unsafe_run_id_refused(tmp_path: Path, report: AuditReport) -> None:
    for bad in ("../x", ".hidden", "a/b", ""):
        with pytest.raises(ReportError):
            history.write_run(dataclasses.replace(report, run_id=bad), tmp_path)


def test_summary_round_trip(report: AuditReport) -> None:
    s = history.RunSummary.from_report(report)
    assert history.RunSummary.from_dict(json.loads(json.dumps(s.as_dict()))) == s
    assert s.partial and s.exit_code == 3 and s.not_audited == 1
    assert dict(s.by_severity)[Severity.CRITICAL.value] == 1


def test_report_files_are_readable_by_the_server_user(tmp_path: Path, report: AuditReport) -> None:
    paths = history.write_run(report, tmp_path)
    for p in (paths.html, paths.csv, paths.bundle, paths.index):
        assert p.stat().st_mode & 0o777 == 0o644, p
    assert paths.run_dir.stat().st_mode & 0o777 == 0o755


def test_stale_staging_dirs_are_cleaned(tmp_path: Path, report: AuditReport) -> None:
    stale = tmp_path / ".20250101T000000Z-000000.abc123"
    fresh = tmp_path / ".20250102T000000Z-000000.def456"
    other = tmp_path / ".git"
    for d in (stale, fresh, other):
        d.mkdir()
    day_ago = __import__("time").time() - 2 * 24 * 3600
    os.utime(stale, (day_ago, day_ago))
    os.utime(other, (day_ago, day_ago))
    history.write_run(report, tmp_path)
    assert not stale.exists()
    assert fresh.exists() and other.exists()
