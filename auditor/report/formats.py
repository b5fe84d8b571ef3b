"""Every report format of one run, written to files (as each is made) or rendered in memory.

One list names the formats, their files and the per-character cleaning their text gets: text from
repositories and clusters may hold lone surrogates (not encodable) and bidi controls, which JSON
escapes and the other formats drop.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.model import AuditReport
from auditor.report import bundle, csv_report, html_report, json_report, junit, ledger_csv, oscal, sarif
from auditor.report._text import Sink, TextFile
from auditor.util.text import encodable, json_safe

if TYPE_CHECKING:  # pragma: no cover - typing only; history imports this module at run time
    from auditor.report.history import RunSummary

FILES = {
    "html": "report.html",
    "json": "report.json",
    "csv": "findings.csv",
    "junit": "junit.xml",
    "sarif": "report.sarif",
    "ledger": "ledger.csv",
    "oscal": "oscal.json",
}
BUNDLE = "evidence.zip"


Writer = tuple[str, Callable[[Sink], None], Callable[[str], str]]


def _writers(
    report: AuditReport, history: Sequence[RunSummary], controls: Mapping[str, Sequence[str]] | None
) -> list[Writer]:
    """(file name, writer, per-character cleaning) of every report format of one run.

    Text from repositories and clusters may hold lone surrogates (not encodable) and bidi controls.
    """
    return [
        (FILES["html"], lambda out: html_report.write(report, out, history), encodable),
        (FILES["json"], lambda out: json_report.write(report, out), json_safe),
        (FILES["csv"], lambda out: csv_report.write(report, out), encodable),
        (FILES["junit"], lambda out: junit.write(report, out), encodable),
        (FILES["sarif"], lambda out: sarif.write(report, out), json_safe),
        (FILES["ledger"], lambda out: out.append(ledger_csv.render(report)), encodable),
        (FILES["oscal"], lambda out: oscal.write(report, out, controls), json_safe),
    ]


def render_reports(
    report: AuditReport, history: Sequence[RunSummary] = (), *, controls: Mapping[str, Sequence[str]] | None = None
) -> dict[str, bytes]:
    """Every report format of one run, by file name (no bundle), in memory (tests, small runs)."""
    files: dict[str, bytes] = {}
    for name, write, clean in _writers(report, history, controls):
        buf = io.BytesIO()
        sink = TextFile(buf, clean)
        write(sink)
        sink.flush()
        files[name] = buf.getvalue()
    return files


def write_reports(
    report: AuditReport, folder: Path, history: Sequence[RunSummary] = (), *,
    controls: Mapping[str, Sequence[str]] | None = None, shown: Path | None = None,
) -> dict[str, Path]:
    """Write every report format of one run into ``folder``, one format at a time, each as it is made.

    Only one format's text is ever in memory, a batch at a time: a fleet's reports together are
    hundreds of MB, and a run that held them all (and then the bundle's copy) peaked there.
    ``shown`` is the run directory an error names (``folder`` may be a staging copy).
    """
    paths: dict[str, Path] = {}
    for name, write, clean in _writers(report, history, controls):
        path = folder / name
        try:
            with open(path, "wb") as fh:
                sink = TextFile(fh, clean)
                write(sink)
                sink.flush()
            # Reports are read by the report server and by auditors (they hold no secret values):
            # world-readable like any file written under a default umask.
            os.chmod(path, 0o644)
        except OSError as exc:  # name the file the user will look for, not the staging copy
            raise OSError(exc.errno, exc.strerror, str((shown or folder) / name)) from None
        paths[name] = path
    return paths


def bundle_members(reports: Mapping[str, bundle.Source], state: Mapping[str, bundle.Source] | None = None) -> dict[
    str, bundle.Source
]:
    """Bundle member names: reports under ``reports/``, the run's state files (already named ``state/…``)."""
    members: dict[str, bundle.Source] = {f"reports/{name}": data for name, data in reports.items()}
    members.update(state or {})
    return members


def render_all(
    report: AuditReport, history: Sequence[RunSummary] = (), *, config_sha256: str = ""
) -> dict[str, bytes]:
    """Every format of one run, by file name (bundle included, unsigned, without state)."""
    files = render_reports(report, history)
    files[BUNDLE] = bundle.build(report, bundle_members(files), config_sha256=config_sha256)
    return files
