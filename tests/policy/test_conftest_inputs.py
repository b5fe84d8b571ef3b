"""``policy test`` reads its inputs like conftest: top-level lists are several documents, no input is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.cli import main

POLICY = """package main

import rego.v1

warn contains msg if {
  input.kind == "Service"
  msg := sprintf("service %s", [input.metadata.name])
}

deny contains msg if {
  input.kind == "Pod"
  msg := sprintf("pod %s", [input.metadata.name])
}
"""


@pytest.fixture()
def policy(tmp_path: Path) -> Path:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "p.rego").write_text(POLICY)
    return tmp_path / "policy"


def test_top_level_json_array_is_one_input_per_element(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "list.json"
    f.write_text('[{"kind": "Service", "metadata": {"name": "a"}}, {"kind": "Service", "metadata": {"name": "b"}}]')
    assert main(["policy", "test", str(f), "-p", str(policy), "--fail-on-warn"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"WARN - {f} - main - service a",
        f"WARN - {f} - main - service b",
        "",
        "4 tests, 2 passed, 2 warnings, 0 failures, 0 exceptions",
    ]


def test_top_level_yaml_list_is_one_input_per_element(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "list.yaml"
    f.write_text("- {kind: Pod, metadata: {name: a}}\n- {kind: Service, metadata: {name: b}}\n")
    assert main(["policy", "test", str(f), "-p", str(policy)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL - {f} - main - pod a" in out and f"WARN - {f} - main - service b" in out


def test_empty_top_level_list_is_no_document(tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "empty.json"
    f.write_text("[]")
    assert main(["policy", "test", str(f), "-p", str(policy)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"? - {f} - main - no policies found"


def test_combine_splits_a_top_level_list_like_documents(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (policy / "c.rego").write_text(
        "package combined\nimport rego.v1\n"
        "deny contains sprintf(\"%d entries\", [count(input)]) if count(input) > 0\n"
    )
    f = tmp_path / "list.json"
    f.write_text('[{"kind": "Service"}, {"kind": "Pod"}, {"kind": "Pod"}]')
    assert main(["policy", "test", str(f), "-p", str(policy), "-n", "combined", "--combine"]) == 1
    assert "FAIL - Combined - combined - 3 entries" in capsys.readouterr().out


def test_directory_without_configuration_files_fails_like_conftest(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "manifests"
    empty.mkdir()
    (empty / "README.md").write_text("not a configuration file\n")
    # conftest: "no files found", exit 1 (a mistyped path must not pass a CI step)
    assert main(["policy", "test", str(empty), "-p", str(policy)]) == 1
    err = capsys.readouterr().err
    assert "no files found" in err and str(empty) in err


def test_missing_input_path_fails_like_conftest(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["policy", "test", str(missing), "-p", str(policy)]) == 1
    assert f"{missing}: no such file or directory" in capsys.readouterr().err
