"""CSV formula guard: every cell a spreadsheet could evaluate is made inert, through the real render.

Spreadsheet tools strip leading whitespace and line breaks before deciding whether a cell is a
formula, so a value starting with a newline followed by ``=`` is as dangerous as ``=`` itself (issue 20:
the newline entry of the guard could be deleted with the whole suite still passing).
"""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest

from auditor.model import Category, Finding, ObjectRef, Severity
from auditor.report import csv_report

from .report_sample import PROD_US, make_report

STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def _render_with(message: str, name: str) -> dict[str, str]:
    base = make_report()
    f = Finding(target=PROD_US.name, category=Category.DRIFT, rule_id="drift.orphaned.unmanaged",
                severity=Severity.LOW, message=message, ref=ObjectRef("", "ConfigMap", "shop", name),
                path="", expected=None, actual=None)
    us = dataclasses.replace(base.results[0], findings=(*base.results[0].findings, f))
    text = csv_report.render(dataclasses.replace(base, results=(us, *base.results[1:])))
    rows = list(csv.DictReader(io.StringIO(text[1:], newline="")))
    (row,) = [r for r in rows if r["message"].endswith("cmd|' /C calc'!A0")]
    return row


@pytest.mark.parametrize("start", STARTS)
def test_every_formula_start_is_neutralised_in_the_rendered_csv(start: str) -> None:
    payload = start + "=cmd|' /C calc'!A0"
    row = _render_with(payload, "x")
    assert row["message"] == "'" + payload  # read back exactly, with the apostrophe in front


def test_leading_newline_then_formula() -> None:
    assert csv_report.neutralise("\n=1+1") == "'\n=1+1"
    assert csv_report.neutralise("\r\n=1+1") == "'\r\n=1+1"
    row = _render_with("\n=HYPERLINK(\"http://evil\")&cmd|' /C calc'!A0", "y")
    assert row["message"].startswith("'\n=")


@pytest.mark.parametrize("cell", ["plain", "a=b", "web-1", "1+1", " =x", ""])
def test_harmless_cells_unchanged(cell: str) -> None:
    # Only the first character decides; a space first is what spreadsheet tools show as text.
    assert csv_report.neutralise(cell) == cell


def test_long_cells_are_capped_then_guarded() -> None:
    cell = "=" + "x" * (csv_report.MAX_CELL + 10)
    out = csv_report.neutralise(cell)
    assert out.startswith("'=") and out.endswith("…(truncated)")
    assert len(out) == 1 + csv_report.MAX_CELL + len("…(truncated)")
    exact = "y" * csv_report.MAX_CELL
    assert csv_report.neutralise(exact) == exact  # at the cap: not cut


# --------------------------------------------------------------------------- columns (mutation run survivors)


def _cells(report, f: Finding, **kw) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(zip(csv_report.COLUMNS, csv_report.row(report, f, **kw), strict=True))


def test_target_columns_with_and_without_an_index() -> None:
    from auditor.model import FileProvenance, Provenance, Target, TargetResult

    base = make_report()
    snap = Target("offline", env="staging", region="eu", snapshot="snapshots/offline")
    bare = Target("bare")
    prov = Provenance(files=(FileProvenance("base/a.yaml", owners=("@c", "@d")),))
    own = Finding("offline", Category.DRIFT, "r", Severity.LOW, "m", owners=("@a", "@b"), provenance=prov)
    inherited = Finding("bare", Category.DRIFT, "r", Severity.LOW, "m", provenance=prov)
    stray = Finding("unknown-target", Category.DRIFT, "r", Severity.LOW, "m")
    report = dataclasses.replace(base, results=(*base.results, TargetResult(snap, True, findings=(own,)),
                                               TargetResult(bare, True, findings=(inherited,))))
    for kw in ({}, {"targets": {t.name: t for t in (snap, bare)}}):
        cells = _cells(report, own, **kw)
        assert (cells["env"], cells["region"], cells["context"]) == ("staging", "eu", "snapshot:snapshots/offline")
        assert cells["owners"] == "@a;@b"  # the finding's own owners first
        cells = _cells(report, inherited, **kw)
        assert (cells["env"], cells["region"], cells["context"]) == ("", "", "")
        # one meaning per column: the file's owners are not the finding's (git_owners carries the credited line's)
        assert (cells["owners"], cells["object_file"], cells["git_owners"]) == ("", "base/a.yaml", "")
        cells = _cells(report, stray, **kw)
        assert (cells["env"], cells["region"], cells["context"], cells["owners"]) == ("", "", "", "")
    live = _cells(base, base.results[0].findings[0])
    assert live["context"] == "prod-us"  # a context wins over everything


def test_git_and_live_credit_columns() -> None:
    from auditor.model import CommitInfo, Credit, FileProvenance, LiveProvenance

    report = make_report()
    c = CommitInfo("f" * 40, "Bob Builder", "bob@example.com", "2026-11-02T10:00:00+02:00")
    credit = Credit(git=FileProvenance("apps/web.yaml", commit=c, line=12, owners=("@a", "@org/b")),
                    live=LiveProvenance("kubectl-edit", "Update", "2026-11-03T01:00:00+01:00"), approval="trailer")
    f = dataclasses.replace(Finding(PROD_US.name, Category.DRIFT, "r", Severity.LOW, "m"), credit=credit)
    cells = _cells(report, f)
    assert [cells[k] for k in csv_report.COLUMNS[17:27]] == [
        "apps/web.yaml", "12", "f" * 40, "Bob Builder <bob@example.com>", "2026-11-02T08:00:00Z", "@a;@org/b",
        "trailer", "kubectl-edit", "Update", "2026-11-03T00:00:00Z"]
    # a file without a known line or commit, and no live write: those cells stay empty
    bare = dataclasses.replace(f, credit=Credit(git=FileProvenance("apps/web.yaml")))
    cells = _cells(report, bare)
    assert [cells[k] for k in csv_report.COLUMNS[17:27]] == ["apps/web.yaml", "", "", "", "", "", "", "", "", ""]
