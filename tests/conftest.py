"""Shared fixtures: small real git repositories and snapshots for end-to-end CLI tests."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ci_skips import pytest_make_collect_report, pytest_runtest_makereport  # every skip fails under CI

__all__ = ["pytest_make_collect_report", "pytest_runtest_makereport"]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Alice Admin",
    "GIT_AUTHOR_EMAIL": "alice@example.com",
    "GIT_COMMITTER_NAME": "Alice Admin",
    "GIT_COMMITTER_EMAIL": "alice@example.com",
    "GIT_AUTHOR_DATE": "2026-11-01T10:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-11-01T10:00:00+00:00",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(repo.parent)}
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env)
    return out.stdout.strip()


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Create a git repository with the given files committed on branch main."""

    def make(files: dict[str, str], name: str = "repo") -> Path:
        repo = tmp_path / name
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        write(repo, files)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "initial fleet")
        return repo

    return make


@pytest.fixture(autouse=True)
def _private_caches(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep clone and render caches out of the user's home and shared by nothing but this test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A ``https://127.0.0.1:PORT`` URL that refuses connections for the whole test.

    The port stays bound to a socket that never listens: the kernel answers a connection attempt with a
    reset (connection refused), and no other process can take the port meanwhile. (Binding, closing and
    handing out the port number left a window in which another test or process could start listening.)
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield f"https://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def _logger_state(name: str) -> tuple[logging.Logger, list[logging.Handler], int, bool, bool]:
    logger = logging.getLogger(name)
    return logger, list(logger.handlers), logger.level, logger.propagate, logger.disabled


_PRODUCT_LOGGERS = ("gitops_audit", "auditor")
_LOGGERS_AT_START = [_logger_state(name) for name in _PRODUCT_LOGGERS]
"""The product's loggers as the session found them (conftest is imported before any test module)."""


@pytest.fixture(autouse=True)
def _restore_loggers() -> Iterator[None]:
    """After each test, put the product's loggers back as the session found them (handlers, level, propagation).

    ``auditor.logs.configure`` installs a stderr handler bound to the stream of the moment (pytest's
    capture of *that* test), turns propagation off and gives the root logger a handler for library
    warnings; left in place, later tests log into a closed capture and caplog sees nothing. The state
    to return to is the session's, not the test's: a module- or session-scoped fixture that calls
    ``main()`` runs before this fixture and would otherwise make its configuration the one restored.
    """
    try:
        yield
    finally:
        for logger, handlers, level, propagate, disabled in _LOGGERS_AT_START:
            for h in list(logger.handlers):
                if h not in handlers:
                    logger.removeHandler(h)
            for h in handlers:
                if h not in logger.handlers:
                    logger.addHandler(h)
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled
        top = logging.getLogger()
        for h in list(top.handlers):
            if getattr(h, "_gitops_audit", False):  # the library-warnings handler logs.configure adds
                top.removeHandler(h)
