"""A user's conftest policies (v0 and v1 syntax, exceptions, data) give conftest's results and exit codes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from auditor.commands import policy as policy_cmd
from auditor.errors import PolicyError

V0_POLICY = """package main

deny[msg] {
  input.kind == "Deployment"
  not input.spec.template.spec.securityContext.runAsNonRoot
  msg := sprintf("Containers must not run as root in Deployment %s", [input.metadata.name])
}

deny_team[msg] {
  not input.metadata.labels.team
  msg := "team label is required"
}

warn[msg] {
  input.kind == "Service"
  input.spec.type == "NodePort"
  msg := "NodePort services are discouraged"
}

exception[rules] {
  input.metadata.name == "legacy"
  rules := ["team"]
}
"""

V1_POLICY = """package k8s.images

import rego.v1
import data.registries

violation contains {"msg": msg, "rule_id": "IMG-1", "severity": "critical"} if {
  some c in input.spec.template.spec.containers
  not startswith(c.image, registries.allowed[_])
  msg := sprintf("image %s is not from an allowed registry", [c.image])
}
"""

COMBINED_POLICY = """package combined

import rego.v1

deny contains msg if {
  names := [doc.contents.metadata.name | some doc in input]
  count(names) != count({n | some n in names})
  msg := "duplicate names"
}
"""

MANIFESTS = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {team: shop}}
spec: {template: {spec: {containers: [{name: a, image: evil.io/web:1}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: legacy}
spec: {template: {spec: {securityContext: {runAsNonRoot: true}, containers: [{name: a, image: good.io/x:1}]}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, labels: {team: shop}}
spec: {type: NodePort}
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "base.rego").write_text(V0_POLICY)
    (tmp_path / "policy" / "images.rego").write_text(V1_POLICY)
    (tmp_path / "policy" / "combined.rego").write_text(COMBINED_POLICY)
    (tmp_path / "policy" / "base_test.rego").write_text(
        "package main\n\ntest_team_missing {\n  deny_team[_] with input as {\"metadata\": {}}\n}\n"
        "test_team_present {\n  count(deny_team) == 0 with input as "
        "{\"metadata\": {\"labels\": {\"team\": \"x\"}}}\n}\n"
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "registries.yaml").write_text("registries:\n  allowed: [good.io/]\n")
    (tmp_path / "manifests.yaml").write_text(MANIFESTS)
    return tmp_path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    policy_cmd.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


def test_v0_policy_with_exception_stdout(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["policy", "test", str(project / "manifests.yaml"), "-p", str(project / "policy")], capsys)
    f = project / "manifests.yaml"
    assert code == 1
    assert out.splitlines() == [
        f"WARN - {f} - main - NodePort services are discouraged",
        f"FAIL - {f} - main - Containers must not run as root in Deployment web",
        f"EXCP - {f} - main - data.main.exception[_][_] == \"team\"",
        "",
        # 3 docs x 3 rule definitions = 9: 2 results, 1 exception, 6 successes (conftest counts the same way)
        "9 tests, 6 passed, 1 warning, 1 failure, 1 exception",
    ]


def test_fail_on_warn_exit_codes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    svc = project / "svc.yaml"
    svc.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: s, labels: {team: a}}\nspec: {type: NodePort}\n")
    base = ["policy", "test", str(svc), "-p", str(project / "policy")]
    assert run(base, capsys)[0] == 0
    assert run([*base, "--fail-on-warn"], capsys)[0] == 1
    both = ["policy", "test", str(project / "manifests.yaml"), "-p", str(project / "policy"), "--fail-on-warn"]
    assert run(both, capsys)[0] == 2


def test_v1_policy_with_data_json_output(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(
        [
            "policy", "test", str(project / "manifests.yaml"), "-p", str(project / "policy"),
            "-d", str(project / "data"), "-n", "k8s.images", "-o", "json",
        ],
        capsys,
    )
    assert code == 1
    assert json.loads(out) == [
        {
            "filename": str(project / "manifests.yaml"),
            "namespace": "k8s.images",
            "successes": 2,
            "failures": [
                {
                    "msg": "image evil.io/web:1 is not from an allowed registry",
                    "metadata": {"rule_id": "IMG-1", "severity": "critical"},
                }
            ],
        }
    ]


def test_combine(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(
        ["policy", "test", str(project / "manifests.yaml"), "-p", str(project / "policy"), "-n", "combined",
         "--combine", "-o", "json"],
        capsys,
    )
    # conftest's CombineConfigurations: one {path, contents} entry per document, so the three documents of
    # manifests.yaml are three entries and the two "web" objects collide (conftest exits 1 here too).
    assert code == 1
    result = json.loads(out)[0]
    assert result["filename"] == "Combined"
    assert [f["msg"] for f in result["failures"]] == ["duplicate names"]


def test_combine_input_is_one_entry_per_document_sorted_by_path(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "policy" / "shape.rego").write_text(
        "package shape\nimport rego.v1\n"
        "deny contains msg if {\n"
        "  msg := concat(\",\", [sprintf(\"%s:%s\", [e.path, e.contents.metadata.name]) | some e in input])\n"
        "}\n"
    )
    (project / "b.yaml").write_text(
        "kind: ConfigMap\nmetadata: {name: b1}\n---\nkind: ConfigMap\nmetadata: {name: b2}\n"
    )
    (project / "a.yaml").write_text("kind: ConfigMap\nmetadata: {name: a1}\n")
    code, out = run(
        ["policy", "test", str(project / "b.yaml"), str(project / "a.yaml"), "-p", str(project / "policy"),
         "-n", "shape", "--combine", "-o", "json"],
        capsys,
    )
    assert code == 1
    a, b = project / "a.yaml", project / "b.yaml"
    assert json.loads(out)[0]["failures"] == [{"msg": f"{a}:a1,{b}:b1,{b}:b2"}]


def test_combine_finds_duplicates_across_files(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for n in ("a", "b"):
        (project / f"{n}.yaml").write_text("kind: ConfigMap\nmetadata: {name: same}\n")
    code, out = run(
        ["policy", "test", str(project / "a.yaml"), str(project / "b.yaml"), "-p", str(project / "policy"),
         "-n", "combined", "--combine"],
        capsys,
    )
    assert code == 1
    assert "FAIL - Combined - combined - duplicate names" in out


def test_all_namespaces_table_junit_sarif(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["policy", "test", str(project / "manifests.yaml"), "-p", str(project / "policy"),
            "-d", str(project / "data"), "--all-namespaces"]
    code, table = run([*base, "-o", "table"], capsys)
    assert code == 1
    assert "| failure " in table and "image evil.io/web:1" in table and "| warning " in table
    _, junit = run([*base, "-o", "junit"], capsys)
    assert junit.startswith("<?xml") and 'failures="3"' in junit  # 2 failures + 1 warning
    _, sarif = run([*base, "-o", "sarif"], capsys)
    run0 = json.loads(sarif)["runs"][0]
    # conftest's shape: rule ids <namespace>/<deny|warn|allow|success>, exceptions as notes, a clean file as "none";
    # our rule_id/severity metadata stays in the result's properties.
    assert {(r["ruleId"], r["level"]) for r in run0["results"]} == {
        ("main/deny", "error"), ("main/warn", "warning"), ("main/allow", "note"),
        ("k8s.images/deny", "error"), ("combined/success", "none"),
    }
    img = next(r for r in run0["results"] if r["ruleId"] == "k8s.images/deny")
    assert img["properties"] == {"rule_id": "IMG-1", "severity": "critical"}
    assert run0["tool"]["driver"]["rules"][img["ruleIndex"]]["id"] == "k8s.images/deny"
    assert run0["invocations"] == [
        {"executionSuccessful": True, "exitCode": 1, "exitCodeDescription": "Policy violations found"}
    ]


def test_verify(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["policy", "verify", "-p", str(project / "policy")], capsys)
    assert code == 0
    # conftest verify always shows the skipped count
    assert out.strip().endswith("2 tests, 2 passed, 0 warnings, 0 failures, 0 exceptions, 0 skipped")
    bad = project / "policy" / "bad_test.rego"
    bad.write_text("package main\nimport rego.v1\ntest_wrong if count(deny) > 0\ntodo_test_later if false\n")
    code, out = run(["policy", "verify", "-p", str(project / "policy")], capsys)
    assert code == 1
    # verify results carry no namespace in conftest, hence the empty field; todo_test_* is skipped (OPA tester)
    assert out.splitlines() == [
        f"FAIL - {bad} -  - data.main.test_wrong",
        "",
        "4 tests, 2 passed, 0 warnings, 1 failure, 0 exceptions, 1 skipped",
    ]
    bad.write_text("package main\nimport rego.v1\ntodo_test_later if false\n")
    code, out = run(["policy", "verify", "-p", str(project / "policy")], capsys)
    assert code == 0  # a skipped test does not fail the run
    assert out.strip().endswith("3 tests, 2 passed, 0 warnings, 0 failures, 0 exceptions, 1 skipped")


def test_compile_error_raises_with_location(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = project / "policy" / "zz.rego"
    bad.write_text("package main\n\ndeny[msg] {\n  msg := \n")
    with pytest.raises(PolicyError, match=rf"^{bad}:\d+:\d+: "):
        run(["policy", "test", str(project / "manifests.yaml"), "-p", str(project / "policy")], capsys)


def test_directory_and_stdin_inputs(project: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    sub = project / "manifests"
    sub.mkdir()
    (sub / "svc.json").write_text('{"kind": "Service", "metadata": {"name": "s", "labels": {"team": "a"}}, '
                                  '"spec": {"type": "NodePort"}}')
    code, out = run(["policy", "test", str(sub), "-p", str(project / "policy")], capsys)
    assert code == 0 and f"WARN - {sub / 'svc.json'} - main - NodePort services are discouraged" in out
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"kind: Pod\nmetadata: {name: p}\n")))
    code, out = run(["policy", "test", "-", "-p", str(project / "policy")], capsys)
    assert code == 1 and "FAIL - - main - team label is required" in out


def test_data_default_is_dot_data_for_test_and_verify(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # conftest uses ./data when -d is not given and the directory exists; a file in a sub-directory of it
    # lands at the data root like any other (conftest issue #535).
    (project / "data" / "nested").mkdir()
    (project / "data" / "registries.yaml").unlink()
    (project / "data" / "nested" / "registries.yaml").write_text("registries:\n  allowed: [good.io/]\n")
    (project / "policy" / "data_test.rego").write_text(
        "package k8s.images\nimport rego.v1\ntest_registry_data if data.registries.allowed == [\"good.io/\"]\n"
    )
    monkeypatch.chdir(project)
    code, out = run(["policy", "test", "manifests.yaml", "-p", "policy", "-n", "k8s.images", "-o", "json"], capsys)
    assert code == 1
    assert [f["msg"] for f in json.loads(out)[0]["failures"]] == ["image evil.io/web:1 is not from an allowed registry"]
    code, out = run(["policy", "verify", "-p", "policy"], capsys)
    assert code == 0, out
    assert "3 tests, 3 passed" in out
    # Without ./data the registry list is undefined, so the data test fails.
    (project / "data" / "nested" / "registries.yaml").unlink()
    (project / "data" / "nested").rmdir()
    (project / "data").rmdir()
    assert run(["policy", "verify", "-p", "policy"], capsys)[0] == 1
