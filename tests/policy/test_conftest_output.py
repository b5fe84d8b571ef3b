"""``policy test`` exit codes and JUnit output follow conftest's (runner/test.go, output/junit.go)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from auditor.commands import policy as policy_cmd

POLICY = """package main

deny[msg] {
  input.kind == "Pod"
  msg := sprintf("pod %s\\nsecond line", [input.metadata.name])
}

warn[msg] {
  input.kind == "Service"
  msg := "service"
}

exception[rules] {
  input.metadata.name == "legacy"
  rules := ["warn"]
}
"""

INPUT = """kind: Pod
metadata: {name: p}
---
kind: Service
metadata: {name: s}
---
kind: Service
metadata: {name: legacy}
"""


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "p.rego").write_text(POLICY)
    (tmp_path / "in.yaml").write_text(INPUT)
    return tmp_path / "in.yaml", tmp_path / "policy"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    policy_cmd.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


def test_no_fail_exits_zero_with_failures(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    f, policy = files
    base = ["policy", "test", str(f), "-p", str(policy)]
    assert run(base, capsys)[0] == 1
    assert run([*base, "--fail-on-warn"], capsys)[0] == 2
    code, out = run([*base, "--no-fail"], capsys)
    assert code == 0 and f"FAIL - {f} - main - pod p" in out  # results still shown
    assert run([*base, "--no-fail", "--fail-on-warn"], capsys)[0] == 0


def test_junit_like_conftest(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    f, policy = files
    _, out = run(["policy", "test", str(f), "-p", str(policy), "-o", "junit"], capsys)
    suite = ET.fromstring(out.split("?>", 1)[1]).find("testsuite")
    assert suite is not None
    names = [(tc.get("name"), tc.find("failure") is not None) for tc in suite.iter("testcase")]
    # 3 documents x 2 rules = 6: 1 failure, 1 warning, 1 exception (left out, as conftest does), 3 successes.
    assert names == [
        (f"{f} - main - service", True),
        (f"{f} - main - pod p", True),  # first line of the message only
        (f"{f} - main", False),
        (f"{f} - main", False),
        (f"{f} - main", False),
    ]
    assert suite.get("tests") == "5" and suite.get("failures") == "2"


def test_sarif_uses_the_result_location_and_marks_clean_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "p.rego").write_text(
        "package main\nimport rego.v1\n"
        "deny contains {\"msg\": \"bad\", \"_loc\": {\"file\": \"src/app.yaml\", \"line\": 7},"
        " \"rule_id\": \"X\"} if {\n"
        "  input.kind == \"Pod\"\n}\n"
    )
    (tmp_path / "pod.yaml").write_text("kind: Pod\n")
    (tmp_path / "svc.yaml").write_text("kind: Service\n")
    code, out = run(["policy", "test", str(tmp_path / "pod.yaml"), str(tmp_path / "svc.yaml"),
                     "-p", str(tmp_path / "policy"), "-o", "sarif"], capsys)
    results = json.loads(out)["runs"][0]["results"]
    assert code == 1
    assert [(r["ruleId"], r["level"]) for r in results] == [("main/deny", "error"), ("main/success", "none")]
    assert results[0]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "src/app.yaml"}, "region": {"startLine": 7, "endLine": 7},
    }
    assert results[0]["properties"] == {"rule_id": "X"}
    assert results[1]["message"]["text"] == "Policy was satisfied successfully"
    assert results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == str(tmp_path / "svc.yaml")


def test_rule_name_patterns_are_conftests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # conftest: ^(deny|violation)(_[a-zA-Z0-9]+)*$ and ^warn(_[a-zA-Z0-9]+)*$
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "p.rego").write_text(
        "package main\nimport rego.v1\n"
        "deny_a_b contains \"a_b\" if true\n"
        "warn_x1 contains \"x1\" if true\n"
        "deny__helper contains \"helper\" if true\n"
        "deny_trailing_ contains \"trailing\" if true\n"
        "warn__y contains \"y\" if true\n"
    )
    (tmp_path / "in.yaml").write_text("kind: Pod\n")
    code, out = run(["policy", "test", str(tmp_path / "in.yaml"), "-p", str(tmp_path / "policy")], capsys)
    assert code == 1
    assert out.splitlines()[-1] == "2 tests, 0 passed, 1 warning, 1 failure, 0 exceptions"


def test_results_are_grouped_by_namespace_then_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policy").mkdir()
    for ns in ("zeta", "alpha"):
        (tmp_path / "policy" / f"{ns}.rego").write_text(
            f"package {ns}\nimport rego.v1\ndeny contains sprintf(\"{ns} %s\", [input.metadata.name]) if true\n"
        )
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(f"kind: Pod\nmetadata: {{name: {name}}}\n")
    code, out = run(["policy", "test", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"),
                     "-p", str(tmp_path / "policy"), "-n", "zeta", "-n", "alpha"], capsys)
    assert code == 1
    assert [line.rsplit(" - ", 1)[1] for line in out.splitlines() if line.startswith("FAIL")] == [
        "zeta a", "zeta b", "alpha a", "alpha b",
    ]
