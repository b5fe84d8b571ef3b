"""Issue 16 item 8: JSON nested ~1,000 levels deep in an API list costs that target, not the run.

Before: RecursionError, exit 4 and no report (and the same for ``snapshot``). After: the target is not
audited with one line, the other targets are, and ``snapshot`` fails with one line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster.conftest import load_live_objects
from cluster.fakeapi import FakeAPIServer
from cluster.pki import Pki, cluster_entry, write_kubeconfig

from .conftest import TOKEN
from .hostile import BASE_FILES, run_cli, write_config


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture
def deep_api(pki: Pki) -> Iterator[FakeAPIServer]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(20000)  # the fake server must be able to serialize what it sends
    objects = load_live_objects()
    objects.append({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "deep", "namespace": "shop"}, "spec": {"x": nested(3000)}})
    try:
        with FakeAPIServer(objects, token=TOKEN, tls=pki.server) as srv:
            yield srv
    finally:
        sys.setrecursionlimit(old)


def test_deep_json_costs_one_target(make_repo: Callable[..., Path], tmp_path: Path, pki: Pki,
                                    api: FakeAPIServer, deep_api: FakeAPIServer) -> None:
    make_repo(BASE_FILES)
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig",
        [cluster_entry("ok", api.url, pki.ca_cert), cluster_entry("deep", deep_api.url, pki.ca_cert)],
        [{"name": "u", "user": {"token": TOKEN}}], [("ok", "ok", "u"), ("deep", "deep", "u")])
    cfg = write_config(tmp_path / "cfg.yaml", (
        f"repo: repo\nref: main\ncluster: {{kubeconfig: {kubeconfig}, deadline: 30}}\ntargets:\n"
        "  - {name: ok, path: overlays/prod, context: ok}\n  - {name: deep, path: overlays/prod, context: deep}\n"))
    run = run_cli(["run", "--config", str(cfg), "--out", str(tmp_path / "reports")], cwd=tmp_path,
                  cache=tmp_path / "cache")
    assert run.code == 3, run.stderr
    doc = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    results = {t["target"]["name"]: t for t in doc["targets"]}
    assert results["ok"]["audited"]
    reason = results["deep"]["skip_reason"]
    assert not results["deep"]["audited"] and "nested deeper than" in reason and "\n" not in reason

    snap = run_cli(["snapshot", "--context", "deep", "--kubeconfig", str(kubeconfig), "--out",
                    str(tmp_path / "snap")], cwd=tmp_path, cache=tmp_path / "cache")
    assert snap.code == 2 and len(snap.stderr.strip().splitlines()) == 1, snap.stderr
    assert "nested deeper than" in snap.stderr


def test_deep_snapshot_file_costs_one_target(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    make_repo(BASE_FILES)
    for name, depth in (("deep", 1500), ("ok", 3)):
        d = tmp_path / f"snap-{name}"
        d.mkdir()
        (d / "live.json").write_text('{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", '
                                      '"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}, "x": '
                                      + "[" * depth + "]" * depth + "}]}")
    cfg = write_config(tmp_path / "cfg.yaml", "repo: repo\nref: main\ntargets:\n"
                       "  - {name: ok, path: overlays/prod, snapshot: snap-ok}\n"
                       "  - {name: deep, path: overlays/prod, snapshot: snap-deep}\n")
    run = run_cli(["run", "--config", str(cfg), "--out", str(tmp_path / "reports")], cwd=tmp_path,
                  cache=tmp_path / "cache")
    assert run.code == 3, run.stderr
    doc = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    results = {t["target"]["name"]: t for t in doc["targets"]}
    assert results["ok"]["audited"] and not results["deep"]["audited"]
    assert "nested deeper than" in results["deep"]["skip_reason"]
