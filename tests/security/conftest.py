"""Fixtures for the hostile-input tests: a test PKI and TLS API servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster.conftest import TOKEN, load_live_objects
from cluster.fakeapi import FakeAPIServer
from cluster.pki import Pki, make_pki

__all__ = ["TOKEN"]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def api(pki: Pki) -> Iterator[FakeAPIServer]:
    """A TLS API server with the fixture objects (a Secret holding CANARY-SECRET-VALUE-3141), bearer TOKEN."""
    with FakeAPIServer(load_live_objects(), token=TOKEN, tls=pki.server) as srv:
        yield srv


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
