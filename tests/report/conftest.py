"""Shared fixtures for report tests: the sample report and golden-file comparison.

Regenerate golden files with ``UPDATE_GOLDEN=1 python -m pytest tests/report``; review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.model import AuditReport

from .report_sample import make_report

GOLDEN_DIR = Path(__file__).parent / "golden"


@pytest.fixture
def report() -> AuditReport:
    return make_report()


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """Compare text with ``golden/<name>``; rewrite the file instead when UPDATE_GOLDEN=1."""

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if os.environ.get("UPDATE_GOLDEN") == "1":
            path.write_bytes(text.encode("utf-8"))
            return
        assert path.exists(), f"golden file {path} missing: run with UPDATE_GOLDEN=1 to create it"
        expected = path.read_bytes().decode("utf-8")
        assert text == expected, f"{name} differs from its golden file (UPDATE_GOLDEN=1 regenerates it)"

    return check
