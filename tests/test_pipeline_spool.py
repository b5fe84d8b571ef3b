"""The run parks each target's desired objects on disk for the fleet comparison: same fields, no Secret value."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.util.spool import Spool
from tests.test_cli import FLEET, render, snapshot, write_config

CANARY = "spool-canary-hunter2"
SECRET = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: db
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{{"stringData":{{"password":"{CANARY}"}}}}'
stringData:
  password: {CANARY}
"""


def test_fleet_fields_from_the_spool_and_no_secret_value_on_disk(
    make_repo: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {**FLEET, "base/secret.yaml": SECRET,
             "base/kustomization.yaml": "resources: [deployment.yaml, service.yaml, secret.yaml]\n"}
    repo = make_repo(files)
    for env in ("prod", "dev"):
        snapshot(tmp_path / f"snap-{env}", render(repo, f"overlays/{env}"))
    write_config(tmp_path / "gitops-audit.yaml",
                 "  - {name: prod, env: production, path: overlays/prod, snapshot: snap-prod}\n"
                 "  - {name: dev, env: dev, path: overlays/dev, snapshot: snap-dev}\n")
    parked: list[bytes] = []
    put = Spool.put

    def record(self: Spool, name: str, value: Any) -> None:
        parked.append(pickle.dumps(value))
        put(self, name, value)

    monkeypatch.setattr(Spool, "put", record)
    main(["run", "--config", str(tmp_path / "gitops-audit.yaml"), "--out", str(tmp_path / "out")])
    assert len(parked) == 2  # one entry per audited target
    assert not any(CANARY.encode() in data for data in parked)
    doc = json.loads((tmp_path / "out" / "latest" / "report.json").read_text())
    fields = {(f["key"], f["path"]): f["values"] for f in doc["fleet_fields"]}
    assert fields[("Deployment/web", "spec.replicas")] == [["prod", 3], ["dev", 2]]
    assert CANARY not in json.dumps(doc)
