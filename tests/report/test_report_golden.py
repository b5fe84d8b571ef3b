"""Golden files for the machine formats and the plain terminal summary."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from auditor.model import AuditReport
from auditor.report import csv_report, json_report, junit, sarif, terminal

from .report_sample import SECRET_PLAIN

FORMATS: dict[str, Callable[[AuditReport], str]] = {
    "report.json": json_report.render,
    "findings.csv": csv_report.render,
    "junit.xml": junit.render,
    "report.sarif": sarif.render,
    "summary.txt": lambda r: terminal.summary(r, color=False) + "\n",
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_golden(name: str, report: AuditReport, golden: Callable[[str, str], None]) -> None:
    text = FORMATS[name](report)
    assert SECRET_PLAIN not in text
    golden(name, text)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_deterministic(name: str, report: AuditReport) -> None:
    assert FORMATS[name](report) == FORMATS[name](report)
