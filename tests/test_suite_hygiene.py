"""The suite's own rules (CONTRIBUTING.md "Tests"), checked on every test file so new tests keep them.

Each rule closes a way a test could pass without proving anything: a skip decided by a private reading of
``CI`` (``CI=false`` read as true, or a skip that CI lets through), a project module "skipped" when it fails
to import, a golden file rewritten by ``UPDATE_GOLDEN=0``, a fixed sleep standing in for a condition.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
FILES = sorted(p for p in TESTS.rglob("*.py") if "golden" not in p.parts and "fixtures" not in p.parts)


def _rel(path: Path) -> str:
    return path.relative_to(TESTS.parent).as_posix()


def _trees() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"), str(p))) for p in FILES]


def _const_str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _env_name(node: ast.AST) -> str | None:
    """``"X"`` for ``os.environ.get("X")``, ``os.environ["X"]``, ``os.getenv("X")``; None otherwise."""
    if isinstance(node, ast.Call) and node.args:
        f = node.func
        if isinstance(f, ast.Attribute) and (
            (f.attr == "get" and isinstance(f.value, ast.Attribute) and f.value.attr == "environ")
            or f.attr == "getenv"
        ):
            return _const_str(node.args[0])
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "environ":
        return _const_str(node.slice)
    return None


def test_the_suite_has_files_to_check() -> None:
    assert len(FILES) > 100 and TESTS / "conftest.py" in FILES


def test_only_ci_skips_reads_the_ci_variable() -> None:
    """Whether a skip fails is decided in one place (tests/ci_skips.py), with one reading of ``CI``."""
    offenders = [
        f"{_rel(p)}:{node.lineno}"
        for p, tree in _trees()
        if p.name not in ("ci_skips.py", "test_ci_skips.py")
        for node in ast.walk(tree)
        if _env_name(node) == "CI"
    ]
    assert offenders == [], "skip with pytest.skip(); tests/ci_skips.py fails it under CI"


def test_no_skip_on_the_projects_own_modules() -> None:
    """An import error in ``auditor`` is a failure, never an ``importorskip`` skip."""
    offenders = []
    for p, tree in _trees():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("importorskip", "find_spec") and node.args):
                name = _const_str(node.args[0]) or ""
                if name == "auditor" or name.startswith("auditor."):
                    offenders.append(f"{_rel(p)}:{node.lineno}: {node.func.attr}({name!r})")
    assert offenders == []


def test_golden_files_are_rewritten_only_for_exactly_1() -> None:
    """``UPDATE_GOLDEN`` is compared with ``"1"``: any other use (truthiness, ``"0"``) could rewrite silently."""
    uses = []
    for p, tree in _trees():
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if _env_name(node) != "UPDATE_GOLDEN":
                continue
            up = parents.get(node)
            ok = (isinstance(up, ast.Compare) and len(up.ops) == 1 and isinstance(up.ops[0], ast.Eq)
                  and _const_str(up.comparators[0]) == "1")
            uses.append((f"{_rel(p)}:{node.lineno}", ok))
    assert uses, "the golden-file helpers read UPDATE_GOLDEN"
    assert [where for where, ok in uses if not ok] == []


def test_sleeps_only_poll_a_condition() -> None:
    """``time.sleep`` only inside a ``while`` loop (polling a condition with a deadline), never a fixed wait."""
    offenders = []
    for p, tree in _trees():
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "sleep"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in ("time", "asyncio")):
                continue
            up: ast.AST | None = node
            while up is not None and not isinstance(up, (ast.While, ast.FunctionDef, ast.AsyncFunctionDef)):
                up = parents.get(up)
            if not isinstance(up, ast.While):
                offenders.append(f"{_rel(p)}:{node.lineno}")
    assert offenders == [], "wait on an event or poll a condition with a deadline instead"


@pytest.mark.parametrize(("source", "found"), [
    ('import os\nif os.environ.get("CI"):\n    pass\n', True),
    ('import os\nx = os.environ["CI"]\n', True),
    ('import os\nx = os.getenv("CI", "")\n', True),
    ('import os\nx = os.environ.get("CIRCLE")\n', False),
])
def test_env_reads_are_recognised(source: str, found: bool) -> None:
    names = [_env_name(n) for n in ast.walk(ast.parse(source))]
    assert ("CI" in names) is found
