"""The replayed build annotations equal kustomize's own, on every kustomization of every fleet.

A plain build's provenance comes from :mod:`auditor.render.kustomize.origins` (kustomize's buildMetadata
costs ~20 % of its CPU). For every kustomization of every fleet the test suite builds, what the replay
says about each object (origin, transformations) must be what kustomize writes with buildMetadata, and
the rendered set (objects, provenance, gaps) must be the one the annotated build gives; where the replay
declines, the render is annotated, as before.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import RenderError
from auditor.render.kustomize import build, origins
from auditor.render.kustomize.graph import join_path, scan
from auditor.render.kustomize.tree import prepare_tree
from auditor.render.tools import KustomizeTool, find_kustomize
from auditor.repo.git import open_repo
from auditor.repo.options import SourceOptions
from auditor.util import yamlio
from tests.fleets import FLEETS, kustomization_dirs

OPTIONS = SourceOptions(render_timeout=300.0)


@pytest.fixture(scope="module")
def tool() -> KustomizeTool:
    return find_kustomize(OPTIONS)


def _resolve(overlay: str, note: Any) -> Any:
    """An origin/transformation entry with its path made repository-relative (kustomize writes it relative
    to the overlay), so kustomize's and the replay's spelling compare."""
    if not isinstance(note, dict):
        return note
    out = dict(note)
    for key in ("path", "configuredIn"):
        if key in out:
            out[key] = join_path(overlay, str(out[key]))
    return out


def _annotated(tool: KustomizeTool, tree: Any, rel: str) -> list[tuple[Any, Any]]:
    graph = scan(tree, rel, OPTIONS, "render")
    out = []
    for obj in build._run(tool, tree, rel, graph, OPTIONS, "render"):
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        origin = yamlio.load_one(annotations.get(build.ORIGIN_ANNOTATION) or "null", "origin")
        transforms = yamlio.load_one(annotations.get(build.TRANSFORMATIONS_ANNOTATION) or "null", "t")
        out.append((_resolve(rel, origin), [_resolve(rel, t) for t in transforms or []]))
    return out


@pytest.mark.parametrize("fleet", sorted(FLEETS))
def test_replayed_annotations_are_kustomizes(fleet: str, tool: KustomizeTool, tmp_path: Path) -> None:
    repo = FLEETS[fleet](tmp_path / "fleet")
    tree = prepare_tree(open_repo(str(repo), OPTIONS), "HEAD", tmp_path / "tree", OPTIONS)
    plain = tree.plain()
    assert plain is not None
    replayed: list[str] = []
    declined: dict[str, str] = {}
    for rel in kustomization_dirs(plain.root):
        try:
            graph = scan(plain, rel, OPTIONS, "render")
            records = origins.simulate(graph)
            items = build._run(tool, plain, rel, graph, OPTIONS, "render")
            notes = origins.match(records, items)
        except origins.Unsupported as why:
            declined[rel] = str(why)
            continue
        except RenderError:
            continue  # a component, a kustomization that does not build: nothing to attribute
        expected = _annotated(tool, tree, rel)
        got = [(_resolve(rel, n.origin), [_resolve(rel, t) for t in n.transformations]) for n in notes]
        assert got == expected, (fleet, rel)
        # The rendered sets are the same: objects, provenance (files, roles, lines), gaps.
        fast = build._render_plain(tool, plain, rel, "default", OPTIONS, "render")
        slow = build._render_annotated(tool, tree, rel, "default", OPTIONS, "render", frozenset())
        assert fast.objects == slow.objects and fast.gaps == slow.gaps, (fleet, rel)
        assert [m.provenance for m in fast.objects] == [m.provenance for m in slow.objects], (fleet, rel)
        replayed.append(rel)
    if fleet == "argocd-example":
        assert not replayed and not declined
        return
    assert len(replayed) >= (1 if fleet == "matrix" else 2), declined
    if fleet == "matrix":
        assert declined  # plugin configs and merge generators: annotated builds
    print(f"{fleet}: replayed {len(replayed)}, declined {sorted(declined.items())}")


def test_replay_declines_what_it_does_not_model(tool: KustomizeTool, tmp_path: Path) -> None:
    """Renames by patch, objects deleted by a patch, merge generators: annotated builds, same provenance."""
    from tests.fleets import commit_all, git

    files = {
        "base/kustomization.yaml": "resources: [cm.yaml, gone.yaml]\n",
        "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: b}\n",
        "base/gone.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gone}\n",
        "rename/kustomization.yaml": (
            "resources: [../base]\npatches:\n  - target: {kind: ConfigMap, name: cm}\n"
            "    patch: |-\n      - op: replace\n        path: /metadata/name\n        value: renamed\n"),
        "delete/kustomization.yaml": (
            "resources: [../base]\npatches:\n  - patch: |-\n      $patch: delete\n      apiVersion: v1\n"
            "      kind: ConfigMap\n      metadata: {name: gone}\n"),
        "merge/kustomization.yaml": (
            "resources: [../base]\nconfigMapGenerator:\n  - name: cm\n    behavior: merge\n"
            "    literals: [c=d]\n"),
    }
    repo = tmp_path / "repo"
    repo.mkdir()
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "initial")
    tree = prepare_tree(open_repo(str(repo), OPTIONS), "HEAD", tmp_path / "tree", OPTIONS)
    plain = tree.plain()
    assert plain is not None
    reasons = {}
    for rel in ("rename", "delete", "merge"):
        graph = scan(plain, rel, OPTIONS, "render")
        with pytest.raises(origins.Unsupported) as info:
            origins.match(origins.simulate(graph), build._run(tool, plain, rel, graph, OPTIONS, "render"))
        reasons[rel] = str(info.value)
        rs = build.render_overlay(tool, tree, rel, default_namespace="d", options=OPTIONS)
        assert rs.objects and all(m.provenance.files for m in rs.objects)
    assert "JSON patch" in reasons["rename"]
    assert "not in the output" in reasons["delete"]
    assert "merge" in reasons["merge"]
    assert posixpath.sep == "/"
