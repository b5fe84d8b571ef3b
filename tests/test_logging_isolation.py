"""Tests leave the product's loggers as they found them (tests/conftest.py restores them after each test)."""

from __future__ import annotations

import logging

import pytest

from auditor.cli import main


@pytest.fixture(scope="module")
def configured_by_a_module_fixture() -> None:
    """What tests/test_evidence_e2e.py's demo fixture does: a ``main()`` call outside any one test."""
    main(["run", "--config", "/nonexistent/gitops-audit.yaml"])  # sets up logging, then exits 2


def test_a_cli_call_reconfigures_the_logger(capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "--config", "/nonexistent/gitops-audit.yaml"])  # sets up logging, then exits 2
    capsys.readouterr()
    logger = logging.getLogger("gitops_audit")
    assert logger.propagate is False and logger.handlers


def _assert_clean(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("gitops_audit")
    assert logger.propagate is True and logger.handlers == []
    assert not any(getattr(h, "_gitops_audit", False) for h in logging.getLogger().handlers)
    with caplog.at_level(logging.WARNING, logger="gitops_audit"):
        logger.warning("seen by caplog")
    assert [r.getMessage() for r in caplog.records] == ["seen by caplog"]


def test_the_next_test_starts_clean(caplog: pytest.LogCaptureFixture) -> None:
    # Order-dependent on purpose (file order is run order): this is what the fixture exists for.
    _assert_clean(caplog)


@pytest.mark.usefixtures("configured_by_a_module_fixture")
def test_a_module_fixture_reconfigures_the_logger(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert logging.getLogger("gitops_audit").propagate is False


def test_the_test_after_a_module_fixture_starts_clean(caplog: pytest.LogCaptureFixture) -> None:
    _assert_clean(caplog)
