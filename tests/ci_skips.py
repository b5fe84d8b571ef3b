"""Under CI every skip is a failure: a test that cannot run there proves nothing and must not pass as green.

A developer machine may lack helm, Chromium or a test extra, and a skip with its reason is the right
answer there. CI (the ``CI`` environment variable set to anything but ``""``, ``0``, ``false`` or ``no``)
installs everything the suite needs (``.ci/run``), so a skip there means a missing install step or a
broken guard, and it fails the run with the skip's reason. ``tests/conftest.py`` installs these hooks.

Only skips that are right on some platforms even in CI may be listed in :data:`CI_ALLOWED_SKIPS`, each
with its justification. Expected failures (``xfail``) are not skips and are left alone.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

CI_ALLOWED_SKIPS: dict[str, str] = {}
"""Test node id (or a prefix of one) → why it may skip even in CI. Empty: the suite runs whole on CI's
Linux machine; nothing in it is specific to another platform."""


def ci_enabled() -> bool:
    """True when the ``CI`` environment variable asks for CI behaviour."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _allowed(nodeid: str) -> bool:
    return any(nodeid == k or nodeid.startswith(k.rstrip(":") + "::") or nodeid.startswith(k + "[")
               for k in CI_ALLOWED_SKIPS)


def _reason(longrepr: Any) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail(report: Any) -> None:
    report.outcome = "failed"
    report.longrepr = (f"skipped under CI={os.environ.get('CI')!r}, which CI does not allow "
                       f"(tests/ci_skips.py): {_reason(report.longrepr)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Turn a test's skip (setup or call) into a failure under CI."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and ci_enabled() and not _allowed(item.nodeid):
        _fail(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    """Turn a module-level skip (``pytest.skip(allow_module_level=True)``, ``importorskip``) into a failure."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and ci_enabled() and not _allowed(report.nodeid):
        _fail(report)
