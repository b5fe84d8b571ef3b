"""End to end through the CLI: several clusters (healthy, refusing, too slow), and live vs snapshot findings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main

from .conftest import TOKEN, load_live_objects
from .fakeapi import FakeAPIServer
from .pki import Pki, cluster_entry, write_kubeconfig

FILES = {
    "base/kustomization.yaml": "resources: [deployment.yaml, service.yaml, configmap.yaml]\n",
    "base/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/shop/web:1.4.2
          ports: [{containerPort: 8080}]
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 256Mi}
""",
    "base/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
""",
    "base/configmap.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config-7g2f8k9m4t
  labels: {app: web}
data: {LOG_LEVEL: info, FEATURE_CART: "true"}
""",
    "overlays/prod/kustomization.yaml": "namespace: shop\nresources: [../../base]\n",
}


@pytest.fixture
def slow_api(pki: Pki) -> Iterator[FakeAPIServer]:
    with FakeAPIServer(load_live_objects(), token=TOKEN, tls=pki.server) as srv:
        srv.add_fault(r"", delay=60.0)  # answers nothing within any deadline
        yield srv


@pytest.fixture
def fleet(make_repo: Callable[..., Path], tmp_path: Path, pki: Pki, api: FakeAPIServer,
          slow_api: FakeAPIServer, refused_url: str) -> Path:
    make_repo(FILES)
    write_kubeconfig(
        tmp_path / "kubeconfig",
        [cluster_entry("prod", api.url, pki.ca_cert), cluster_entry("down", refused_url, pki.ca_cert),
         cluster_entry("slow", slow_api.url, pki.ca_cert)],
        [{"name": "auditor", "user": {"token": TOKEN}}],
        [("prod", "prod", "auditor"), ("down", "down", "auditor"), ("slow", "slow", "auditor")],
    )
    return tmp_path


def _config(root: Path, name: str, targets: str) -> str:
    path = root / name
    path.write_text(
        "version: 1\nrepo: repo\nref: main\n"
        f"cluster: {{kubeconfig: {root / 'kubeconfig'}, deadline: 3, request_timeout: 2, max_attempts: 4}}\n"
        "targets:\n" + targets
    )
    return str(path)


def _report(out: Path) -> dict[str, Any]:
    return json.loads((out / "latest" / "report.json").read_text())


def test_three_clusters_one_healthy(fleet: Path, api: FakeAPIServer, slow_api: FakeAPIServer) -> None:
    cfg = _config(fleet, "three.yaml",
                  "  - {name: prod, path: overlays/prod, context: prod}\n"
                  "  - {name: down, path: overlays/prod, context: down}\n"
                  "  - {name: slow, path: overlays/prod, context: slow}\n")
    assert main(["run", "--config", cfg, "--out", str(fleet / "r"), "-q"]) == 3
    results = {t["target"]["name"]: t for t in _report(fleet / "r")["targets"]}
    assert results["prod"]["audited"] is True
    findings = results["prod"]["findings"]
    assert any(f["rule_id"] == "drift.modified" and f["path"] == "spec.replicas" for f in findings)
    assert results["down"]["audited"] is False
    assert "connection refused" in results["down"]["skip_reason"]
    assert results["slow"]["audited"] is False
    assert "deadline of 3s exceeded" in results["slow"]["skip_reason"]
    # Lists only, never one GET per object: O(kinds x namespaces) list requests.
    lists = [r.path for r in api.log if "limit" in r.query]
    assert len(lists) == len(set(lists))  # one list per (kind, namespace)
    # Deployment, Service, ConfigMap (git's kinds) plus the default orphan kinds the fake API serves
    # (Secret, ServiceAccount, StatefulSet, Role, RoleBinding), all in shop.
    assert len(lists) == 8 and all("/namespaces/shop/" in p for p in lists)
    assert not [r for r in api.log if r.path.rstrip("/").split("/")[-1] in ("web", "web-config-7g2f8k9m4t")]


def test_live_and_snapshot_audits_give_the_same_findings(fleet: Path, api: FakeAPIServer) -> None:
    live_cfg = _config(fleet, "live.yaml", "  - {name: prod, path: overlays/prod, context: prod}\n")
    live_code = main(["run", "--config", live_cfg, "--out", str(fleet / "live"), "-q"])
    assert live_code in (0, 1)
    snap = fleet / "snap"
    assert main(["snapshot", "--context", "prod", "--kubeconfig", str(fleet / "kubeconfig"),
                 "--namespace", "shop", "--out", str(snap)]) == 0
    offline_cfg = _config(fleet, "offline.yaml", f"  - {{name: prod, path: overlays/prod, snapshot: {snap}}}\n")
    assert main(["run", "--config", offline_cfg, "--out", str(fleet / "offline"), "-q"]) == live_code

    def findings(out: Path) -> list[dict[str, Any]]:
        (target,) = _report(out)["targets"]
        volatile = ("status", "first_seen", "last_seen")
        return [{k: v for k, v in f.items() if k not in volatile} for f in target["findings"]]

    live, offline = findings(fleet / "live"), findings(fleet / "offline")
    assert live == offline
    assert any(f["rule_id"] == "drift.modified" and f["path"] == "spec.replicas" for f in live)
