"""``gitops-audit diff`` handler: exit codes and human/JSON output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from auditor.commands import diff as diff_cmd

DESIRED = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}},
}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    diff_cmd.register(parser.add_subparsers())
    return parser.parse_args(["diff", *argv])


def write(tmp_path: Path, name: str, docs: list[dict]) -> str:
    p = tmp_path / name
    p.write_text(yaml.safe_dump_all(docs))
    return str(p)


def live_with(replicas: int) -> dict:
    live = json.loads(json.dumps(DESIRED))
    live["spec"]["replicas"] = replicas
    live["metadata"]["managedFields"] = [{
        "manager": "kubectl-scale", "operation": "Update", "time": "2026-11-20T03:12:44Z", "subresource": "scale",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    return live


def test_in_sync_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("--desired", write(tmp_path, "d.yaml", [DESIRED]), "--live", write(tmp_path, "l.yaml", [live_with(3)]))
    assert diff_cmd.handler(args) == 0
    assert "✓ Deployment/shop/web in sync" in capsys.readouterr().out


def test_drift_exit_1_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("--desired", write(tmp_path, "d.yaml", [DESIRED]), "--live", write(tmp_path, "l.yaml", [live_with(5)]))
    assert diff_cmd.handler(args) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == ["► Deployment/shop/web drifted",
                                    "  spec.replicas: 3 → 5 (kubectl-scale, 2026-11-20T03:12Z)"]


def test_drift_json_and_ignore_pointer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d, lv = write(tmp_path, "d.yaml", [DESIRED]), write(tmp_path, "l.yaml", [live_with(5)])
    assert diff_cmd.handler(parse("--desired", d, "--live", lv, "-o", "json")) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["in_sync"] is False and doc["findings"][0]["path"] == "spec.replicas"
    assert diff_cmd.handler(parse("--desired", d, "--live", lv, "--ignore-pointer", "/spec/replicas")) == 0
    assert "[suppressed by --ignore-pointer]" in capsys.readouterr().out


def test_bad_input_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n")
    assert diff_cmd.handler(parse("--desired", str(bad), "--live", str(bad))) == 2
    assert "read desired" in capsys.readouterr().err
    other = dict(DESIRED, metadata={"name": "api", "namespace": "shop"})
    args = parse("--desired", write(tmp_path, "d.yaml", [DESIRED]), "--live", write(tmp_path, "l.yaml", [other]))
    assert diff_cmd.handler(args) == 2
    assert diff_cmd.handler(parse("--desired", str(tmp_path / "nope.yaml"), "--live", str(bad))) == 2


def test_live_only_objects_are_listed_not_compared(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "shop"}}
    args = parse("--desired", write(tmp_path, "d.yaml", [DESIRED]),
                 "--live", write(tmp_path, "l.yaml", [live_with(3), extra]))
    assert diff_cmd.handler(args) == 0
    assert "· ConfigMap/shop/x only in --live (not compared)" in capsys.readouterr().out
