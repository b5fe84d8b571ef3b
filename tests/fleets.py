"""Every fleet the test suite builds, as git repositories: for tests that must hold on all of them.

- ``base``: tests/gitfixtures.BASE (base, component, production overlay with every common transformer);
- ``matrix``: tests/render/test_kustomize_build.MATRIX (deprecated fields, plugin configs, merge generators,
  replacements, components with generators, List expansion);
- ``flux``: tests/render/flux/fluxrepo.fleet_files() (Flux layout: clusters, apps, infrastructure, charts);
- ``demo``: the bundled demo fleet (auditor/demo), with its history;
- ``flux-example`` and ``argocd-example``: examples/flux-fleet/fleet and examples/argocd-fleet/fleet;
- ``fleetgen``: bench/fleetgen.py, 6 targets of mixed sizes.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from auditor.util import proc

ROOT = Path(__file__).resolve().parents[1]
_GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com",
    "GIT_COMMITTER_NAME": "Alice", "GIT_COMMITTER_EMAIL": "alice@example.com",
}


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` with a fixed identity; its stdout."""
    return proc.run(["git", *args], cwd=root, env=_GIT_ENV, action="test git").stdout.decode().strip()


def commit_all(root: Path, message: str) -> str:
    """Commit everything in ``root`` (a repository); the new commit."""
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")


def _from_files(dest: Path, files: dict[str, str]) -> Path:
    dest.mkdir(parents=True)
    for rel, text in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(dest, "init", "-q", "-b", "main")
    commit_all(dest, "initial")
    return dest


def _from_dir(dest: Path, src: Path) -> Path:
    shutil.copytree(src, dest)
    git(dest, "init", "-q", "-b", "main")
    commit_all(dest, "initial")
    return dest


def _base(dest: Path) -> Path:
    from tests.gitfixtures import BASE

    return _from_files(dest, BASE)


def _matrix(dest: Path) -> Path:
    from tests.render.test_kustomize_build import MATRIX

    return _from_files(dest, MATRIX)


def _flux(dest: Path) -> Path:
    from tests.render.flux.fluxrepo import fleet_files

    return _from_files(dest, fleet_files())


def _demo(dest: Path) -> Path:
    from auditor.demo.fleet import create_demo

    return create_demo(dest).root


def _fleetgen(dest: Path) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import fleetgen
    finally:
        sys.path.remove(str(ROOT / "bench"))
    fleetgen.generate(dest, 6, 300, 0.02, 0.1, sizes=(150, 300, 450))
    return dest / "repo"


FLEETS: dict[str, Callable[[Path], Path]] = {
    "base": _base,
    "matrix": _matrix,
    "flux": _flux,
    "demo": _demo,
    "flux-example": lambda d: _from_dir(d, ROOT / "examples" / "flux-fleet" / "fleet"),
    "argocd-example": lambda d: _from_dir(d, ROOT / "examples" / "argocd-fleet" / "fleet"),
    "fleetgen": _fleetgen,
}
"""Fleet name → builder (destination directory → the repository's root)."""


def kustomization_dirs(root: Path) -> list[str]:
    """Repository-relative directories holding a kustomization file (``.git`` excluded), sorted."""
    from auditor.render.kustomize.tree import KUSTOMIZATION_FILES

    found = {p.parent.relative_to(root).as_posix() for name in KUSTOMIZATION_FILES for p in root.rglob(name)
             if ".git" not in p.parts}
    return sorted("" if d == "." else d for d in found)
