"""Every format of a run, written to files as it is made or rendered in memory: the same bytes either way."""

from __future__ import annotations

import stat
from pathlib import Path

from auditor.model import AuditReport
from auditor.report import bundle
from auditor.report.formats import BUNDLE, FILES, render_all, render_reports, write_reports


def test_files_written_one_by_one_hold_the_bytes_rendered_in_memory(report: AuditReport, tmp_path: Path) -> None:
    paths = write_reports(report, tmp_path)
    in_memory = render_reports(report)
    assert set(paths) == set(in_memory) == set(FILES.values())
    for name, path in paths.items():
        assert path.read_bytes() == in_memory[name], name
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_render_all_adds_a_bundle_that_verifies(report: AuditReport, tmp_path: Path) -> None:
    files = render_all(report)
    (tmp_path / BUNDLE).write_bytes(files[BUNDLE])
    result = bundle.verify(tmp_path / BUNDLE)
    assert result.status is bundle.Status.UNSIGNED, result.problems
    assert set(files) == {*FILES.values(), BUNDLE}
