"""Ignore rules: selectors, pointers (above/below a difference), managers, jq, annotation, unmatched."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from auditor.diff import ignore as ig
from auditor.diff.engine import diff_target
from auditor.diff.options import IGNORE_ANNOTATION, DriftOptions, IgnoreRule
from auditor.model import LiveState, ObjectRef, Target

from .corpus_support import to_manifest

REF = ObjectRef("apps", "Deployment", "shop", "web-1")


def test_selectors() -> None:
    assert ig.selects(IgnoreRule(), REF)
    assert ig.selects(IgnoreRule(group="apps", kind="Deployment", namespace="sh*", name_pattern="web-*"), REF)
    assert not ig.selects(IgnoreRule(kind="StatefulSet"), REF)
    assert not ig.selects(IgnoreRule(name="web"), REF)
    assert ig.selects(IgnoreRule(name="web-1", name_pattern="nope"), REF)  # name wins, as in Argo CD


@pytest.mark.parametrize(("value", "pointers", "managers"), [
    ("/spec/replicas", ("/spec/replicas",), ()),
    ("/spec/replicas, /metadata/labels/x\n/spec/paused", ("/spec/replicas", "/metadata/labels/x", "/spec/paused"), ()),
    ('{"jsonPointers": ["/a"], "managedFieldsManagers": ["m"]}', ("/a",), ("m",)),
    ("jsonPointers: [/a]\nmanagedFieldsManagers: [m]\n", ("/a",), ("m",)),
    ('["/a"]', ("/a",), ()),
])
def test_annotation_forms(value: str, pointers: tuple[str, ...], managers: tuple[str, ...]) -> None:
    rule = ig.parse_annotation(value)
    assert rule is not None
    assert rule.json_pointers == pointers and rule.managed_fields_managers == managers


@pytest.mark.parametrize("value", ["", "   ", "plain words", "{unclosed", "42"])
def test_annotation_garbage_is_ignored(value: str) -> None:
    assert ig.parse_annotation(value) is None


def test_pointer_below_atomic_difference() -> None:
    rules = [ig.ActiveRule("r", IgnoreRule(json_pointers=("/rules/0/resourceNames",)),
                           pointers=(("rules", "0", "resourceNames"),))]
    desired = [{"verbs": ["get"]}]
    live_only_names = [{"verbs": ["get"], "resourceNames": ["x"]}]
    live_more = [{"verbs": ["get", "delete"], "resourceNames": ["x"]}]
    assert ig.suppressing_rule(rules, "/rules", desired, live_only_names, "") == "r"
    assert ig.suppressing_rule(rules, "/rules", desired, live_more, "") == ""
    assert ig.suppressing_rule(rules, "/rules/0/resourceNames/0", None, "x", "") == "r"
    assert ig.suppressing_rule(rules, "/spec", None, "x", "") == ""


def body(replicas: int = 3, image: str = "a:1", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web", "namespace": "shop"}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}


def live_of(b: dict[str, Any], manager: str = "kubectl-edit") -> dict[str, Any]:
    lv = copy.deepcopy(b)
    lv["metadata"]["managedFields"] = [{"manager": manager, "operation": "Update", "time": "2026-11-20T00:00:00Z",
                                        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    return lv


def run(desired: list[dict[str, Any]], live: list[dict[str, Any]], *rules: IgnoreRule):
    return diff_target(Target("t", namespace="shop"), [to_manifest(b) for b in desired],
                       LiveState(tuple(to_manifest(b) for b in live), "x"), DriftOptions(ignore=rules))


def test_managers_rule_and_unmatched() -> None:
    out = run([body()], [live_of(body(replicas=5))],
              IgnoreRule(id="edits", managed_fields_managers=("kubectl-edit",)),
              IgnoreRule(id="typo", kind="Deploymnet"),
              IgnoreRule(id="nowhere", kind="Deployment", json_pointers=("/spec/nope",)))
    (f,) = out.findings
    assert f.suppressed_by == "edits" and not f.counts
    assert out.unmatched_rules == ("typo", "nowhere")
    assert out.drifts[0].note == "1 suppressed difference"


def test_whole_object_rule_hides_missing_and_orphans() -> None:
    orphan = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hand", "namespace": "shop"}}
    out = run([body()], [orphan], IgnoreRule(id="all-shop", namespace="shop"))
    assert {(f.rule_id, f.suppressed_by) for f in out.findings} == {
        ("drift.missing", "all-shop"), ("drift.orphaned.unmanaged", "all-shop")}
    assert out.unmatched_rules == ()


def test_annotation_in_git_hides_and_live_annotation_does_not() -> None:
    ann = {IGNORE_ANNOTATION: "/spec/replicas"}
    out = run([body(annotations=ann)], [live_of(body(replicas=5, annotations=ann))])
    (f,) = out.findings
    assert f.suppressed_by == f"annotation {IGNORE_ANNOTATION}"
    out = run([body()], [live_of(body(replicas=5, annotations=ann))])
    assert [f.counts for f in out.findings] == [True]


@pytest.mark.skipif(not ig.JQ_AVAILABLE, reason="jq binding not installed")
def test_jq_path_expressions() -> None:
    out = run([body(image="a:1")], [live_of(body(image="a:2"))],
              IgnoreRule(id="jq", kind="Deployment",
                         jq_path_expressions=('.spec.template.spec.containers[] | select(.name == "c") | .image',)))
    (f,) = out.findings
    assert f.path == "spec.template.spec.containers[name=c].image" and f.suppressed_by == "jq"
    out = run([body()], [live_of(body())], IgnoreRule(id="bad", jq_path_expressions=(".[[[",)))
    assert len(out.unmatched_rules) == 1 and out.unmatched_rules[0].startswith("bad (invalid jq path expression")


def test_jq_missing_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ig, "_jq", None)
    out = run([body()], [live_of(body())], IgnoreRule(id="needs-jq", jq_path_expressions=(".spec.replicas",)))
    assert out.unmatched_rules == ("needs-jq (jqPathExpressions need the `jq` Python package)",)
