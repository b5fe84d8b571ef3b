"""Render a kustomize overlay at a commit into desired objects with file provenance.

Flow: :func:`prepare_tree` extracts the commit into a private directory and adds
``buildMetadata: [originAnnotations, transformerAnnotations]`` to every kustomization there
(:mod:`~auditor.render.kustomize.tree`); :func:`render_overlay` scans the overlay's kustomization graph
(remote bases, escaping symlinks; :mod:`~auditor.render.kustomize.graph`), runs the real kustomize, turns
each object into a :class:`~auditor.model.Manifest` whose provenance comes from the annotations kustomize
wrote (:mod:`~auditor.render.kustomize.attribution`), and strips those annotations from the body. A failed
build is explained in one line by :mod:`~auditor.render.kustomize.explain`.

Render cache key (``RenderedSet.tree_hash``): the overlay directory alone is not enough (overlays read
``../../base``). With kustomize's default load restrictor every file a kustomization reads lies in or
below that kustomization's directory, so the set of kustomization directories reached from the overlay
covers every local input. The key is a SHA-256 over those directories' git tree ids, the kustomize
version, the default namespace and this package's output version. It stays the same when unrelated
parts of the repository change. Working-tree renders and overlays with (allow-listed) remote bases, whose
ref may move between runs, get an empty key: never cache those.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
from dataclasses import replace
from typing import Any

from auditor.errors import RenderError, ToolError
from auditor.model import CoverageGap, Manifest, ObjectRef, Provenance, RenderedSet, split_api_version
from auditor.render.kustomize import origins
from auditor.render.kustomize.attribution import file_provenance, provenance_from
from auditor.render.kustomize.explain import explain_failure, rewrite_paths
from auditor.render.kustomize.graph import Graph, find_kustomization, remote_allowed, scan
from auditor.render.kustomize.tree import (
    BUILD_METADATA,
    KUSTOMIZATION_FILES,
    PreparedTree,
    prepare_tree,
    skipped_reason,
)
from auditor.render.tools import KustomizeTool
from auditor.repo.options import SourceOptions
from auditor.util import proc, yamlio
from auditor.util.kinds import is_namespaced

log = logging.getLogger("gitops_audit")

# The entry points, and the tree/graph/explanation names callers have always imported from here.
__all__ = [
    "BUILD_METADATA",
    "KUSTOMIZATION_FILES",
    "ORIGIN_ANNOTATION",
    "TRANSFORMATIONS_ANNOTATION",
    "PreparedTree",
    "explain_failure",
    "normalize_overlay",
    "prepare_tree",
    "remote_allowed",
    "render_overlay",
]

ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
TRANSFORMATIONS_ANNOTATION = "alpha.config.kubernetes.io/transformations"
_INTERNAL_PREFIX = "internal.config.kubernetes.io/"
"""Reserved by kustomize/kyaml for build bookkeeping (paths, indexes, previous names); never desired state."""
_KEPT = {"originAnnotations": ORIGIN_ANNOTATION, "transformerAnnotations": TRANSFORMATIONS_ANNOTATION}
"""buildMetadata option → the annotation it keeps in kustomize's output."""
RENDER_VERSION = "render-v3"
"""Bumped when the Manifests built from the same kustomize output change (part of the cache key), including
what :mod:`~auditor.render.kustomize.attribution` attributes."""


def normalize_overlay(overlay: str) -> str:
    """Repository-relative POSIX overlay path ("" for the root); RenderError when it leaves the repository."""
    p = overlay.replace("\\", "/").strip()
    if p.startswith("/"):
        raise RenderError(f"render {overlay}: overlay path must be relative to the repository root")
    norm = posixpath.normpath(p) if p else "."
    if norm == ".." or norm.startswith("../"):
        raise RenderError(f"render {overlay}: overlay path leaves the repository")
    return "" if norm == "." else norm


