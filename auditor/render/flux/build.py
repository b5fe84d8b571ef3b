"""Flux-style fleets: discover one target per cluster directory and render it like kustomize-controller.

A cluster directory (``clusters/production``) is what the cluster's root Flux Kustomization
(``flux-system``) applies. Rendering a cluster means: build that directory, find the Flux
``Kustomization`` objects (``kustomize.toolkit.fluxcd.io`` v1/v1beta2) it holds, render each from its
source (see :mod:`auditor.render.flux.kustomization`), recursively for nested Kustomizations, in
``dependsOn`` order; then substitute ``postBuild`` variables and stamp Flux's ownership labels.
``HelmRelease`` objects whose chart is on disk are rendered with ``helm template``
(:mod:`auditor.render.helm`).

What could not be rendered is a :class:`~auditor.model.CoverageGap`, never an exception (external
sources, remote charts, dependency cycles, render failures of one Kustomization); only a failure to
build the cluster directory itself raises :class:`~auditor.errors.RenderError`.

Flux's own semantics that drift must honour (suspend, ``reconcile: disabled``, ``ssa``) and Helm
releases that were not rendered are written as marker annotations into desired bodies; see
:mod:`auditor.render.flux.markers` and :func:`split_markers`, which takes them out again for the pipeline.
``spec.prune`` needs no marker: it is on the desired Flux Kustomization object named by an orphan's
``kustomize.toolkit.fluxcd.io/name``/``namespace`` labels (``prune: false``: a stale object is expected to stay).
Target discovery lives in :mod:`auditor.render.flux.discovery` (re-exported here).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import posixpath
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditor.errors import RenderError, SourceError, ToolError
from auditor.model import (
    CoverageGap,
    Manifest,
    RenderedSet,
)
from auditor.render import helm as helmmod
from auditor.render.flux import kustomization as fk
from auditor.render.flux.artifacts import GENERATOR_GROUP, ArtifactError, build_artifact
from auditor.render.flux.common import (
    FluxKs,
    NotRendered,
    RenderState,
    data_of,
    is_kind,
    norm_path,
    remake,
)
from auditor.render.flux.discovery import discover_targets, is_flux_target
from auditor.render.flux.helmrelease import HelmReleases
from auditor.render.flux.markers import (
    DRIFT_ANNOTATION,
    DRIFT_REASON_ANNOTATION,
    HELM_GROUP,
    HELM_RELEASE_ANNOTATION,
    HELM_STATE_ANNOTATION,
    KS_GROUP,
    KS_GROUP_KIND,
    NAME_LABEL,
    NAMESPACE_LABEL,
    SOURCE_GROUP,
    DriftMarker,
    UnrenderedRelease,
    drift_markers,
    mark,
    unpruned_kustomizations,
)
from auditor.render.flux.options import FluxOptions
from auditor.render.flux.substitute import SubstitutionError, check_names, substitute_object
from auditor.render.kustomize.build import PreparedTree, render_overlay
from auditor.render.kustomize.tree import KUSTOMIZATION_FILES, inject_build_metadata
from auditor.render.markers import split_markers
from auditor.render.revisions import Mounts, RefSpec, Unavailable, norm_url
from auditor.render.tools import KustomizeTool
from auditor.repo.options import SourceOptions

_TARGET_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")
_SOURCES_DIR = ".gitops-audit-flux-sources"
_ARTIFACTS_DIR = ".gitops-audit-flux-artifacts"

__all__ = [
    "DRIFT_ANNOTATION",
    "DRIFT_REASON_ANNOTATION",
    "HELM_RELEASE_ANNOTATION",
    "HELM_STATE_ANNOTATION",
    "NAMESPACE_LABEL",
    "NAME_LABEL",
    "ClusterLookup",
    "DriftMarker",
    "UnrenderedRelease",
    "discover_targets",
    "is_flux_target",
    "render_flux_target",
    "split_markers",
    "unpruned_kustomizations",
]

ClusterLookup = Callable[[str, str, str], Mapping[str, Any] | None]
"""``(kind, namespace, name)`` → live ConfigMap/Secret body (Secret values decoded or not), or None."""

# --------------------------------------------------------------------------------------------------
# Rendering


_BUILD_SETTINGS = ("targetNamespace", "namePrefix", "nameSuffix", "patches", "images", "components",
                   "patchesStrategicMerge", "patchesJson6902")


class _BuildCache:
    """kustomize results by input, shared by the targets of one run (clusters often apply the same paths).

    The key holds the prepared tree (its root directory and commit), the renderer, the path, the Flux
    settings kustomize sees and the default namespace: within one prepared tree the same key always
    builds the same output, so a hit is never stale. Bounded; results are read-only by convention.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.items: OrderedDict[str, tuple[RenderedSet, fk.BuildDir]] = OrderedDict()
        self.lock = threading.Lock()
        self.hits = 0

    def get(self, key: str) -> tuple[RenderedSet, fk.BuildDir] | None:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
                self.hits += 1
            return value

    def put(self, key: str, value: tuple[RenderedSet, fk.BuildDir]) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_BUILDS = _BuildCache()


