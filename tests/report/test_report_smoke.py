"""Every formatter runs on the sample report and history writes a run directory."""

from __future__ import annotations

from pathlib import Path

from auditor.report import csv_report, history, html_report, json_report, junit, sarif, terminal

from .report_sample import make_report


def test_every_format_renders() -> None:
    report = make_report()
    for text in (
        json_report.render(report),
        csv_report.render(report),
        html_report.render(report),
        junit.render(report),
        sarif.render(report),
        terminal.summary(report, color=False),
    ):
        assert text
        assert "s3cr3t-PLAINTEXT-value" not in text


def test_write_run_layout(tmp_path: Path) -> None:
    paths = history.write_run(make_report(), tmp_path, keep=3, config_bytes=b"version: 1\n")
    for p in (paths.html, paths.json, paths.csv, paths.junit, paths.sarif, paths.bundle, paths.index):
        assert p.is_file(), p
    assert history.latest_run_id(tmp_path) == make_report().run_id
    prev = history.previous_run(tmp_path)
    assert prev is not None and prev.run_id == make_report().run_id
