"""End to end: what kustomize outputs is what the audit compares (buildMetadata the overlay asked for,
objects without apiVersion), through the CLI with snapshot live state."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

from auditor.cli import main
from tests.test_cli import render, snapshot, write_config

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n"


def _findings(out: Path) -> list[dict]:
    doc = json.loads((out / "latest" / "report.json").read_text())
    return [f for t in doc["targets"] for f in t["findings"]]


def test_origin_annotations_the_overlay_asks_for_are_desired_state(make_repo: Callable[..., Path],
                                                                     tmp_path: Path) -> None:
    repo = make_repo({
        "base/cm.yaml": CM,
        "base/kustomization.yaml": "resources: [cm.yaml]\n",
        "overlays/prod/kustomization.yaml": "namespace: shop\nresources: [../../base]\n"
                                            "buildMetadata: [originAnnotations]\n",
    })
    applied = render(repo, "overlays/prod")  # what kustomize-controller applies: the origin annotation included
    assert "config.kubernetes.io/origin" in applied[0]["metadata"]["annotations"]
    snapshot(tmp_path / "in-sync", applied)
    stripped = copy.deepcopy(applied)
    del stripped[0]["metadata"]["annotations"]
    snapshot(tmp_path / "stripped", stripped)
    cfg = write_config(tmp_path / "gitops-audit.yaml",
                       "  - {name: synced, path: overlays/prod, snapshot: in-sync}\n"
                       "  - {name: stripped, path: overlays/prod, snapshot: stripped}\n")
    main(["run", "--config", str(cfg), "--out", str(tmp_path / "out"), "-q", "--fail-on", "critical"])
    drift = [f for f in _findings(tmp_path / "out") if f["category"] == "drift"]
    assert {f["target"] for f in drift} == {"stripped"}
    assert any("config.kubernetes.io/origin" in json.dumps(f) for f in drift)


def test_object_without_api_version_is_reported_and_the_rest_audited(make_repo: Callable[..., Path],
                                                                     tmp_path: Path) -> None:
    repo = make_repo({
        "app/kustomization.yaml": "namespace: shop\nresources: [objs.yaml]\n",
        "app/objs.yaml": "kind: ConfigMap\nmetadata:\n  name: no-api\ndata: {a: b}\n---\n" + CM,
    })
    live = [o for o in render(repo, "app") if o.get("apiVersion")]
    snapshot(tmp_path / "live", live)
    cfg = write_config(tmp_path / "gitops-audit.yaml", "  - {name: app, path: app, snapshot: live}\n")
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "out"), "-q"]) == 3  # partial
    doc = json.loads((tmp_path / "out" / "latest" / "report.json").read_text())
    (target,) = doc["targets"]
    assert target["audited"] and target["desired_count"] == 1
    gaps = [f for f in target["findings"] if f["category"] == "coverage"]
    assert len(gaps) == 1 and "ConfigMap/no-api" in gaps[0]["message"] and "apiVersion" in gaps[0]["message"]
