"""Human and JSON output of ``gitops-audit diff`` against golden files.

Regenerate after an intended change: ``UPDATE_GOLDEN=1 python -m pytest tests/diff/test_render_golden.py``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from auditor.commands import diff as diff_cmd

GOLDEN = Path(__file__).parent / "golden"


def run(fmt: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    diff_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["diff", "--desired", str(GOLDEN / "desired.yaml"), "--live", str(GOLDEN / "live.yaml"),
                              "-o", fmt, "--ignore-pointer", "/spec/template/spec/containers/0/image"])
    code = diff_cmd.handler(args)
    return code, capsys.readouterr().out


@pytest.mark.parametrize(("fmt", "name"), [("text", "expected.txt"), ("json", "expected.json")])
def test_golden(fmt: str, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(fmt, capsys)
    assert code == 1
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":  # exactly "1": UPDATE_GOLDEN=0 must not rewrite the golden file
        path.write_text(out)
    assert out == path.read_text()


def test_text_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    _, out = run("text", capsys)
    lines = out.splitlines()
    assert "► Deployment/shop/web drifted" in lines
    assert "  spec.replicas: 3 → 5 (kubectl-scale, 2026-11-20T03:12Z)" in lines
    assert any(line.startswith("  ~ spec.template.spec.containers[name=web].image: nginx:1.25 → nginx:1.26")
               and line.endswith("[suppressed by --ignore-pointer]") for line in lines)
    assert "► ConfigMap/shop/gone missing" in lines
    assert "✓ Service/shop/web in sync" in lines
    # deepdiff explains what changed inside the atomic RBAC rules list
    assert any("secrets" in line and line.startswith("      ") for line in lines)
