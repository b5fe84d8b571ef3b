"""Terminal summary: plain without colour, ANSI with colour, control characters stripped."""

from __future__ import annotations

import dataclasses
import io
import json

from auditor.model import AuditReport
from auditor.report import terminal


def test_plain_has_no_escapes(report: AuditReport) -> None:
    text = terminal.summary(report, color=False)
    assert "\x1b" not in text
    assert "NOT AUDITED" in text and "exit 3" in text


def test_color_on_tty(report: AuditReport) -> None:
    assert "\x1b[" in terminal.summary(report, color=True)


def test_control_characters_stripped(report: AuditReport) -> None:
    evil = dataclasses.replace(
        report.results[2], target=dataclasses.replace(report.results[2].target, name="x\x1b[2Jy"),
        skip_reason="bad\x1b]0;title\x07",
    )
    r = dataclasses.replace(report, results=(*report.results[:2], evil))
    text = terminal.summary(r, color=False)
    assert "\x1b" not in text and "\x07" not in text


def test_progress_and_json_logs(report: AuditReport) -> None:
    buf = io.StringIO()
    terminal.progress("prod\x1b[31m", "reading live state", stream=buf)
    assert buf.getvalue() == "[prod] reading live state\n"  # the whole escape sequence is dropped
    lines = terminal.log_lines(report).splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["event"] for r in records] == ["target"] * len(report.results) + ["run"]
    assert records[-1]["exit_code"] == 3


def test_pandas_is_imported_lazily() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import auditor.report.history, auditor.report.terminal, auditor.report.server; "
        "print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
