"""``policy test`` exit codes and JUnit output follow conftest's (runner/test.go, output/junit.go)."""

from __future__ import annotations

import argparse
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
