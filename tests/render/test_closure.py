"""The render cache's closure, proved against kustomize itself on every fleet the test suite builds.

For every kustomization of every fleet (tests/fleets.py): a copy of the repository holding only the
files of the closure builds byte for byte like the whole repository (or fails like it). A wrong closure
would let a cached render survive a change it depends on: a wrong audit.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.errors import RenderError
from auditor.render.kustomize import closure as kclosure
from auditor.render.kustomize.graph import scan
from auditor.render.kustomize.tree import PreparedTree, prepare_tree
from auditor.render.tools import KustomizeTool, find_kustomize
from auditor.repo.git import open_repo
from auditor.repo.options import SourceOptions
from auditor.util import proc
from tests.fleets import FLEETS, commit_all, git, kustomization_dirs

OPTIONS = SourceOptions(render_timeout=300.0)


@pytest.fixture(scope="module")
def tool() -> KustomizeTool:
    return find_kustomize(OPTIONS)


def _prepared(repo: Path, dest: Path) -> PreparedTree:
    return prepare_tree(open_repo(str(repo), OPTIONS), "HEAD", dest, OPTIONS)


def _build(tool: KustomizeTool, root: Path, rel: str) -> tuple[int, bytes]:
    res = proc.run([*tool.argv, f"./{rel}" if rel else "."], action="build", cwd=root, timeout=300, check=False)
    return res.returncode, res.stdout


def _reduced(src: Path, dest: Path, c: kclosure.Closure) -> Path:
    dest.mkdir(parents=True)
    for d in c.dirs:
        shutil.copytree(src / d if d else src, dest / d if d else dest, symlinks=True, dirs_exist_ok=True)
    for f in c.files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / f, dest / f)
    return dest


def _closures(tree: PreparedTree, root: Path) -> Iterator[tuple[str, kclosure.Closure]]:
    for rel in kustomization_dirs(root):
        try:
            graph = scan(tree, rel, OPTIONS, f"render {rel}")
        except RenderError:
            continue
        yield rel, kclosure.compute(tree, graph)


@pytest.mark.parametrize("fleet", sorted(FLEETS))
def test_closure_builds_like_the_whole_repository(fleet: str, tool: KustomizeTool, tmp_path: Path) -> None:
    repo = FLEETS[fleet](tmp_path / "fleet")
    tree = _prepared(repo, tmp_path / "tree")
    plain = tree.plain()
    assert plain is not None
    proved = narrower = 0
    fallbacks: dict[str, str] = {}
    all_files = {p.relative_to(plain.root).as_posix() for p in plain.root.rglob("*") if p.is_file()}
    for i, (rel, c) in enumerate(_closures(plain, plain.root)):
        if c.fallback or c.uncacheable:
            fallbacks[rel] = c.fallback or c.uncacheable
            continue
        full = _build(tool, plain.root, rel)
        reduced = _build(tool, _reduced(plain.root, tmp_path / f"reduced-{i}", c), rel)
        assert reduced[0] == full[0], (fleet, rel, c)
        if full[0] == 0:
            assert reduced[1] == full[1], (fleet, rel)
        proved += 1
        narrower += len(set(c.files)) < len(all_files) and not c.dirs
        assert kclosure.digest(plain, c)
    if fleet == "argocd-example":
        assert proved == 0 and not fallbacks  # Helm and plain directories: no kustomization at all
        return
    assert proved >= 2, fallbacks
    assert narrower >= 1  # the proof is not about closures that are the whole repository


def test_digest_follows_the_closure_only(tool: KustomizeTool, tmp_path: Path) -> None:
    """A change inside the closure changes the digest; one outside (another overlay) does not."""
    repo = FLEETS["demo"](tmp_path / "demo")

    def digests(n: int) -> dict[str, str]:
        tree = _prepared(repo, tmp_path / f"tree-{n}")
        plain = tree.plain()
        assert plain is not None
        return {rel: kclosure.digest(plain, c) for rel, c in _closures(plain, plain.root)}

    before = digests(0)
    us, eu = "overlays/production/us-east", "overlays/production/eu-west"
    patch = repo / us / "patch-db-host.yaml"
    patch.write_text(patch.read_text() + "# a comment changes the file\n")
    commit_all(repo, "touch us-east")
    after = digests(1)
    assert after[us] != before[us] and after[eu] == before[eu]
    assert after["overlays/production/common"] == before["overlays/production/common"]
    base = repo / "base" / "shop-api" / "kustomization.yaml"
    base.write_text(base.read_text() + "# shared base\n")
    commit_all(repo, "touch base")
    shared = digests(2)
    assert shared[us] != after[us] and shared[eu] != after[eu]
    # A file added next to an overlay's files, but not named by it, changes nothing.
    (repo / eu / "notes.md").write_text("unrelated\n")
    commit_all(repo, "notes")
    assert digests(3)[eu] == shared[eu]
    assert git(repo, "rev-list", "--count", "HEAD")


def test_unknown_closures_fall_back_and_unpinned_remotes_are_never_cached(tmp_path: Path) -> None:
    from tests.gitfixtures import BASE

    files = dict(BASE)
    files["helm/kustomization.yaml"] = "helmCharts:\n  - name: web\n    version: 1.0.0\n"
    files["plugin/kustomization.yaml"] = "resources: [cm.yaml]\ntransformers: [t.yaml]\n"
    files["plugin/cm.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
    files["plugin/t.yaml"] = ("apiVersion: builtin\nkind: PrefixSuffixTransformer\nmetadata: {name: p}\n"
                              "prefix: a-\nfieldSpecs: [{path: metadata/name}]\n")
    files["link/kustomization.yaml"] = "resources: [cm.yaml]\n"
    files["remote/kustomization.yaml"] = "resources:\n  - https://example.com/org/repo//base?ref=main\n"
    sha = "0123456789abcdef0123456789abcdef01234567"
    files["pinned/kustomization.yaml"] = f"resources:\n  - https://example.com/org/repo//base?ref={sha}\n"
    repo = tmp_path / "repo"
    repo.mkdir()
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (repo / "link" / "cm.yaml").symlink_to("../plugin/cm.yaml")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "initial")
    tree = _prepared(repo, tmp_path / "tree")
    opts = SourceOptions(allow_remote_bases=("https://example.com/org",))

    def closure(rel: str) -> kclosure.Closure:
        return kclosure.compute(tree, scan(tree, rel, opts, "render"))

    assert "Helm" in closure("helm").fallback
    assert closure("plugin").dirs == ("plugin",) and not closure("plugin").fallback
    assert "symlink" in closure("link").fallback
    assert "not pinned" in closure("remote").uncacheable
    pinned = closure("pinned")
    assert pinned.remote and not pinned.fallback and not pinned.uncacheable
    assert kclosure.overlay_digest(tree, scan(tree, "remote", opts, "render"))[0] == "-"
    assert kclosure.overlay_digest(tree, scan(tree, "helm", opts, "render")) == ("", closure("helm").fallback)
