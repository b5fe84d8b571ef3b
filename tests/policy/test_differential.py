"""Differential suite: the same policies and inputs through OPA's own Go engine and through the embedded engine.

OPA is the reference (DESIGN §4b "exact, or say so"): any difference fails. Inputs are conftest's example
policies and files (``fixtures/conftest``), every fixture of the built-in pack (``fixtures/builtin.yaml``, failing
and passing, per document and combined, in two environments) and the pack's own Rego unit tests.

OPA's engine comes from ``gitops-audit tools install opa-go`` (``.ci/run`` installs it): without it these tests
skip on a developer machine and fail under ``CI=true``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.model import Finding, Manifest, ObjectRef, Target, split_api_version
from auditor.policy.audit import evaluate_target, load_policies
from auditor.policy.builtin import builtin_policy_dir
from auditor.policy.conftest import exit_code, run_test, run_verify
from auditor.policy.opa_go import library_available
from auditor.policy.options import PolicyOptions
from auditor.policy.output import render

CONFTEST = Path(__file__).parent / "fixtures" / "conftest"
BUILTIN = yaml.safe_load((Path(__file__).parent / "fixtures" / "builtin.yaml").read_text())


@pytest.fixture(scope="module")
def opa_library() -> str:
    found = library_available()
    if found is None:
        message = "OPA's Go engine is not installed: run `gitops-audit tools install opa-go --dest DIR` (DIR on PATH)"
        pytest.skip(message)  # a failure under CI (tests/ci_skips.py)
    return str(found)


def _engines(library: str) -> dict[str, dict[str, str]]:
    return {"embedded": {"engine": "embedded"}, "opa-go": {"engine": "opa-go", "opa_library": library}}


# (policy paths, inputs, extra options): conftest's acceptance runs on YAML/JSON inputs, and a few more.
CONFTEST_RUNS: list[tuple[tuple[str, ...], tuple[str, ...], dict[str, Any]]] = [
    (("examples/kubernetes/policy",), ("examples/kubernetes/service.yaml",), {}),
    (("examples/kubernetes/policy",), ("examples/kubernetes/deployment.yaml",), {}),
    (("examples/kubernetes/policy",), ("examples/kubernetes/deployment.yaml", "examples/kubernetes/service.yaml"), {}),
    (("examples/kubernetes/policy",), ("examples/kubernetes/deployment+service.yaml",), {}),
    (("examples/kubernetes/policy",), ("examples/kubernetes",), {"all_namespaces": True}),
    (("examples/kubernetes/policy/deny.rego",), ("examples/kubernetes/deployment.yaml",), {}),
    (("examples/kubernetes/combine",), ("examples/kubernetes/combine/combine.yaml",), {"combine": True}),
    (("examples/kubernetes/combine",), ("examples/kubernetes/combine/deployment.yaml",
                                        "examples/kubernetes/combine/service.yaml"), {"combine": True}),
    (("examples/exceptions/policy",), ("examples/exceptions/deployments.yaml",), {}),
    (("examples/data/policy",), ("examples/data/service.yaml",), {"data": ("examples/data/exclusions",)}),
    (("examples/compose/policy",), ("examples/compose/docker-compose.yml",), {}),
    (("examples/compose/policy",), ("examples/compose/docker-compose-valid.yml",), {}),
    (("examples/kustomize/policy",), ("examples/kustomize",), {}),
    (("examples/configfile/test",), ("examples/configfile/deployment.yaml",), {"namespaces": ("conftest",)}),
    # A comprehension that reads `name` and declares it again with `:=`, and an outer `some i` used only inside
    # comprehensions: OPA's scoping, which the embedded engine gets from shadow.py.
    (("examples/combine/policy",), ("examples/combine/team.yaml", "examples/combine/user1.yaml",
                                    "examples/combine/user2.yaml"), {"combine": True}),
    (("examples/combine/policy",), ("examples/combine/team.yaml", "examples/combine/users.yaml"), {"combine": True}),
]


def _conftest_run(policies: Sequence[str], inputs: Sequence[str], extra: dict[str, Any], engine: dict[str, str],
                  ) -> tuple[int, Any]:
    options = PolicyOptions(
        dirs=tuple(policies), builtin=False, data=tuple(extra.get("data", ())),
        namespaces=tuple(extra.get("namespaces", ("main",))), all_namespaces=bool(extra.get("all_namespaces")),
        **engine,  # type: ignore[arg-type]
    )
    results = run_test(list(inputs), options, combine=bool(extra.get("combine")))
    return exit_code(results), json.loads(render(results, "json"))


@pytest.mark.parametrize(("policies", "inputs", "extra"), CONFTEST_RUNS, ids=lambda x: str(x)[:60])
def test_conftest_examples_match_opa(
    opa_library: str, policies: tuple[str, ...], inputs: tuple[str, ...], extra: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(CONFTEST)
    engines = _engines(opa_library)
    ours = _conftest_run(policies, inputs, extra, engines["embedded"])
    opa = _conftest_run(policies, inputs, extra, engines["opa-go"])
    assert ours == opa


# Scoping cases of comprehensions (shadow.py spells OPA's scoping out for the embedded engine), with an input.
SCOPING = {
    "read then := again": "x := a if { n := input[0]; a := [n | input[_] == n; n := input[_] * 10] }",
    ":= again, not read before": "x := a if { n := 1; a := [n | n := input[_]] }",
    "the outer var in the right-hand side": "x := a if { n := 2; a := [n | n := n + input[_]] }",
    "some again": "x := a if { some i; input[i] == 2; a := {v | some i; v := input[i]} }",
    "some in again": "x := a if { some v in input; v == 3; a := [v | some v in input; v > 1] }",
    "outer some only in comprehensions": (
        "x := [a, b] if { k := input[_]; k == 1; some i; a := [v | v := input[i]]; b := {v | v := input[i] * 2} }"
    ),
    "nested comprehensions": "x := a if { n := input[0]; a := [m | n == 1; n := 5; m := [n | n := input[_]]] }",
    "object comprehension head": "x := a if { k := 0; a := {k: v | input[k] == input[_]; k := input[_]; v := k} }",
    "head value comprehension": "x := [n | n := input[_]] if { n := 7 }",
}


@pytest.mark.parametrize("name", sorted(SCOPING))
def test_comprehension_scoping_matches_opa(opa_library: str, name: str, tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(f"package t\nimport rego.v1\n\n{SCOPING[name]}\n")
    values = {}
    for engine_name, engine in _engines(opa_library).items():
        options = PolicyOptions(dirs=(str(tmp_path),), builtin=False, **engine)  # type: ignore[arg-type]
        from auditor.policy.audit import compile_modules
        from auditor.policy.loader import discover_modules

        evaluator = compile_modules(discover_modules(options.dirs), {}, options)
        try:
            values[engine_name] = evaluator.rule("data.t.x", [1, 2, 3])
        except Exception as exc:  # an error must be an error on both sides
            values[engine_name] = f"error: {type(exc).__name__}"
    assert values["embedded"] == values["opa-go"], values


# ------------------------------------------------------------------------------------------ built-in pack


def _fixture_doc(case: dict[str, Any]) -> dict[str, Any]:
    """A fixture document, built as test_builtin builds it (the good Deployment patched by the case)."""
    if "doc" in case:
        return copy.deepcopy(case["doc"])
    good = copy.deepcopy(BUILTIN["good"])
    pod = good["spec"]["template"]["spec"]
    container = pod["containers"][0]
    for k, v in case.get("container", {}).items():
        if v is None:
            container.pop(k, None)
        else:
            container[k] = copy.deepcopy(v)
    for k, v in case.get("pod", {}).items():
        pod[k] = copy.deepcopy(v)
    if "kind" in case:
        good["kind"] = case["kind"]
        if case["kind"] == "Pod":
            good["apiVersion"], good["spec"] = "v1", pod
        elif case["kind"] in ("Job", "CronJob"):
            good["apiVersion"] = "batch/v1"
            spec = {"template": {"spec": pod}}
            good["spec"] = spec if case["kind"] == "Job" else {"schedule": "0 * * * *", "jobTemplate": {"spec": spec}}
    return good


def _manifest(body: dict[str, Any], i: int) -> Manifest:
    body = copy.deepcopy(body)
    meta = body.setdefault("metadata", {})
    meta["name"] = f"{meta.get('name', 'x')}-{i}"  # one object per ref in a target
    group, _ = split_api_version(str(body.get("apiVersion", "v1")))
    ref = ObjectRef(group, str(body.get("kind", "")), str(meta.get("namespace", "")), meta["name"])
    return Manifest(ref, str(body.get("apiVersion", "v1")), body)


def _pack_documents() -> list[list[Manifest]]:
    """Every fixture of the pack: per-document cases one by one, combined cases as one group each."""
    groups: list[list[Manifest]] = []
    i = 0
    singles: list[Manifest] = []
    for spec in BUILTIN["cases"].values():
        docs = [_fixture_doc(c) for c in (*spec.get("fail", ()), *spec.get("pass", ()))]
        if spec.get("combined"):
            groups.append([_manifest(d, i + k) for k, d in enumerate(docs)])
            i += len(docs)
        else:
            for d in docs:
                singles.append(_manifest(d, i))
                i += 1
    singles.append(_manifest(BUILTIN["good"], i))
    return [singles, *groups]


def _comparable(findings: Sequence[Finding]) -> list[tuple[Any, ...]]:
    return sorted(
        (f.rule_id, f.ref.subject if f.ref else "", f.path, f.severity.value, f.message, f.suppressed_by,
         json.dumps(f.details, sort_keys=True, default=str))
        for f in findings
    )


@pytest.mark.parametrize("env", ["production", "staging"])
def test_every_pack_fixture_matches_opa(opa_library: str, env: str) -> None:
    found: dict[str, list[tuple[Any, ...]]] = {}
    for name, engine in _engines(opa_library).items():
        policies = load_policies(PolicyOptions(namespaces=(), workers=0, **engine))  # type: ignore[arg-type]
        try:
            findings = [
                f for docs in _pack_documents()
                for f in evaluate_target(policies, Target("t", env=env), docs, docs)
            ]
        finally:
            policies.close()
        found[name] = _comparable(findings)
    assert found["embedded"] == found["opa-go"]
    assert len(found["embedded"]) > 50  # the fixtures do fire: the comparison is not between two empty lists
    assert not [f for f in found["embedded"] if f[0] == "policy.error"]


def test_pack_unit_tests_match_opa(opa_library: str) -> None:
    outcomes = {}
    for name, engine in _engines(opa_library).items():
        options = PolicyOptions(dirs=(str(builtin_policy_dir()),), builtin=False, **engine)  # type: ignore[arg-type]
        outcomes[name] = sorted((o.name, o.passed, o.skipped) for o in run_verify(options))
    assert outcomes["embedded"] == outcomes["opa-go"]
    assert len(outcomes["embedded"]) >= 50 and all(passed for _, passed, _ in outcomes["embedded"])
