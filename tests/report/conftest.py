"""Shared fixtures for report tests: the sample report and golden-file comparison.

Regenerate golden files with ``UPDATE_GOLDEN=1 python -m pytest tests/report``; review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.model import AuditReport

from .browser_util import LAUNCH_ARGS, find_chromium, missing
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


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (skipped when none is found; under CI the skip fails, tests/ci_skips.py)."""
    why = missing()
    if why:
        pytest.skip(f"browser tests must run in CI: {why}")  # a failure under CI (tests/ci_skips.py)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=find_chromium(), args=LAUNCH_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()
