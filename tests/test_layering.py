"""The architecture stays visible: stages import model/errors/util only, never each other or the wiring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "auditor"
STAGES = ("render", "provenance", "cluster", "diff", "policy", "report")
SHARED = ("repo",)
"""Shared layers below the stages: git repository access, used by rendering and provenance alike."""
WIRING = ("pipeline", "pipeline_target", "pipeline_apply", "pipeline_fleet", "pipeline_evidence", "pipeline_replay",
          "pipeline_hygiene", "pipeline_catalog", "pipeline_schedule", "wiring", "cli", "commands", "config",
          "render_cache")
SHARED_LEAVES = ("catalog",)
"""Packages any stage may read, like util: they import only model, errors, util and themselves."""


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


@pytest.mark.parametrize("stage", STAGES)
def test_stage_imports_no_other_stage_and_no_wiring(stage: str) -> None:
    forbidden = [f"auditor.{s}" for s in (*STAGES, *WIRING) if s != stage] + ["auditor.demo"]
    problems = []
    for path in sorted((PACKAGE / stage).rglob("*.py")):
        for mod in imported_modules(path):
            if any(mod == f or mod.startswith(f + ".") for f in forbidden):
                problems.append(f"{path.relative_to(PACKAGE.parent)} imports {mod}")
    assert not problems, "\n".join(problems)


def test_model_is_a_leaf() -> None:
    assert not [m for m in imported_modules(PACKAGE / "model.py") if m.startswith("auditor")]


def test_shared_layers_import_no_stage_and_no_wiring() -> None:
    forbidden = [f"auditor.{s}" for s in (*STAGES, *WIRING)] + ["auditor.demo"]
    problems = [
        f"{path.relative_to(PACKAGE.parent)} imports {mod}"
        for shared in SHARED
        for path in sorted((PACKAGE / shared).rglob("*.py"))
        for mod in imported_modules(path)
        if any(mod == f or mod.startswith(f + ".") for f in forbidden)
    ]
    assert not problems, "\n".join(problems)


def test_config_imports_only_stage_options() -> None:
    for name in ("config.py", "config_stages.py"):
        for mod in imported_modules(PACKAGE / name):
            parts = mod.split(".")
            if len(parts) > 1 and parts[0] == "auditor" and parts[1] in (*STAGES, *SHARED):
                # options modules are leaves (frozen dataclasses): auditor.<stage>[.<sub>].options
                assert "options" in parts[2:4], f"{name} imports {mod}"


@pytest.mark.parametrize("leaf", SHARED_LEAVES)
def test_shared_leaf_imports_only_model_errors_util(leaf: str) -> None:
    allowed = ("auditor.model", "auditor.errors", "auditor.util", f"auditor.{leaf}")
    problems = []
    for path in sorted((PACKAGE / leaf).rglob("*.py")):
        for mod in imported_modules(path):
            if mod.startswith("auditor") and not any(mod == a or mod.startswith(a + ".") for a in allowed):
                problems.append(f"{path.relative_to(PACKAGE.parent)} imports {mod}")
    assert not problems, "\n".join(problems)