def _build_key(tree: PreparedTree, tool: KustomizeTool, path: str, spec: Mapping[str, Any], namespace: str) -> str:
    settings = {k: spec.get(k) for k in _BUILD_SETTINGS if spec.get(k)}
    raw = json.dumps([str(tree.root), tree.commit, tree.worktree, list(tool.argv), path, namespace, settings],
                     sort_keys=True, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _ks_spec_has_build_settings(spec: Mapping[str, Any]) -> bool:
    keys = ("targetNamespace", "namePrefix", "nameSuffix", "patches", "images", "components",
            "commonMetadata", "postBuild", "patchesStrategicMerge", "patchesJson6902")
    return any(spec.get(k) for k in keys)


class _FluxRenderer(HelmReleases):
    """Renders one cluster directory; holds the per-cluster state while it does."""

    def __init__(self, tool: KustomizeTool, tree: PreparedTree, cluster_path: str, default_namespace: str,
                 options: FluxOptions, source_options: SourceOptions, repo_url: str,
                 cluster_lookup: ClusterLookup | None, mounts: Mounts | None = None, audited_ref: str = "") -> None:
        self.tool = tool
        self.tree = tree
        self.cluster_path = norm_path(cluster_path)
        self.default_namespace = default_namespace
        self.options = options
        self.source_options = source_options
        self.repo_url = norm_url(repo_url) if repo_url else ""
        self.mounts = mounts or Mounts(tree, None, repo_url, (), source_options)
        self.audited_ref = audited_ref
        self.lookup = cluster_lookup
        self.state = RenderState()
        self.copied_sources: dict[str, str] = {}
        self.artifacts: dict[str, tuple[str | None, str]] = {}
        """``ExternalArtifact/ns/name`` → (tree-relative directory, "") or (None, why not)."""
        self.artifact_origins: dict[str, dict[str, str]] = {}
        """Artifact directory → {artifact-relative path: tree path of the original file}."""
        self.lock = threading.RLock()
        name = posixpath.basename(self.cluster_path)
        override = options.overrides.get(name) or options.overrides.get(self.cluster_path)
        self.source_paths = {**options.source_paths, **(override.source_paths if override else {})}
        if options.kustomize_helm:
            helm = helmmod.find_helm(options.helm_path)
            extra: tuple[str, ...] = ("--enable-helm",)
            if helm is not None:
                extra += ("--helm-command", helm.path)
            self.tool = replace(tool, argv=(*tool.argv, *extra))
        self._helm: helmmod.HelmTool | bool | None = False  # False = not looked up yet

    # ---- sources -------------------------------------------------------------------------------

    def _root_ref(self) -> RefSpec | None:
        """The ref of the GitRepository the cluster directory is synced from (flux-system), when in git."""
        for ident in self.options.repo_sources:
            kind, ns, name = [*ident.split("/"), "", ""][:3]
            obj = self.state.sources.get((kind, ns, name))
            if obj is not None:
                return RefSpec.from_flux((obj.get("spec") or {}).get("ref"))
        return None

    def _is_audited_ref(self, spec: RefSpec) -> bool:
        """True when a GitRepository ref stands for the audited commit (the root source's ref, or the audited ref)."""
        root = self._root_ref()
        if root is not None:
            return spec == root
        if spec == RefSpec.from_flux(None):
            return True  # no ref given and the root source is not in git: the audited commit stands for it
        names = {self.audited_ref, self.audited_ref.removeprefix("refs/heads/"),
                 self.audited_ref.removeprefix("refs/tags/")} - {""}
        return bool(names & {spec.branch, spec.tag, spec.name, spec.commit} - {""})

    def _is_repo_source(self, kind: str, namespace: str, name: str) -> bool:
        if f"{kind}/{namespace}/{name}" in self.options.repo_sources:
            return True
        if kind != "GitRepository":
            return False
        obj = self.state.sources.get((kind, namespace, name))
        spec = (obj or {}).get("spec") or {}
        url = str(spec.get("url") or "")
        own = bool(url) and (self.mounts.is_own(url) or (bool(self.repo_url) and norm_url(url) == self.repo_url))
        return own and self._is_audited_ref(RefSpec.from_flux(spec.get("ref")))

    def _source_root(self, ref: Mapping[str, Any], default_ns: str) -> tuple[str | None, str]:
        """(tree-relative root of the source, "") or (None, why it cannot be rendered)."""
        kind = str(ref.get("kind") or "GitRepository")
        name = str(ref.get("name") or "")
        namespace = str(ref.get("namespace") or default_ns)
        ident = f"{kind}/{namespace}/{name}"
        with self.lock:
            if self._is_repo_source(kind, namespace, name):
                return "", ""
            local = self.source_paths.get(ident)
            if local:
                return self._copy_local(ident, local)
            if kind == "GitRepository":
                return self._git_source(ident, namespace, name)
            if kind == "ExternalArtifact":
                return self._artifact(namespace, name, set())
        return None, f"external source {ident}, not rendered (map it in flux.source_paths to render it)"

    def _copy_local(self, ident: str, local: str) -> tuple[str | None, str]:
        if ident not in self.copied_sources:
            src = Path(local)
            if not src.is_dir():
                return None, f"source {ident} is mapped to {local}, which is not a directory"
            # A private copy per render: targets render concurrently from the same tree.
            parent = self.tree.root / _SOURCES_DIR
            parent.mkdir(exist_ok=True)
            dest = Path(tempfile.mkdtemp(prefix=_TARGET_NAME_RE.sub("-", ident) + "-", dir=parent))
            shutil.copytree(src, dest, symlinks=False, ignore=shutil.ignore_patterns(".git"), dirs_exist_ok=True)
            self.copied_sources[ident] = dest.relative_to(self.tree.root).as_posix()
        return self.copied_sources[ident], ""

    def _git_source(self, ident: str, namespace: str, name: str) -> tuple[str | None, str]:
        """A GitRepository read at its own ref: another branch/tag of the audited repository or an allowed one."""
        obj = self.state.sources.get(("GitRepository", namespace, name))
        if obj is None:
            return None, (f"source {ident} is not defined in git, not rendered "
                          "(map it in flux.source_paths to render it)")
        spec = obj.get("spec") or {}
        url = str(spec.get("url") or "")
        try:
            mount = self.mounts.mount(url, RefSpec.from_flux(spec.get("ref")))
        except Unavailable as exc:
            return None, f"source {ident}: {exc}; not rendered"
        return mount.rel, ""

    def _artifact(self, namespace: str, name: str, seen: set[str]) -> tuple[str | None, str]:
        """The content of an ExternalArtifact made by an ArtifactGenerator of this cluster (built once)."""
        ident = f"ExternalArtifact/{namespace}/{name}"
        if ident in self.artifacts:
            return self.artifacts[ident]
        if ident in seen:
            return None, f"{ident}: ArtifactGenerator sources form a cycle"
        found = self.state.generators.get((namespace, name))
        if found is None:
            return None, (f"{ident} is not produced by an ArtifactGenerator of this cluster, not rendered "
                          "(map it in flux.source_paths to render it)")
        gen, spec = found
        gen_ns = str((gen.get("metadata") or {}).get("namespace") or namespace)
        roots: dict[str, str] = {}
        for src in (gen.get("spec") or {}).get("sources") or []:
            if not isinstance(src, dict):
                continue
            kind = str(src.get("kind") or "")
            ref = {"kind": kind, "name": src.get("name"), "namespace": src.get("namespace") or gen_ns}
            if kind == "ExternalArtifact":
                root, why = self._artifact(str(ref["namespace"]), str(ref["name"] or ""), seen | {ident})
            else:
                root, why = self._source_root(ref, gen_ns)
            if root is None:
                result: tuple[str | None, str] = (None, f"{ident} (ArtifactGenerator {gen_ns}/"
                                                        f"{(gen.get('metadata') or {}).get('name')}): {why}")
                self.artifacts[ident] = result
                return result
            roots[str(src.get("alias") or "")] = root
        parent = self.tree.root / _ARTIFACTS_DIR
        parent.mkdir(exist_ok=True)
        dest = Path(tempfile.mkdtemp(prefix=_TARGET_NAME_RE.sub("-", f"{namespace}-{name}") + "-", dir=parent))
        root_real = os.path.realpath(self.tree.root)

        def inside(p: Path) -> bool:
            real = os.path.realpath(p)
            return real == root_real or real.startswith(root_real + os.sep)

        try:
            staged = build_artifact(spec, roots, self.tree.root, dest, inside)
        except (ArtifactError, OSError) as exc:
            shutil.rmtree(dest, ignore_errors=True)
            result = (None, f"{ident}: {exc}; not rendered")
            self.artifacts[ident] = result
            return result
        rel = dest.relative_to(self.tree.root).as_posix()
        for kfile in dest.rglob("*"):
            if kfile.name in KUSTOMIZATION_FILES and kfile.is_file():
                inject_build_metadata(kfile)
        self.artifact_origins[rel] = staged.origins
        self.artifacts[ident] = (rel, "")
        return rel, ""

    def _source_pending(self, ks: FluxKs) -> bool:
        """True while a Kustomization's ExternalArtifact has no generator yet (one may still be rendered)."""
        ref = ks.spec.get("sourceRef") or {}
        if str(ref.get("kind") or "") != "ExternalArtifact":
            return False
        ns = str(ref.get("namespace") or ks.namespace)
        ident = f"ExternalArtifact/{ns}/{ref.get('name')}"
        return (ns, str(ref.get("name") or "")) not in self.state.generators and ident not in self.source_paths

    def _display_path(self, path: str) -> str:
        """Repository path, or ``Kind/ns/name//path`` for content of a mapped external source."""
        return self._origin(path)[0]

    def _origin(self, path: str) -> tuple[str, str]:
        """(path as shown, FileProvenance.repo) of a tree path: artifacts, other revisions and mapped sources."""
        for rel, origins in self.artifact_origins.items():
            if path.startswith(rel + "/"):
                origin = origins.get(path[len(rel) + 1:])
                if origin is None:
                    return f"ExternalArtifact//{path[len(rel) + 1:]}", ""
                path = origin
                break
        for ident, rel in self.copied_sources.items():
            if path == rel or path.startswith(rel + "/"):
                return f"{ident}//{path[len(rel):].lstrip('/')}", ""
        return self.mounts.original(path)

    # ---- one Kustomization -----------------------------------------------------------------------

    def build(self, ks: FluxKs) -> list[Manifest]:
        """Render one Flux Kustomization: kustomize, commonMetadata, substitution, Flux labels."""
        return self._finish(ks, *self._kustomize(ks))

    def _kustomize(self, ks: FluxKs) -> tuple[RenderedSet, fk.BuildDir]:
        """The kustomize half of :meth:`build`: independent of other Kustomizations, safe to run in threads."""
        action = f"render Kustomization {ks.key}"
        spec = ks.spec
        if spec.get("kubeConfig"):
            raise NotRendered("applies to another cluster (spec.kubeConfig): not part of this cluster's desired state")
        root, why = self._source_root(spec.get("sourceRef") or {}, ks.namespace)
        if root is None:
            raise NotRendered(why)
        try:
            sub = norm_path(spec.get("path"))
        except RenderError as exc:
            raise RenderError(f"{action}: {exc}") from None
        path = posixpath.join(root, sub) if root and sub else (root or sub)
        key = _build_key(self.tree, self.tool, path, spec, self.default_namespace)
        cached = _BUILDS.get(key)
        if cached is not None:
            return cached
        build = fk.prepare_build_dir(self.tree.root, path, spec, action=action)
        try:
            rs = render_overlay(self.tool, self.tree, build.rel, default_namespace=self.default_namespace,
                                options=self.source_options)
        except (RenderError, ToolError) as exc:
            msg = str(exc).replace(build.rel, path or ".")
            raise RenderError(msg if msg.startswith(action) else f"{action}: {msg}") from None
        finally:
            fk.remove_build_dir(self.tree.root, build)
        if not path.startswith((_SOURCES_DIR, _ARTIFACTS_DIR)) and not self.tree.worktree:
            _BUILDS.put(key, (rs, build))
        return rs, build

    def _finish(self, ks: FluxKs, rs: RenderedSet, build: fk.BuildDir) -> list[Manifest]:
        """The Flux half of :meth:`build` (reads variables rendered so far: run in dependsOn order)."""
        action = f"render Kustomization {ks.key}"
        spec = ks.spec
        variables = self._variables(ks)
        common = spec.get("commonMetadata") or {}
        out: list[Manifest] = []
        for m in rs.objects:
            files = [replace(f, path=shown, repo=repo) for f in m.provenance.files
                     if (p := fk.map_path(f.path, build)) is not None for shown, repo in [self._origin(p)]]
            for f in ks.files:
                if not any(x.path == f.path for x in files):
                    files.append(replace(f, role="config"))
            body = _with_common_metadata(m.body, common)
            if spec.get("postBuild") is not None:
                try:
                    body = substitute_object(body, variables, strict=self.options.strict_substitution,
                                             where=f"{ks.key} {m.ref.subject}")
                except SubstitutionError as exc:
                    raise RenderError(f"{action}: {exc}") from None
            body = _stamp_owner(body, ks)
            body = drift_markers(body, ks.key, bool(ks.spec.get("suspend")))
            marked = DRIFT_ANNOTATION in (body["metadata"].get("annotations") or {})
            if isinstance(body.get("sops"), dict) and not marked:
                # SOPS-encrypted in git: kustomize-controller decrypts it, we cannot. Its existence is
                # audited, its values are not (they would all differ); the sops metadata is never applied.
                body = mark({k: v for k, v in body.items() if k != "sops"}, "if-not-present",
                            "SOPS-encrypted in git: values are not compared")
            out.append(remake(m, body, tuple(files), self.default_namespace))
        return out

    def _variables(self, ks: FluxKs) -> dict[str, str]:
        """``postBuild.substituteFrom`` (in order, later wins) overlaid by ``postBuild.substitute``."""
        post = ks.spec.get("postBuild") or {}
        variables: dict[str, str] = {}
        for ref in post.get("substituteFrom") or []:
            if not isinstance(ref, dict):
                continue
            kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
            data = self._lookup(kind, ks.namespace, name)
            if data is None:
                if not ref.get("optional"):
                    self.state.gaps.append(CoverageGap(KS_GROUP_KIND, ks.namespace,
                                                       f"{ks.name}: substituteFrom {kind}/{name} not found in git"
                                                       " (variables from it are unset)", name=ks.name))
                continue
            check_names(data, f"{kind}/{ks.namespace}/{name}")
            variables.update(data)
        inline = {str(k): str(v) for k, v in (post.get("substitute") or {}).items()}
        check_names(inline, f"Kustomization {ks.key} postBuild.substitute")
        variables.update(inline)
        return variables

    def _lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        body = self.state.values.get((kind, namespace, name))
        if body is None and self.options.allow_cluster_substitution and self.lookup is not None:
            body = self.lookup(kind, namespace, name)
        if body is None:
            return None
        return data_of(kind, body)

    # ---- the cluster ---------------------------------------------------------------------------

    def run(self) -> RenderedSet:
        """Render the cluster directory and everything it applies."""
        root_name = self.options.root_name
        root = FluxKs(root_name, root_name, {"path": self.cluster_path, "prune": True,
                                          "sourceRef": {"kind": "GitRepository", "name": root_name,
                                                        "namespace": root_name}})
        objs = self._build_root(root)
        self_ref = self._self_reference(objs)
        if self_ref is not None:
            rebuild = self_ref.key != root.key or _ks_spec_has_build_settings(self_ref.spec)
            root = self_ref
            if rebuild:  # its settings and its name (ownership labels) decide the cluster directory's render
                objs = self._build_root(root)
        pending: dict[str, FluxKs] = {}
        self._add(objs, root, pending, {root.key})
        done: set[str] = {root.key}
        failed: set[str] = set()
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.options.render_workers)) as pool:
                self._walk(pending, done, failed, pool)
            self._render_releases()
        finally:
            for rel in (*self.copied_sources.values(), *self.artifact_origins):
                shutil.rmtree(self.tree.root.joinpath(*rel.split("/")), ignore_errors=True)
        return RenderedSet(path=self.cluster_path, commit=self.tree.commit, objects=tuple(self.state.objects),
                           tree_hash="", gaps=tuple(self.state.gaps), sources=self.mounts.revisions())

    def _walk(self, pending: dict[str, FluxKs], done: set[str], failed: set[str], pool: ThreadPoolExecutor) -> None:
        """Render pending Kustomizations wave by wave in dependsOn order (new ones join as they are found)."""
        while pending:
            ready = [k for k in sorted(pending) if all(d in done or d in failed for d in _deps(pending[k]))]
            waiting = [k for k in ready if self._source_pending(pending[k])]
            if len(waiting) < len(ready):
                ready = [k for k in ready if k not in waiting]  # an ArtifactGenerator may still appear
            if not ready:
                known = set(pending) | done | failed
                ready = [k for k in sorted(pending)
                         if all(d in done or d in failed or d not in known for d in _deps(pending[k]))]
            if not ready:
                self._report_cycle(pending)
                break
            # kustomize runs in parallel for a wave of ready Kustomizations; the Flux half (substitution
            # reads ConfigMaps rendered so far) runs in a fixed order, so the result does not depend on timing.
            futures = {key: pool.submit(self._kustomize, pending[key]) for key in ready}
            for key in ready:
                ks = pending.pop(key)
                self._note_dependencies(ks, done, failed)
                try:
                    rendered = self._finish(ks, *futures[key].result())
                except NotRendered as exc:
                    self.state.gaps.append(CoverageGap(KS_GROUP_KIND, ks.namespace, f"{ks.name}: {exc}", name=ks.name))
                    failed.add(key)
                    continue
                except (RenderError, SourceError, OSError) as exc:
                    self.state.gaps.append(CoverageGap(KS_GROUP_KIND, ks.namespace,
                                                       f"{ks.name}: render failed: {exc}", name=ks.name))
                    failed.add(key)
                    continue
                if ks.spec.get("suspend"):
                    self.state.gaps.append(CoverageGap(
                        KS_GROUP_KIND, ks.namespace,
                        f"{ks.name} is suspended (spec.suspend): Flux does not reconcile it, its drift is not counted",
                        name=ks.name, informational=True))
                self._add(rendered, ks, pending, done | failed | {key})
                done.add(key)

    def _build_root(self, root: FluxKs) -> list[Manifest]:
        try:
            return self.build(root)
        except NotRendered as exc:
            raise RenderError(f"render {self.cluster_path}: {exc}") from None

    def _self_reference(self, objs: Iterable[Manifest]) -> FluxKs | None:
        """The Kustomization in the cluster directory that applies the directory itself (``flux-system``)."""
        for m in objs:
            if is_kind(m, SOURCE_GROUP, "GitRepository"):
                self.state.sources[("GitRepository", m.ref.namespace, m.ref.name)] = m.body
        for m in objs:
            if not is_kind(m, KS_GROUP, "Kustomization"):
                continue
            spec = m.body.get("spec") or {}
            ref = spec.get("sourceRef") or {}
            try:
                same_path = norm_path(spec.get("path")) == self.cluster_path
            except RenderError:
                continue
            kind = str(ref.get("kind") or "GitRepository")
            ns = str(ref.get("namespace") or m.ref.namespace)
            if same_path and self._is_repo_source(kind, ns, str(ref.get("name") or "")):
                return FluxKs(m.ref.namespace, m.ref.name, spec, m.provenance.files)
        return None

    def _add(self, objs: list[Manifest], ks: FluxKs, pending: dict[str, FluxKs], skip: set[str]) -> None:
        st = self.state
        for m in objs:
            if m.ref in st.index:
                st.gaps.append(CoverageGap(m.ref.group_kind, m.ref.namespace,
                                           f"{m.ref.name} is applied by both Kustomization {st.owner[m.ref]} and "
                                           f"{ks.key}; the first one is audited", name=m.ref.name, informational=True))
                continue
            st.index[m.ref] = len(st.objects)
            st.owner[m.ref] = ks.key
            st.objects.append(m)
            if m.ref.group == "" and m.ref.kind in ("ConfigMap", "Secret"):
                st.values[(m.ref.kind, m.ref.namespace, m.ref.name)] = m.body
            elif m.ref.group == SOURCE_GROUP:
                st.sources[(m.ref.kind, m.ref.namespace, m.ref.name)] = m.body
            elif is_kind(m, GENERATOR_GROUP, "ArtifactGenerator"):
                for art in (m.body.get("spec") or {}).get("artifacts") or []:
                    if isinstance(art, dict) and art.get("name"):
                        st.generators.setdefault((m.ref.namespace, str(art["name"])), (m.body, art))
            elif is_kind(m, HELM_GROUP, "HelmRelease"):
                st.releases.append((m.ref, ks.key))
            elif is_kind(m, KS_GROUP, "Kustomization"):
                child = FluxKs(m.ref.namespace, m.ref.name, m.body.get("spec") or {}, m.provenance.files, ks.key)
                if child.key in skip or child.key in pending:
                    continue
                pending[child.key] = child

    def _note_dependencies(self, ks: FluxKs, done: set[str], failed: set[str]) -> None:
        for dep in _deps(ks):
            if dep in failed:
                why = "was not rendered"
            elif dep not in done:
                why = "is not a Kustomization of this cluster"
            else:
                continue
            self.state.gaps.append(CoverageGap(KS_GROUP_KIND, ks.namespace,
                                               f"{ks.name}: dependsOn {dep}, which {why}: Flux would hold "
                                               f"{ks.name} back until it is ready", name=ks.name, informational=True))

    def _report_cycle(self, pending: dict[str, FluxKs]) -> None:
        cycle = _find_cycle(pending)
        members = set(cycle)
        text = " -> ".join([*cycle, cycle[0]]) if cycle else ""
        for key in sorted(pending):
            ks = pending[key]
            why = (f"dependsOn cycle {text}: Flux never applies it" if key in members
                   else "depends on a Kustomization in a dependsOn cycle: Flux never applies it")
            self.state.gaps.append(CoverageGap(KS_GROUP_KIND, ks.namespace, f"{ks.name}: {why}; not rendered",
                                               name=ks.name))

    # ---- Helm ----------------------------------------------------------------------------------

