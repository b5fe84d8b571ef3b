"""The CI skip policy (tests/ci_skips.py), run on a small suite in a child pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

SUITE = {
    "conftest.py": "from ci_skips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401\n",
    "test_some.py": """\
import pytest

def test_runs():
    pass

@pytest.mark.skipif(True, reason="helm not installed")
def test_marked():
    pass

def test_imperative():
    pytest.skip("chromium not found")

@pytest.mark.xfail(strict=True, reason="known bug")
def test_known_bug():
    assert False

@pytest.fixture
def tool():
    pytest.skip("kubectl not installed")

def test_fixture_skip(tool):
    pass
""",
    "test_module_skip.py": (
        "import pytest\npytest.importorskip('no_such_module_for_ci_skips')\n\ndef test_x():\n    pass\n"
    ),
}


def _run(tmp_path: Path, ci: str | None, module_skip: bool = False) -> subprocess.CompletedProcess[str]:
    for name, text in SUITE.items():
        if name != "test_module_skip.py" or module_skip:
            (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-p", "no:randomly",
                           str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_skips_stay_skips(tmp_path: Path, ci: str | None) -> None:
    proc = _run(tmp_path, ci, module_skip=True)
    assert proc.returncode == 0, proc.stdout
    assert "1 passed, 4 skipped, 1 xfailed" in proc.stdout


def test_under_ci_every_skip_fails_with_its_reason(tmp_path: Path) -> None:
    proc = _run(tmp_path, "true")
    assert proc.returncode == 1, proc.stdout
    out = proc.stdout
    # skips in setup (markers, fixtures) become setup errors, skips in the test body failures
    assert out.splitlines()[-1].startswith("1 failed, 1 passed, 1 xfailed, 2 errors"), out
    for reason in ("helm not installed", "chromium not found", "kubectl not installed"):
        assert f"which CI does not allow (tests/ci_skips.py): {reason}" in out, reason


def test_under_ci_a_module_level_skip_is_a_collection_error(tmp_path: Path) -> None:
    proc = _run(tmp_path, "true", module_skip=True)
    assert proc.returncode == 2, proc.stdout  # collection errors interrupt the run
    assert "ERROR test_module_skip.py" in proc.stdout
    assert "could not import 'no_such_module_for_ci_skips'" in proc.stdout


@pytest.mark.parametrize(("value", "on"), [(None, False), ("", False), ("0", False), ("false", False), ("No", False),
                                           ("true", True), ("1", True), ("yes", True), ("github-actions", True)])
def test_ci_enabled(monkeypatch: pytest.MonkeyPatch, value: str | None, on: bool) -> None:
    from ci_skips import ci_enabled

    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert ci_enabled() is on


def test_allow_list_entries_match_node_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    import ci_skips

    monkeypatch.setattr(ci_skips, "CI_ALLOWED_SKIPS", {"tests/x.py::test_a": "why"})
    assert ci_skips._allowed("tests/x.py::test_a") and ci_skips._allowed("tests/x.py::test_a[p1]")
    assert not ci_skips._allowed("tests/x.py::test_ab") and not ci_skips._allowed("tests/x.py::test_b")
