"""Finding kustomize: kubectl's embedded one, a standalone binary, explicit paths, and a clear error."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from auditor.errors import RenderError, ToolError
from auditor.render import tools
from auditor.render.kustomize import build as render
from auditor.repo import git
from auditor.repo.options import SourceOptions

if TYPE_CHECKING:
    from tests.gitfixtures import GitRepo

KUBECTL = shutil.which("kubectl")


def _shim(directory: Path, body: str) -> Path:
    """A standalone ``kustomize`` that delegates builds to kubectl's embedded kustomize (the real renderer)."""
    directory.mkdir(parents=True, exist_ok=True)
    p = directory / "kustomize"
    p.write_text(f"#!/bin/sh\n{body}\n")
    p.chmod(0o755)
    return p


def _standalone(directory: Path) -> Path:
    return _shim(directory, "\n".join([
        'case "$1" in',
        "  version) echo v5.4.3 ;;",
        f'  build) shift; exec {KUBECTL} kustomize "$@" ;;',
        "  *) exit 64 ;;",
        "esac",
    ]))


def test_kubectl_kustomize_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert KUBECTL is not None
    # A PATH holding kubectl alone: a standalone kustomize next to kubectl must not decide this test.
    only = tmp_path / "only-kubectl"
    only.mkdir()
    (only / "kubectl").symlink_to(KUBECTL)
    monkeypatch.setenv("PATH", str(only))
    assert shutil.which("kustomize") is None
    tool = tools.find_kustomize(SourceOptions())
    assert tool.argv == (str(only / "kubectl"), "kustomize")
    assert tool.info.name == "kustomize"
    assert tool.info.version.startswith("v5.")
    assert "(kubectl v1." in tool.info.version


def test_standalone_kustomize_preferred_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shim = _standalone(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{Path(str(KUBECTL)).parent}")
    tool = tools.find_kustomize(SourceOptions())
    assert tool.argv == (str(shim), "build")
    assert tool.info.version == "v5.4.3"
    assert tool.info.path == str(shim)


def test_explicit_paths(tmp_path: Path) -> None:
    shim = _standalone(tmp_path / "bin")
    tool = tools.find_kustomize(SourceOptions(kustomize_path=str(shim)))
    assert tool.argv == (str(shim), "build")
    with pytest.raises(ToolError, match="not an executable file"):
        tools.find_kustomize(SourceOptions(kustomize_path=str(tmp_path / "missing")))
    # tools.kustomize pointing at kubectl works too
    tool = tools.find_kustomize(SourceOptions(kustomize_path=str(KUBECTL)))
    assert tool.argv == (str(KUBECTL), "kustomize")


def test_missing_everything_says_how_to_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(ToolError) as err:
        tools.find_kustomize(SourceOptions())
    assert str(err.value) == (
        "kustomize not found: install kubectl (it includes kustomize) or kustomize, "
        "or set tools.kustomize in the config")
    assert err.value.exit_code == 2
    with pytest.raises(ToolError, match="not an executable file"):
        tools.find_kustomize(SourceOptions(kubectl_path=str(tmp_path / "nope")))


def test_standalone_renders_and_failures_are_explained(fleet_repo: GitRepo, tmp_path: Path) -> None:
    """`kustomize build` prints `Error: …` instead of kubectl's klog line; both are explained alike."""
    # like kustomize v5: the error goes to stderr as "Error: <message>"
    log = tmp_path / "kubectl.err"
    shim = _shim(tmp_path / "bin", "\n".join([
        '[ "$1" = version ] && { echo v5.5.0; exit 0; }',
        "shift",
        f'{KUBECTL} kustomize "$@" 2>{log} && exit 0',
        "rc=$?",
        f"printf 'Error: %s\\n' \"$(sed -n 's/.*err=\"\\(.*\\)\"$/\\1/p' {log})\" >&2",
        "exit $rc",
    ]))
    opts = SourceOptions(kustomize_path=str(shim))
    tool = tools.find_kustomize(opts)
    h = git.open_repo(str(fleet_repo.root), opts)
    commit = git.resolve_ref(h, "HEAD")
    tree = render.prepare_tree(h, commit, tmp_path / "t", opts)
    rs = render.render_overlay(tool, tree, "overlays/staging", default_namespace="x", options=opts)
    assert {m.ref.subject for m in rs.objects} >= {"Deployment/staging/web", "Service/staging/web"}
    fleet_repo.commit("break", {"base/kustomization.yaml": "resources: [deployment.yaml, gone.yaml]\n"})
    commit = git.resolve_ref(h, "HEAD")
    tree = render.prepare_tree(h, commit, tmp_path / "t2", opts)
    with pytest.raises(RenderError) as err:
        render.render_overlay(tool, tree, "overlays/staging", default_namespace="x", options=opts)
    assert "missing file or directory base/gone.yaml (referenced in base/kustomization.yaml:1)" in str(err.value)


def test_render_timeout_is_a_render_error(fleet_repo: GitRepo, tmp_path: Path,
                                          make_repo: Callable[..., GitRepo]) -> None:
    shim = _shim(tmp_path / "slow", '[ "$1" = version ] && { echo v5.5.0; exit 0; }\nexec sleep 30')
    opts = SourceOptions(kustomize_path=str(shim), render_timeout=0.5)
    tool = tools.find_kustomize(opts)
    h = git.open_repo(str(fleet_repo.root), opts)
    tree = render.prepare_tree(h, git.resolve_ref(h, "HEAD"), tmp_path / "t", opts)
    with pytest.raises(RenderError) as err:
        render.render_overlay(tool, tree, "overlays/staging", default_namespace="x", options=opts)
    assert str(err.value) == "render overlays/staging: kustomize timed out after 0.5s"


def test_git_info() -> None:
    info = tools.git_info()
    assert info.name == "git" and info.version[0].isdigit()
