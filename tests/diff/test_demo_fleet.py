"""The demo fleet's injected drifts (auditor/demo/drift.yaml) are each reported right, and nothing else.

Renders each overlay with the real ``kubectl kustomize`` and loads the snapshot files directly
(the drift stage never imports the source or cluster stages).
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.diff.engine import DriftOutcome, diff_target
from auditor.diff.options import DriftOptions
from auditor.diff.render import render_json, render_text
from auditor.model import LiveState, Manifest, Target
from auditor.util import proc, yamlio

from .corpus_support import to_manifest

DEMO = Path(__file__).resolve().parents[2] / "auditor" / "demo"
DRIFT = DEMO / "drift.yaml"

pytestmark = [
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed"),
]

# Severity of each injected drift, per the table in auditor/diff/README.md.
SEVERITY = {
    "dev-web-debug-label": "low",
    "staging-hpa-max": "medium",
    "staging-api-service-deleted": "high",
    "prod-use-scale-api": "medium",
    "prod-use-web-debug-env": "medium",
    "prod-use-incident-notes": "medium",
    "prod-use-oncall-cluster-admin": "critical",
    "prod-use-legacy-gateway-deployment": "medium",
    "prod-use-legacy-gateway-service": "medium",
    "prod-euw-payments-image": "high",
}
RULE = {"missing": "drift.missing", "modified": "drift.modified", "added": "drift.added"}


def _spec() -> dict[str, Any]:
    return yaml.safe_load(DRIFT.read_text()) if DRIFT.is_file() else {"targets": {}}


def _targets() -> list[str]:
    return list(_spec().get("targets", {}))


def _config_targets() -> dict[str, dict[str, Any]]:
    cfg = yaml.safe_load((DEMO / "tree" / "gitops-audit.yaml").read_text())
    return {t["name"]: t for t in cfg["targets"]}


def render(overlay: str) -> list[Manifest]:
    out = proc.run(["kubectl", "kustomize", str(DEMO / "tree" / overlay)], action=f"render {overlay}")
    return [to_manifest(d) for d in yamlio.load_all(out.stdout, overlay)]


def snapshot(name: str) -> list[Manifest]:
    objs: list[Manifest] = []
    for f in sorted((DEMO / name).iterdir()):
        for doc in yamlio.load_json_or_yaml(f.read_bytes(), str(f)):
            objs.extend(to_manifest(item) for item in yamlio.iter_items(doc))
    return objs


def run_target(name: str) -> DriftOutcome:
    spec = _spec()["targets"][name]
    cfg = _config_targets()[name]
    return diff_target(Target(name=name, namespace=spec["namespace"]), render(cfg["path"]),
                       LiveState(tuple(snapshot(cfg["snapshot"])), cfg["snapshot"]), DriftOptions())


def expected_key(d: dict[str, Any], namespace: str) -> tuple[str, str, str]:
    obj = d["object"]
    exp = d["expect"]
    rule = f"drift.orphaned.{exp['note']}" if exp["drift"] == "orphaned" else RULE[exp["drift"]]
    name = obj.get("name") or obj["metadata"]["name"]
    kind = obj.get("kind")
    return rule, f"{kind}/{namespace}/{name}", exp.get("path", "")


@pytest.mark.parametrize("name", _targets())
def test_demo_target_reports_exactly_the_injected_drift(name: str) -> None:
    spec = _spec()["targets"][name]
    ns = spec["namespace"]
    outcome = run_target(name)
    got = {(f.rule_id, f.ref.subject, f.path): f for f in outcome.findings if f.counts}
    want: dict[tuple[str, str, str], dict[str, Any]] = {}
    for d in spec["drift"]:
        want[expected_key(d, ns)] = d
    assert set(got) == set(want), [f.message for f in got.values()]
    for key, d in want.items():
        f = got[key]
        exp = d["expect"]
        if d["id"] in SEVERITY:  # drifts added to the demo later are checked for kind/path/attribution
            assert f.severity.value == SEVERITY[d["id"]], (d["id"], f.message)
        if "manager" in exp:
            assert f.provenance.live and f.provenance.live[0].manager == exp["manager"], (d["id"], f.message)
            assert f.provenance.live[0].time == d["time"]
        if "expected" in exp:
            assert f.expected == exp["expected"]
        if "actual" in exp:
            assert f.actual == exp["actual"]
    # Suppressed differences stay visible: the HPA-owned replicas of shop-web where it scaled.
    for f in outcome.findings:
        if not f.counts:
            assert f.suppressed_by.startswith("hpa:"), f.message


def test_demo_no_secret_canary_in_outputs() -> None:
    for name in _targets():
        outcome = run_target(name)
        text = render_text(outcome) + render_json(outcome) + repr(outcome)
        assert "demo-canary" not in text
        assert base64.b64encode(b"demo-canary").decode()[:12] not in text
