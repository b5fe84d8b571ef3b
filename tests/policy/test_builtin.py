"""The built-in pack: every rule has failing and passing fixtures; the Rego unit tests pass."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.model import Manifest, ObjectRef, Severity, Target, split_api_version
from auditor.policy.audit import PolicySet, evaluate_target, load_policies
from auditor.policy.builtin import builtin_policy_dir
from auditor.policy.conftest import run_verify
from auditor.policy.options import PolicyOptions

FIXTURES = yaml.safe_load((Path(__file__).parent / "fixtures" / "builtin.yaml").read_text())
CASES: dict[str, dict[str, Any]] = FIXTURES["cases"]


def _replace(target: dict[str, Any], fields: dict[str, Any]) -> None:
    """Replace fields whole; None removes one."""
    for k, v in fields.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = copy.deepcopy(v)


def _with_kind(good: dict[str, Any], kind: str) -> dict[str, Any]:
    """The `good` Deployment's pod spec under another workload kind, where each kind keeps its pod spec."""
    template = good["spec"]["template"]
    pod = template["spec"]
    meta = copy.deepcopy(good["metadata"])
    spec: dict[str, Any]
    if kind == "Pod":
        meta["labels"] = {**template["metadata"]["labels"], **meta.get("labels", {})}
        api_version, spec = "v1", pod
    elif kind == "CronJob":
        api_version = "batch/v1"
        job = {"template": {**template, "spec": {**pod, "restartPolicy": "Never"}}}
        spec = {"schedule": "0 * * * *", "jobTemplate": {"spec": job}}
    elif kind == "Job":
        api_version, spec = "batch/v1", {"template": {**template, "spec": {**pod, "restartPolicy": "Never"}}}
    else:
        api_version, spec = "apps/v1", good["spec"]
        if kind == "DaemonSet":
            spec = {k: v for k, v in spec.items() if k != "replicas"}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": spec}


def case_docs(rule: str, case: dict[str, Any]) -> list[dict[str, Any]]:
    """The documents one case evaluates together (the patched `good`, or whole docs, plus companions)."""
    if "doc" in case or "docs" in case:
        docs = [copy.deepcopy(case["doc"])] if "doc" in case else copy.deepcopy(case["docs"])
    else:
        good = copy.deepcopy(FIXTURES["good"])
        pod = good["spec"]["template"]["spec"]
        _replace(pod["containers"][0], case.get("container", {}))
        _replace(pod, case.get("pod", {}))
        _replace(good["metadata"], case.get("meta", {}))
        _replace(good["spec"], case.get("spec", {}))
        docs = [_with_kind(good, case["kind"]) if "kind" in case else good]
    docs += copy.deepcopy(case.get("extra", []))
    if CASES[rule].get("companions", True):
        taken = {_key(d) for d in docs}
        docs += [copy.deepcopy(d) for d in FIXTURES["companions"] if _key(d) not in taken]
    return docs


def _key(doc: dict[str, Any]) -> tuple[str, str, str]:
    meta = doc.get("metadata") or {}
    return doc["kind"], meta.get("namespace", ""), meta.get("name", "")


def manifest(body: dict[str, Any]) -> Manifest:
    """A desired-state Manifest for a fixture document."""
    group, _ = split_api_version(body["apiVersion"])
    meta = body.get("metadata") or {}
    return Manifest(ObjectRef(group, body["kind"], meta.get("namespace", ""), meta["name"]), body["apiVersion"], body)


_POLICIES: dict[str, PolicySet] = {}


def policies_for(config: dict[str, Any] | None, tmp_path: Path) -> PolicySet:
    """The built-in pack with every opt-in rule on and `config` as its settings, compiled once per config."""
    key = json.dumps(config, sort_keys=True)
    if key not in _POLICIES:
        f = tmp_path / "config.json"
        f.write_text(json.dumps({"gitops_audit": {"config": {"enable": ["all"], **(config or {})}}}))
        data = (str(f),)
        _POLICIES[key] = load_policies(PolicyOptions(data=data, namespaces=(), workers=0))
    return _POLICIES[key]


def _rule_ids(rule: str, docs: list[dict[str, Any]], tmp_path: Path) -> set[str]:
    spec = CASES[rule]
    policies = policies_for(spec.get("config"), tmp_path)
    target = Target("t", env=spec.get("env", "staging"))
    findings = evaluate_target(policies, target, [manifest(d) for d in docs], [])
    assert not [f.message for f in findings if f.rule_id == "policy.error"]
    return {f.rule_id for f in findings if f.counts}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires_on_failing_fixture(rule: str, tmp_path: Path) -> None:
    for case in CASES[rule]["fail"]:
        assert rule in _rule_ids(rule, case_docs(rule, case), tmp_path), case


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_silent_on_passing_fixture(rule: str, tmp_path: Path) -> None:
    for case in CASES[rule]["pass"]:
        assert rule not in _rule_ids(rule, case_docs(rule, case), tmp_path), case


def test_good_deployment_with_companions_has_no_finding(tmp_path: Path) -> None:
    assert _rule_ids("probes.readiness_missing", case_docs("probes.readiness_missing", {}), tmp_path) == set()


def test_opt_in_rules_run_only_when_enabled(tmp_path: Path) -> None:
    docs = [manifest(d) for d in case_docs("reliability.priority_class_missing", {"pod": {"priorityClassName": None}})]
    default = load_policies(PolicyOptions(namespaces=(), workers=0))
    on = policies_for({"enable": ["reliability.priority_class_missing"]}, tmp_path)
    for policies, fires in ((default, False), (on, True)):
        ids = {f.rule_id for f in evaluate_target(policies, Target("t"), docs, [])}
        assert ("reliability.priority_class_missing" in ids) is fires


def test_every_result_carries_metadata(tmp_path: Path) -> None:
    policies = policies_for(None, tmp_path)
    docs = [d for rule, spec in CASES.items() for c in spec["fail"] for d in case_docs(rule, c)]
    for i, doc in enumerate(docs):
        # One target holds one object per ref: give every fixture its own name.
        doc["metadata"] = {**(doc.get("metadata") or {}), "name": f"{doc['metadata']['name']}-{i}"}
    findings = evaluate_target(policies, Target("t", env="production"), [manifest(d) for d in docs], [])
    found = {f.rule_id for f in findings}
    # Renamed copies of bindings no longer point at their roles, so only rules of one object are sure to fire.
    single = {r for r, spec in CASES.items() if all("docs" not in c and "extra" not in c for c in spec["fail"])}
    assert found >= single - {"images.registry_not_allowed", "rbac.binding_exec_attach", "rbac.create_pods"}
    for f in findings:
        assert f.details["title"] and f.details["remediation"], f.rule_id
        assert isinstance(f.severity, Severity)
        assert f.ref is not None, f.rule_id


def test_rego_unit_tests_pass() -> None:
    outcomes = run_verify(PolicyOptions(dirs=(str(builtin_policy_dir()),), builtin=False))
    assert len(outcomes) >= 120
    assert [o.name for o in outcomes if not o.passed] == []
