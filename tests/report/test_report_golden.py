"""Golden files for the machine formats and the plain terminal summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

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


_RENDER_ALL = """\
import json, sys
from auditor.report import html_report
from tests.report.report_sample import make_report
from tests.report.test_report_golden import FORMATS
report = make_report()
out = {name: fn(report) for name, fn in FORMATS.items()}
out["report.html"] = html_report.render(report)
sys.stdout.write(json.dumps(out))
"""


def _render_in_process(seed: str) -> dict[str, str]:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONHASHSEED": seed,
           "PYTHONPATH": os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run([sys.executable, "-c", _RENDER_ALL], cwd=root, env=env, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_deterministic_across_processes(golden: Callable[[str, str], None]) -> None:
    """Set and dict orders that follow string hashing differ between processes, not within one: render in
    two processes with different hash seeds and compare them with each other and with the golden files."""
    first, second = _render_in_process("1"), _render_in_process("4242")
    assert set(first) == {*FORMATS, "report.html"}
    for name in sorted(first):
        assert first[name] == second[name], f"{name} depends on PYTHONHASHSEED"
    for name in sorted(FORMATS):
        golden(name, first[name])