def _deps(ks: FluxKs) -> list[str]:
    out = []
    for d in ks.spec.get("dependsOn") or []:
        if isinstance(d, dict) and d.get("name"):
            out.append(f"{d.get('namespace') or ks.namespace}/{d['name']}")
    return out


def _find_cycle(pending: Mapping[str, FluxKs]) -> list[str]:
    """One dependsOn cycle among ``pending`` (keys in order), or [] when blocked without a cycle."""
    color: dict[str, int] = {}
    stack: list[str] = []

    def visit(k: str) -> list[str]:
        color[k] = 1
        stack.append(k)
        for d in _deps(pending[k]):
            if d not in pending:
                continue
            if color.get(d) == 1:
                return stack[stack.index(d):]
            if not color.get(d):
                found = visit(d)
                if found:
                    return found
        stack.pop()
        color[k] = 2
        return []

    for k in sorted(pending):
        if not color.get(k):
            found = visit(k)
            if found:
                return found
    return []


def _with_common_metadata(body: Mapping[str, Any], common: Mapping[str, Any]) -> dict[str, Any]:
    labels = common.get("labels") or {}
    annotations = common.get("annotations") or {}
    if not labels and not annotations:
        return dict(body)
    out = copy.deepcopy(dict(body))
    meta = out.setdefault("metadata", {})
    if labels:
        meta["labels"] = {**(meta.get("labels") or {}), **{str(k): str(v) for k, v in labels.items()}}
    if annotations:
        meta["annotations"] = {**(meta.get("annotations") or {}), **{str(k): str(v) for k, v in annotations.items()}}
    return out


def _stamp_owner(body: Mapping[str, Any], ks: FluxKs) -> dict[str, Any]:
    out = dict(body)
    meta = dict(out.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), NAME_LABEL: ks.name, NAMESPACE_LABEL: ks.namespace}
    out["metadata"] = meta
    return out


def render_flux_target(
    tool: KustomizeTool,
    tree: PreparedTree,
    cluster_path: str,
    *,
    default_namespace: str,
    options: FluxOptions,
    source_options: SourceOptions,
    repo_url: str,
    cluster_lookup: ClusterLookup | None = None,
    mounts: Mounts | None = None,
    audited_ref: str = "",
) -> RenderedSet:
    """Everything the Flux Kustomizations of one cluster directory apply, plus those Kustomizations.

    Objects carry Flux's ownership labels and the drift markers described in the module docstring;
    ``gaps`` lists what was not rendered (external sources, remote charts, suspended or cyclic
    Kustomizations, per-Kustomization failures). Raises :class:`RenderError` only when the cluster
    directory itself cannot be built.
    """
    renderer = _FluxRenderer(tool, tree, cluster_path, default_namespace, options, source_options, repo_url,
                             cluster_lookup, mounts, audited_ref)
    return renderer.run()
