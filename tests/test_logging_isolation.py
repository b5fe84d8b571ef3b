"""Tests leave the product's loggers as they found them (tests/conftest.py restores them after each test)."""

from __future__ import annotations

import logging

import pytest

from auditor.cli import main


def test_a_cli_call_reconfigures_the_logger(capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "--config", "/nonexistent/gitops-audit.yaml"])  # sets up logging, then exits 2
    capsys.readouterr()
    logger = logging.getLogger("gitops_audit")
    assert logger.propagate is False and logger.handlers


def test_the_next_test_starts_clean(caplog: pytest.LogCaptureFixture) -> None:
    # Order-dependent on purpose (file order is run order): this is what the fixture exists for.
    logger = logging.getLogger("gitops_audit")
    assert logger.propagate is True and logger.handlers == []
    with caplog.at_level(logging.WARNING, logger="gitops_audit"):
        logger.warning("seen by caplog")
    assert [r.getMessage() for r in caplog.records] == ["seen by caplog"]
