"""Issue 16 item 16: nothing read is dropped or overwritten without a word.

An API list item without ``metadata.name`` and a duplicate key in a snapshot file each become a coverage
finding naming the object or file, and the target is partial (exit 3, DESIGN §4b); before, the item
vanished and the duplicate's first value was lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster.fakeapi import FakeAPIServer
from cluster.pki import Pki, cluster_entry, write_kubeconfig

from .conftest import TOKEN
from .hostile import BASE_FILES, run_cli, write_config


def test_unnamed_items_and_duplicate_keys_are_findings(make_repo: Callable[..., Path], tmp_path: Path,
                                                       pki: Pki, api: FakeAPIServer) -> None:
    make_repo(BASE_FILES)
    original = api._route

    def route(path: str, query: dict[str, str], accept: str) -> tuple[int, Any, dict[str, str]]:
        status, body, headers = original(path, query, accept)
        if path.endswith("/deployments") and isinstance(body, dict):  # a server (or proxy) sending a nameless item
            body["items"].append({"metadata": {"namespace": "shop", "generateName": "ghost-", "uid": "u-1234"}})
        return status, body, headers

    api._route = route  # type: ignore[method-assign]
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", [cluster_entry("c", api.url, pki.ca_cert)],
                                  [{"name": "u", "user": {"token": TOKEN}}], [("c", "c", "u")])
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "live.yaml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "  - apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: web, namespace: shop}\n"
        "    spec:\n      replicas: 2\n      replicas: 9\n")
    cfg = write_config(tmp_path / "cfg.yaml", (
        f"repo: repo\nref: main\ncluster: {{kubeconfig: {kubeconfig}}}\ntargets:\n"
        "  - {name: live, path: overlays/prod, context: c}\n  - {name: snap, path: overlays/prod, snapshot: snap}\n"))
    run = run_cli(["run", "--config", str(cfg), "--out", str(tmp_path / "r")], cwd=tmp_path, cache=tmp_path / "c")
    # Both leave live state unknown (an unidentified object; a value of which the first was lost): partial.
    assert run.code == 3, run.stderr
    doc = json.loads((tmp_path / "r" / "latest" / "report.json").read_text())
    incomplete = {t["target"]["name"]: t.get("incomplete", []) for t in doc["targets"]}
    assert [m for m in incomplete["live"] if "no metadata.name" in m and "ghost-" in m], incomplete
    assert [m for m in incomplete["snap"] if "duplicate key 'replicas'" in m], incomplete
    coverage = {t["target"]["name"]: [f["message"] for f in t["findings"] if f["category"] == "coverage"]
                for t in doc["targets"]}
    assert any("no metadata.name" in m and "ghost-" in m and "u-1234" in m for m in coverage["live"]), coverage
    assert any("live.yaml:9" in m and "duplicate key 'replicas'" in m and "Deployment/shop/web" in m
               for m in coverage["snap"]), coverage
