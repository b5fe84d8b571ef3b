"""Ad-hoc targets render what users point at: a Helm chart directory (with --values) or plain manifests."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from auditor.cli import main

if TYPE_CHECKING:
    from tests.gitfixtures import GitRepo

HELM = shutil.which("helm") or "/usr/local/bin/helm"

FILES = {
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "charts/web/values.yaml": "replicas: 1\n",
    "charts/web/values-prod.yaml": "replicas: 3\n",
    "charts/web/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\n"
                                    "data:\n  replicas: {{ .Values.replicas | quote }}\n",
    "plain/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n",
    "plain/b.json": json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}),
    "plain/README.md": "not a manifest\n",
}


def _snapshot(tmp_path: Path, docs: list[dict[str, Any]]) -> Path:
    snap = tmp_path / "snap"
    snap.mkdir(exist_ok=True)
    (snap / "objects.yaml").write_text(yaml.safe_dump_all(docs))
    return snap


def _run(repo: GitRepo, tmp_path: Path, path: str, snap: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / f"out-{path.replace('/', '-')}"
    code = main(["run", "--repo", str(repo.root), "--path", path, "--snapshot", str(snap), "--out", str(out),
                 "-q", "--no-render-cache", *extra])
    return code, json.loads((out / "latest" / "report.json").read_text())


def test_helm_chart_path_with_values_matches_helm_template(make_repo: Callable[..., GitRepo], tmp_path: Path) -> None:
    repo = make_repo("adhoc", FILES)
    expected = [d for d in yaml.safe_load_all(subprocess.run(
        [HELM, "template", "web", str(repo.root / "charts/web"), "--namespace", "default",
         "--values", str(repo.root / "charts/web/values-prod.yaml")], capture_output=True, check=True).stdout) if d]
    live = [{**d, "metadata": {**d["metadata"], "namespace": "default"}} for d in expected]
    code, doc = _run(repo, tmp_path, "charts/web", _snapshot(tmp_path, live), "--values", "values-prod.yaml")
    target = doc["targets"][0]
    assert target["audited"] and target["desired_count"] == 1
    assert not [f for f in target["findings"] if f["category"] == "drift"]
    assert code == 0
    live[0]["data"]["replicas"] = "1"
    code, doc = _run(repo, tmp_path, "charts/web", _snapshot(tmp_path, live), "--values", "values-prod.yaml")
    drift = [f for f in doc["targets"][0]["findings"] if f["rule_id"] == "drift.modified"]
    assert [f["path"] for f in drift] == ["data.replicas"]
    assert drift[0]["provenance"]["files"][0]["path"] == "charts/web/templates/cm.yaml"


def test_plain_directory_path(make_repo: Callable[..., GitRepo], tmp_path: Path) -> None:
    repo = make_repo("adhoc-dir", FILES)
    snap = _snapshot(tmp_path, [{"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "a", "namespace": "default"}, "data": {"k": "v"}}])
    code, doc = _run(repo, tmp_path, "plain", snap)
    findings = {(f["rule_id"], f["object"]["name"]) for f in doc["targets"][0]["findings"] if f["object"]}
    assert ("drift.missing", "b") in findings and ("drift.missing", "a") not in findings
    assert doc["targets"][0]["desired_count"] == 2
    assert code == 1
