"""Shared fixtures for the cluster stage tests: realistic live objects from fixtures/live.yaml."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

FIXTURES = Path(__file__).parent / "fixtures"
CANARY_SECRET = "CANARY-SECRET-VALUE-3141"


def load_live_objects() -> list[dict[str, Any]]:
    """The fixture cluster's objects (fresh copies)."""
    with (FIXTURES / "live.yaml").open(encoding="utf-8") as fh:
        return [copy.deepcopy(d) for d in yaml.safe_load_all(fh) if d]


@pytest.fixture
def live_objects() -> list[dict[str, Any]]:
    return load_live_objects()


from collections.abc import Iterator  # noqa: E402

from .fakeapi import FakeAPIServer  # noqa: E402
from .pki import Pki, cluster_entry, make_pki, write_kubeconfig  # noqa: E402

TOKEN = "canary-token-6f1d2e9a8b7c"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def api(pki: Pki) -> Iterator[FakeAPIServer]:
    """A TLS API server with the fixture objects, accepting the bearer token or the client certificate."""
    with FakeAPIServer(load_live_objects(), token=TOKEN, tls=pki.server, client_ca=str(pki.ca_cert)) as srv:
        yield srv


@pytest.fixture
def kubeconfig(tmp_path: Path, pki: Pki, api: FakeAPIServer) -> Path:
    """Contexts: ``prod`` (CA data + bearer token), ``cert`` (CA file + client certificate)."""
    return write_kubeconfig(
        tmp_path / "kube" / "config",
        clusters=[cluster_entry("prod", api.url, pki.ca_cert),
                  cluster_entry("prod-file", api.url, ca_file=str(pki.ca_cert))],
        users=[{"name": "auditor", "user": {"token": TOKEN}},
               {"name": "alice", "user": {"client-certificate-data": _b64(pki.client_cert),
                                          "client-key-data": _b64(pki.client_key)}}],
        contexts=[("prod", "prod", "auditor"), ("cert", "prod-file", "alice")],
    )


def _b64(path: Path) -> str:
    import base64

    return base64.b64encode(path.read_bytes()).decode()
