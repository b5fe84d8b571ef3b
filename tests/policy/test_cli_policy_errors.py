"""No silent loss (issue 14 item 2), end to end through ``gitops-audit run`` on a small fleet.

A rule that fails on one document becomes a ``policy.error`` finding on that document naming the rule and the
error; the other rules on that document and the other documents are still evaluated; the target is partial and
the run exits 3.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from auditor.cli import main

POLICY = """package main
import rego.v1

# Fails on a ConfigMap whose `replicas` is not a number: to_number errors (an evaluation error, not undefined).
deny contains msg if {
\tinput.kind == "ConfigMap"
\tto_number(input.data.replicas) > 3
\tmsg := sprintf("%s: too many replicas", [input.metadata.name])
}

warn contains msg if {
\tinput.kind == "ConfigMap"
\tnot input.metadata.labels.team
\tmsg := sprintf("%s: no team label", [input.metadata.name])
}
"""


def _cm(name: str, replicas: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"replicas": replicas}}


def test_a_rule_error_on_one_document_is_a_finding_and_the_run_is_partial(
    make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    docs = [_cm("bad", "many"), _cm("big", "5"), _cm("ok", "1")]
    repo = make_repo({
        "apps/cms.yaml": yaml.safe_dump_all(docs),
        "apps/kustomization.yaml": "namespace: shop\nresources: [cms.yaml]\n",
        "clean/cms.yaml": yaml.safe_dump_all([_cm("ok", "1")]),
        "clean/kustomization.yaml": "namespace: shop\nresources: [cms.yaml]\n",
    })
    assert repo.name == "repo"
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "p.rego").write_text(POLICY)
    for name, items in (("snap", docs), ("snap-clean", [_cm("ok", "1")])):
        (tmp_path / name).mkdir()
        for d in items:
            d["metadata"]["namespace"] = "shop"
        (tmp_path / name / "live.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    cfg = tmp_path / "gitops-audit.yaml"
    cfg.write_text(
        "version: 1\nrepo: repo\nref: main\n"
        "policy: {builtin: false, dirs: [policy], workers: 0}\n"
        "targets:\n"
        "  - {name: shop, env: production, path: apps, snapshot: snap}\n"
        "  - {name: clean, env: production, path: clean, snapshot: snap-clean}\n"
    )
    code = main(["run", "--config", str(cfg), "--out", str(tmp_path / "out"), "-q"])
    assert code == 3  # partial wins over findings
    doc = json.loads((tmp_path / "out" / "latest" / "report.json").read_text())
    assert doc["partial"] is True
    by_target = {t["target"]["name"]: t for t in doc["targets"]}
    shop, clean = by_target["shop"], by_target["clean"]
    assert shop["audited"] is True and len(shop["incomplete"]) == 1 and "data.main.deny" in shop["incomplete"][0]
    assert "incomplete" not in clean  # the other target is complete
    errors = [f for f in shop["findings"] if f["rule_id"] == "policy.error"]
    assert len(errors) == 1
    (error,) = errors
    assert error["object"]["name"] == "bad" and error["severity"] == "high"
    assert error["details"]["rule"] == "data.main.deny" and "p.rego:7:" in error["details"]["error"]
    messages = sorted(f["message"] for f in shop["findings"] if f["rule_id"] != "policy.error")
    # The failing rule's other documents and the other rule on the failing document are all there.
    assert messages == ["bad: no team label", "big: no team label", "big: too many replicas", "ok: no team label"]
