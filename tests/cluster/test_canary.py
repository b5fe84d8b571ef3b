"""Canary: no token, key or Secret value in any output, log, error, live state or snapshot file."""

from __future__ import annotations

import argparse
import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from auditor.cluster.kube import read_cluster
from auditor.cluster.options import ClusterOptions, LiveScope
from auditor.commands import snapshot as snapshot_cmd
from auditor.errors import ClusterError

from .conftest import CANARY_SECRET, TOKEN
from .fakeapi import FakeAPIServer
from .pki import Pki, cluster_entry, exec_plugin_user, write_kubeconfig
from .test_kube import SHOP

EXEC_TOKEN = "canary-exec-token-5a4b3c2d1e"
WRONG_TOKEN = "canary-wrong-token-99887766"


def _forbidden_strings(pki: Pki) -> list[str]:
    key_lines = [ln for ln in pki.client_key.read_text().splitlines() if ln and not ln.startswith("-----")]
    return [TOKEN, EXEC_TOKEN, WRONG_TOKEN, CANARY_SECRET,
            base64.b64encode(CANARY_SECRET.encode()).decode(),
            base64.b64encode(pki.client_key.read_bytes()).decode()[:40], *key_lines]


def test_no_credential_or_secret_value_leaks(
    tmp_path: Path, pki: Pki, api: FakeAPIServer, kubeconfig: Path,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, urllib3, kubernetes
    cfg = write_kubeconfig(
        tmp_path / "canary", [cluster_entry("c", api.url, pki.ca_cert)],
        [{"name": "wrong", "user": {"token": WRONG_TOKEN}}, exec_plugin_user("sso", EXEC_TOKEN, tmp_path)],
        [("wrong", "c", "wrong"), ("sso", "c", "sso")],
    )
    seen: list[str] = []
    options = ClusterOptions(kubeconfig=str(kubeconfig), request_timeout=1.0, deadline=20.0, max_attempts=2)

    # Successful reads, both Secret modes.
    for opts in (options, ClusterOptions(**{**options.__dict__, "secrets": "hash", "secret_key": b"k" * 32})):
        state = read_cluster("prod", SHOP, opts)
        seen += [repr(state), json.dumps([m.body for m in state.objects])]
    state = read_cluster("cert", LiveScope(kinds=(("", "v1", "Secret"),), namespaces=("shop",)), options)
    seen.append(json.dumps([m.body for m in state.objects]))

    # A proxy that echoes the credential back in its error body.
    api.add_fault(r"/services$", status=500, message=f"upstream rejected Authorization: Bearer {TOKEN}")
    with pytest.raises(ClusterError) as err:
        read_cluster("prod", SHOP, options)
    seen.append(str(err.value))
    assert "***" in str(err.value)
    api.faults.clear()

    # Rejected token (401).
    wrong = ClusterOptions(kubeconfig=str(cfg), deadline=10.0)
    with pytest.raises(ClusterError) as err:
        read_cluster("wrong", SHOP, wrong)
    seen.append(str(err.value))
    # Exec credential plugin: the token exists only in memory.
    api.token = EXEC_TOKEN
    seen.append(repr(read_cluster("sso", SHOP, wrong)))
    api.token = TOKEN

    # Snapshot command: files, stdout, stderr.
    parser = argparse.ArgumentParser()
    snapshot_cmd.register(parser.add_subparsers())
    out = tmp_path / "snap"
    args = parser.parse_args(["snapshot", "--context", "prod", "--kubeconfig", str(kubeconfig), "--out", str(out)])
    assert snapshot_cmd.handler(args) == 0
    seen += [p.read_text() for p in sorted(out.rglob("*")) if p.is_file()]

    captured = capsys.readouterr()
    seen += [captured.out, captured.err, caplog.text]
    assert "GET /api" in caplog.text  # the logs were captured at all
    everything = "\n".join(seen)
    for forbidden in _forbidden_strings(pki):
        assert forbidden not in everything, f"leaked: {forbidden[:12]}…"
    assert any(r.auth == "bearer" for r in api.log)


def test_secret_values_never_reach_the_manifest(api: FakeAPIServer, kubeconfig: Path) -> None:
    """Even when a server ignores the metadata-only request and sends full Secrets."""
    def full_secret_list(path: str, query: dict[str, str], accept: str) -> Any:
        return original(path, query, "application/json")

    original = api._route
    api._route = full_secret_list  # type: ignore[method-assign]
    state = read_cluster("prod", LiveScope(kinds=(("", "v1", "Secret"),), namespaces=("shop",)),
                         ClusterOptions(kubeconfig=str(kubeconfig)))
    (secret,) = state.objects
    assert set(secret.body) == {"apiVersion", "kind", "metadata"}
    assert CANARY_SECRET not in json.dumps(secret.body)