def render_overlay(
    tool: KustomizeTool,
    tree: PreparedTree,
    overlay: str,
    *,
    default_namespace: str,
    options: SourceOptions,
) -> RenderedSet:
    """Build ``overlay`` with the real kustomize and return its objects with provenance.

    A plain build (the tree's copy without the added buildMetadata) with provenance replayed from the
    kustomization graph when :mod:`~auditor.render.kustomize.origins` models the build; otherwise a build
    with buildMetadata, provenance read from kustomize's annotations. Both give kustomize's output.
    Raises :class:`RenderError` (one line, repository-relative paths) when the overlay cannot be built.
    """
    rel = normalize_overlay(overlay)
    shown = rel or "."
    action = f"render {shown}"
    overlay_dir = tree.root.joinpath(*rel.split("/")) if rel else tree.root
    reason = skipped_reason(tree, rel) if rel else ""
    if reason:
        raise RenderError(f"{action}: refused: {reason}")
    if not overlay_dir.is_dir():
        raise RenderError(f"{action}: no such directory in the repository at {tree.commit[:12]}")
    kpath = find_kustomization(tree.root, rel)
    if kpath is None:
        raise RenderError(f"{action}: no kustomization.yaml in {shown}")
    # What the overlay asked for itself stays in the output, as kustomize (and its controllers) print it.
    keep = frozenset(_KEPT.get(o, "") for o in tree.build_metadata.get(kpath, ())) - {""}
    plain = tree.plain()
    if plain is not None and not keep:
        try:
            return _render_plain(tool, plain, rel, default_namespace, options, action)
        except origins.Unsupported as why:
            log.debug("%s: provenance from buildMetadata (%s)", action, why)
    return _render_annotated(tool, tree, rel, default_namespace, options, action, keep)


def _run(tool: KustomizeTool, tree: PreparedTree, rel: str, graph: Graph, options: SourceOptions,
         action: str) -> list[dict[str, Any]]:
    """The objects kustomize prints for ``rel``; RenderError when it fails."""
    # "./" keeps a directory named like a flag (say "--enable-exec", from a Flux path in the repository)
    # from ever being parsed as one.
    argv = [*tool.argv, f"./{rel}" if rel else "."]
    try:
        # Without network unless an allow-listed remote base needs it: whatever a kustomization names,
        # kustomize cannot fetch it (defence in depth behind the allow-list check of every field in scan()).
        res = proc.run(argv, action=action, cwd=tree.root, timeout=options.render_timeout, check=False,
                       memory_mb=options.tool_memory_mb, network=bool(graph.remote), cpu_bound=True)
    except ToolError as exc:
        raise RenderError(rewrite_paths(str(exc), tree.root)) from None
    if res.returncode != 0:
        raise RenderError(f"{action}: kustomize: {explain_failure(res.stderr, graph, tree)}")
    try:
        docs = yamlio.load_all(res.stdout, f"kustomize output of {rel or '.'}")
    except yamlio.YamlError as exc:
        raise RenderError(f"{action}: {exc}") from None
    return [obj for doc in docs for obj in yamlio.iter_items(doc)]


def _render_plain(tool: KustomizeTool, tree: PreparedTree, rel: str, default_namespace: str,
                  options: SourceOptions, action: str) -> RenderedSet:
    """Plain kustomize build; provenance replayed from the graph (raises Unsupported before or after)."""
    graph = scan(tree, rel, options, action, helm="--enable-helm" in tool.argv)
    records = origins.simulate(graph)  # declines before kustomize runs when the build is not modelled
    items = _run(tool, tree, rel, graph, options, action)
    notes = origins.match(records, items)
    cluster_scoped = _cluster_scoped_crds(items)
    objects: list[Manifest] = []
    gaps: list[CoverageGap] = []
    for obj, note in zip(items, notes, strict=True):
        made = _manifest(obj, default_namespace, cluster_scoped)
        if isinstance(made, CoverageGap):
            gaps.append(made)
            continue
        files = provenance_from(obj, note.origin, list(note.transformations) or None, graph)
        objects.append(replace(made, provenance=Provenance(files=files)))
    return RenderedSet(path=rel, commit=tree.commit, objects=tuple(objects),
                       tree_hash=_tree_hash(graph, tree, tool, default_namespace), gaps=tuple(gaps))


