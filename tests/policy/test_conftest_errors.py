"""Compile and evaluation errors of ``policy test`` point at the real mistake and name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.cli import main

SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"


def _policy_test(tmp_path: Path, source: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    (tmp_path / "policy").mkdir(exist_ok=True)
    (tmp_path / "policy" / "p.rego").write_text(source)
    (tmp_path / "svc.yaml").write_text(SERVICE)
    code = main(["policy", "test", str(tmp_path / "svc.yaml"), "-p", str(tmp_path / "policy")])
    return code, capsys.readouterr().err


def test_v0_file_calling_contains_reports_the_v0_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The built-in contains() is no v1 hint: the v1 parser stops at line 3 ("`if` keyword is required"),
    # the real mistake is the dangling comparison on line 10.
    code, err = _policy_test(
        tmp_path,
        "package main\n\ndeny[msg] {\n  contains(input.metadata.name, \"x\")\n  msg := \"has x\"\n}\n\n"
        "warn[msg] {\n  input.kind ==\n  msg := \"w\"\n}\n",
        capsys,
    )
    assert code == 2
    assert f"{tmp_path / 'policy' / 'p.rego'}:10:" in err, err


def test_v0_file_with_future_keywords_reports_the_v0_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _policy_test(
        tmp_path,
        "package main\n\nimport future.keywords.contains\nimport future.keywords.if\n\n"
        "deny contains msg if {\n  contains(input.metadata.name, \"x\")\n  msg := \"has x\"\n}\n\n"
        "warn[msg] {\n  input.kind ==\n  msg := \"w\"\n}\n",
        capsys,
    )
    assert code == 2
    assert "p.rego:13:" in err, err


def test_v1_file_missing_one_if_reports_the_v1_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # v1 keywords without `import future.keywords` are not v0: the v1 error (line 8) is the mistake. Without
    # this, regorus' lenient v0 parser loaded the file and evaluation failed with "var msg is unsafe".
    code, err = _policy_test(
        tmp_path,
        "package main\n\ndeny contains msg if {\n  input.kind == \"Pod\"\n  msg := \"pod\"\n}\n\n"
        "allow {\n  true\n}\n",
        capsys,
    )
    assert code == 2
    assert "p.rego:8:" in err and "`if` keyword is required" in err and "(compile policy)" in err, err


def test_v0_file_with_if_in_strings_and_comments_still_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = _policy_test(
        tmp_path,
        "package main\n\n# deny if the service has no team label\n"
        "deny[msg] {\n  not input.metadata.labels.team\n  msg := \"team label is required if it is a Service\"\n}\n",
        capsys,
    )
    assert code == 1


RUNTIME_ERROR = """package main

import rego.v1

deny contains msg if {
  input.kind == "Pod"
  to_number(input.metadata.name) > 0
  msg := "numbered pod"
}
"""


def test_evaluation_error_names_the_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "p.rego").write_text(RUNTIME_ERROR)
    (tmp_path / "a.yaml").write_text(SERVICE)
    (tmp_path / "b.yaml").write_text("kind: Pod\nmetadata: {name: web}\n")
    code = main(["policy", "test", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"), "-p", str(tmp_path / "policy")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"evaluate data.main.deny on {tmp_path / 'b.yaml'}: {tmp_path / 'policy' / 'p.rego'}:7:" in err, err
