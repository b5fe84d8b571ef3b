"""Rendering for provenance never changes what kustomize outputs.

- An overlay whose own kustomization asks for ``buildMetadata`` keeps those annotations, exactly as
  ``kustomize build`` prints them for the original files (the audit's own additions are removed).
- An object kustomize accepts without ``apiVersion`` becomes a coverage gap; the rest renders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from auditor.render.kustomize import build
from auditor.render.kustomize.tree import prepare_tree
from auditor.render.tools import KustomizeTool, find_kustomize
from auditor.repo.git import open_repo
from auditor.repo.options import SourceOptions
from auditor.util import proc
from tests.gitfixtures import GitRepo

OPTIONS = SourceOptions()


@pytest.fixture(scope="module")
def tool() -> KustomizeTool:
    return find_kustomize(OPTIONS)


FILES = {
    "base/kustomization.yaml": "resources: [cm.yaml]\nbuildMetadata: [managedByLabel]\n",
    "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, annotations: {keep: me}}\n",
    "origin/kustomization.yaml": "resources: [../base]\nnamePrefix: o-\nbuildMetadata: [originAnnotations]\n",
    "both/kustomization.yaml": (
        "resources: [../base]\nnamespace: ns1\nbuildMetadata: [transformerAnnotations, originAnnotations]\n"),
    "none/kustomization.yaml": "resources: [../base]\ncommonLabels: {a: b}\n",
}


@pytest.mark.parametrize("overlay, kept", [
    ("origin", {build.ORIGIN_ANNOTATION}),
    ("both", {build.ORIGIN_ANNOTATION, build.TRANSFORMATIONS_ANNOTATION}),
    ("none", set()),
    ("base", set()),  # managedByLabel: the label stays, no annotation
])
def test_own_build_metadata_stays_as_kustomize_prints_it(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                                         tmp_path: Path, overlay: str, kept: set[str]) -> None:
    repo = make_repo("bm", FILES)
    expected = [d for d in yaml.safe_load_all(proc.run([*tool.argv, overlay], action="build", cwd=repo.root).stdout)
                if d]
    tree = prepare_tree(open_repo(str(repo.root), OPTIONS), "HEAD", tmp_path / "tree", OPTIONS)
    rs = build.render_overlay(tool, tree, overlay, default_namespace="d", options=OPTIONS)
    assert [dict(m.body) for m in rs.objects] == expected
    (cm,) = rs.objects
    assert set(cm.annotations) - {"keep"} == kept
    assert cm.provenance.files[0].path == "base/cm.yaml"  # provenance whatever the overlay keeps
    if overlay == "base":
        assert cm.body["metadata"]["labels"]["app.kubernetes.io/managed-by"].startswith("kustomize-")


def test_object_without_api_version_is_a_gap_and_the_rest_renders(make_repo: Callable[..., GitRepo],
                                                                  tool: KustomizeTool, tmp_path: Path) -> None:
    repo = make_repo("noapi", {
        "app/kustomization.yaml": "resources: [objs.yaml]\nnamespace: shop\n",
        "app/objs.yaml": ("kind: ConfigMap\nmetadata:\n  name: no-api\ndata: {a: b}\n---\n"
                          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n"),
    })
    tree = prepare_tree(open_repo(str(repo.root), OPTIONS), "HEAD", tmp_path / "tree", OPTIONS)
    rs = build.render_overlay(tool, tree, "app", default_namespace="d", options=OPTIONS)
    assert [m.ref.name for m in rs.objects] == ["fine"]
    (gap,) = rs.gaps
    assert (gap.group_kind, gap.namespace, gap.name) == ("ConfigMap", "shop", "no-api")
    assert "apiVersion" in gap.reason and not gap.informational