def _render_annotated(tool: KustomizeTool, tree: PreparedTree, rel: str, default_namespace: str,
                      options: SourceOptions, action: str, keep: frozenset[str]) -> RenderedSet:
    """Build with buildMetadata (the prepared tree); provenance from kustomize's annotations."""
    graph = scan(tree, rel, options, action, helm="--enable-helm" in tool.argv)
    items = _run(tool, tree, rel, graph, options, action)
    cluster_scoped = _cluster_scoped_crds(items)
    objects: list[Manifest] = []
    gaps: list[CoverageGap] = []
    for obj in items:
        body, origin_raw, transforms_raw = _strip_build_annotations(obj, keep)
        made = _manifest(body, default_namespace, cluster_scoped)
        if isinstance(made, CoverageGap):
            gaps.append(made)
            continue
        files = file_provenance(body, origin_raw, transforms_raw, graph)
        objects.append(replace(made, provenance=Provenance(files=files)))
    return RenderedSet(path=rel, commit=tree.commit, objects=tuple(objects),
                       tree_hash=_tree_hash(graph, tree, tool, default_namespace), gaps=tuple(gaps))


def _tree_hash(graph: Graph, tree: PreparedTree, tool: KustomizeTool, default_namespace: str) -> str:
    if tree.worktree or not tree.dir_ids or graph.remote:
        # No stable key: uncommitted files, or remote bases whose ref may move between runs.
        return ""
    parts = [RENDER_VERSION, tool.info.version, default_namespace]
    for kdir in sorted(graph.kfiles):
        oid = tree.dir_ids.get(kdir)
        if oid is None:
            return ""
        parts.append(f"{kdir or '.'}\0{oid}")
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def _cluster_scoped_crds(items: list[dict[str, Any]]) -> frozenset[tuple[str, str]]:
    """(group, kind) of custom resources the overlay itself defines as cluster-scoped."""
    out: set[tuple[str, str]] = set()
    for obj in items:
        if obj.get("kind") == "CustomResourceDefinition" and str(obj.get("apiVersion", "")).startswith(
                "apiextensions.k8s.io/"):
            spec = obj.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind") if isinstance(spec, dict) else None
            if isinstance(spec, dict) and spec.get("scope") == "Cluster" and kind:
                out.add((str(spec.get("group") or ""), str(kind)))
    return frozenset(out)


def _strip_build_annotations(obj: dict[str, Any], keep: frozenset[str]) -> tuple[dict[str, Any], Any, Any]:
    """``obj`` without the build annotations the audit added, and the raw origin and transformations.

    The annotations in ``keep`` (the overlay asked for them itself) stay.
    """
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or not isinstance(annotations, dict):
        return obj, None, None
    origin_raw = annotations.get(ORIGIN_ANNOTATION)
    transforms_raw = annotations.get(TRANSFORMATIONS_ANNOTATION)
    kept = {
        k: v
        for k, v in annotations.items()
        if (k in keep or k not in (ORIGIN_ANNOTATION, TRANSFORMATIONS_ANNOTATION))
        and not k.startswith(_INTERNAL_PREFIX)
    }
    new_meta = {k: v for k, v in meta.items() if k != "annotations"}
    if kept:
        new_meta["annotations"] = kept
    return {**obj, "metadata": new_meta}, origin_raw, transforms_raw


def _manifest(obj: dict[str, Any], default_namespace: str,
              cluster_scoped: frozenset[tuple[str, str]] = frozenset()) -> Manifest | CoverageGap:
    """The object as a Manifest (provenance filled by the caller), or a gap for an object without identity.

    kustomize prints an object without ``apiVersion``; the API server would refuse it, and the audit
    reports it as not audited instead of failing the whole render.
    """
    api_version = str(obj.get("apiVersion") or "")
    kind = str(obj.get("kind") or "")
    meta = obj.get("metadata")
    name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
    namespace = str(meta.get("namespace") or "") if isinstance(meta, dict) else ""
    if not api_version or not kind or not name:
        missing = ", ".join(f for f, v in (("apiVersion", api_version), ("kind", kind), ("metadata.name", name))
                            if not v)
        return CoverageGap(group_kind=kind or "?", namespace=namespace,
                           reason=f"object {kind or '?'}/{name or '?'} rendered without {missing} "
                                  "(the API server would refuse it)",
                           name=name)
    group, _ = split_api_version(api_version)
    if not namespace and is_namespaced(group, kind, cluster_scoped):
        namespace = default_namespace
    ref = ObjectRef(group=group, kind=kind, namespace=namespace, name=name)
    return Manifest(ref=ref, api_version=api_version, body=obj)
