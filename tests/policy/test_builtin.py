"""The built-in pack: every rule has a failing and a passing fixture; the Rego unit tests pass."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.model import Manifest, ObjectRef, Severity, Target, split_api_version
from auditor.policy.audit import evaluate_target, load_policies
from auditor.policy.builtin import builtin_policy_dir
from auditor.policy.conftest import run_verify
from auditor.policy.options import PolicyOptions

FIXTURES = yaml.safe_load((Path(__file__).parent / "fixtures" / "builtin.yaml").read_text())
CASES: dict[str, dict[str, Any]] = FIXTURES["cases"]


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _with_kind(good: dict[str, Any], kind: str) -> dict[str, Any]:
    """The `good` Deployment's pod spec under another workload kind, where each kind keeps its pod spec."""
    pod = good["spec"]["template"]["spec"]
    spec: dict[str, Any]
    if kind == "Pod":
        api_version, spec = "v1", pod
    elif kind == "CronJob":
        api_version, spec = "batch/v1", {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": pod}}}}
    elif kind == "Job":
        api_version, spec = "batch/v1", {"template": {"spec": {**pod, "restartPolicy": "Never"}}}
    else:
        api_version, spec = "apps/v1", good["spec"]
    return {"apiVersion": api_version, "kind": kind, "metadata": good["metadata"], "spec": spec}


def _doc(case: dict[str, Any]) -> dict[str, Any]:
    if "doc" in case:
        return copy.deepcopy(case["doc"])
    good = copy.deepcopy(FIXTURES["good"])
    pod = good["spec"]["template"]["spec"]
    pod["containers"][0] = _merge(pod["containers"][0], case.get("container", {}))
    if "pod" in case:
        for k, v in case["pod"].items():
            pod[k] = v
    if "kind" in case:
        return _with_kind(good, case["kind"])
    return good


def _manifest(body: dict[str, Any]) -> Manifest:
    group, _ = split_api_version(body["apiVersion"])
    meta = body["metadata"]
    return Manifest(ObjectRef(group, body["kind"], meta.get("namespace", ""), meta["name"]), body["apiVersion"], body)


def _rule_ids(rule: str, docs: list[dict[str, Any]], tmp_path: Path) -> set[str]:
    spec = CASES[rule]
    data: tuple[str, ...] = ()
    if "config" in spec:
        f = tmp_path / "config.json"
        f.write_text(json.dumps({"gitops_audit": {"config": spec["config"]}}))
        data = (str(f),)
    policies = load_policies(PolicyOptions(data=data, namespaces=()))
    target = Target("t", env=spec.get("env", "staging"))
    findings = evaluate_target(policies, target, [_manifest(d) for d in docs], [])
    return {f.rule_id for f in findings if f.counts}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires_on_failing_fixture(rule: str, tmp_path: Path) -> None:
    spec = CASES[rule]
    fails = [_doc(c) for c in spec["fail"]]
    groups = [fails] if spec.get("combined") else [[d] for d in fails]
    for docs in groups:
        assert rule in _rule_ids(rule, docs, tmp_path), docs


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_silent_on_passing_fixture(rule: str, tmp_path: Path) -> None:
    spec = CASES[rule]
    passes = [_doc(c) for c in spec["pass"]]
    groups = [passes] if spec.get("combined") else [[d] for d in passes]
    for docs in groups:
        assert rule not in _rule_ids(rule, docs, tmp_path), docs


def test_good_deployment_has_no_finding_but_namespace_hints(tmp_path: Path) -> None:
    ids = _rule_ids("probes.readiness_missing", [FIXTURES["good"]], tmp_path)
    assert ids == {"resources.namespace_without_limitrange", "resources.namespace_without_quota"}


def test_every_result_carries_metadata() -> None:
    policies = load_policies(PolicyOptions(namespaces=()))
    docs = [_doc(c) for spec in CASES.values() for c in spec["fail"]]
    for i, doc in enumerate(docs):
        # One target holds one object per ref: give every fixture its own name.
        doc["metadata"] = {**doc["metadata"], "name": f"{doc['metadata']['name']}-{i}"}
    findings = evaluate_target(policies, Target("t", env="production"), [_manifest(d) for d in docs], [])
    assert {f.rule_id for f in findings} >= set(CASES) - {"images.registry_not_allowed"}
    for f in findings:
        assert f.details["title"] and f.details["remediation"], f.rule_id
        assert isinstance(f.severity, Severity)
        assert f.ref is not None, f.rule_id


def test_rego_unit_tests_pass() -> None:
    outcomes = run_verify(PolicyOptions(dirs=(str(builtin_policy_dir()),), builtin=False))
    assert len(outcomes) >= 50
    assert [o.name for o in outcomes if not o.passed] == []
