"""Flux-style fleets: discover one target per cluster directory and render it like kustomize-controller.

A cluster directory (``clusters/production``) is what the cluster's root Flux Kustomization
(``flux-system``) applies. Rendering a cluster means: build that directory, find the Flux
``Kustomization`` objects (``kustomize.toolkit.fluxcd.io`` v1/v1beta2) it holds, render each from its
source (see :mod:`auditor.source.flux_kustomize`), recursively for nested Kustomizations, in
``dependsOn`` order; then substitute ``postBuild`` variables and stamp Flux's ownership labels.
``HelmRelease`` objects whose chart is on disk are rendered with ``helm template``
(:mod:`auditor.source.helm`).

What could not be rendered is a :class:`~auditor.model.CoverageGap`, never an exception (external
sources, remote charts, dependency cycles, render failures of one Kustomization); only a failure to
build the cluster directory itself raises :class:`~auditor.errors.RenderError`.

Flux's own semantics that drift must honour (suspend, ``reconcile: disabled``, ``ssa``) and Helm
releases that were not rendered are written as marker annotations into desired bodies; see
:mod:`auditor.source.flux_markers` and :func:`split_markers`, which takes them out again for the pipeline.
``spec.prune`` needs no marker: it is on the desired Flux Kustomization object named by an orphan's
``kustomize.toolkit.fluxcd.io/name``/``namespace`` labels (``prune: false``: a stale object is expected to stay).
Target discovery lives in :mod:`auditor.source.flux_discovery` (re-exported here).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import posixpath
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import RenderError, SourceError, ToolError
from auditor.model import (
    CoverageGap,
    FileProvenance,
    Manifest,
    ObjectRef,
    Provenance,
    RenderedSet,
    split_api_version,
)
from auditor.source import flux_kustomize as fk
from auditor.source import helm as helmmod
from auditor.source.flux_discovery import discover_targets, is_flux_target
from auditor.source.flux_markers import (
    DRIFT_ANNOTATION,
    DRIFT_REASON_ANNOTATION,
    HELM_GROUP,
    HELM_RELEASE_ANNOTATION,
    HELM_STATE_ANNOTATION,
    HR_GROUP_KIND,
    KS_GROUP,
    KS_GROUP_KIND,
    NAME_LABEL,
    NAMESPACE_LABEL,
    SOURCE_GROUP,
    DriftMarker,
    UnrenderedRelease,
    drift_markers,
    mark,
    split_markers,
    unpruned_kustomizations,
)
from auditor.source.flux_options import FluxOptions
from auditor.source.options import SourceOptions
from auditor.source.render import PreparedTree, render_overlay
from auditor.source.substitute import SubstitutionError, check_names, substitute_object
from auditor.source.tools import KustomizeTool
from auditor.util import yamlio
from auditor.util.kinds import is_namespaced

_TARGET_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")
_SOURCES_DIR = ".gitops-audit-flux-sources"

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


@dataclass
class _Ks:
    """One Flux Kustomization found in the cluster."""

    namespace: str
    name: str
    spec: Mapping[str, Any]
    files: tuple[FileProvenance, ...] = ()
    """Where the Kustomization object itself is defined."""
    parent: str = ""

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


@dataclass
class _State:
    objects: list[Manifest] = field(default_factory=list)
    index: dict[ObjectRef, int] = field(default_factory=dict)
    owner: dict[ObjectRef, str] = field(default_factory=dict)
    gaps: list[CoverageGap] = field(default_factory=list)
    values: dict[tuple[str, str, str], Mapping[str, Any]] = field(default_factory=dict)
    """(kind, namespace, name) of rendered ConfigMaps/Secrets → body (for substituteFrom/valuesFrom)."""
    sources: dict[tuple[str, str, str], Mapping[str, Any]] = field(default_factory=dict)
    releases: list[tuple[ObjectRef, str]] = field(default_factory=list)
    """HelmReleases found, with the Kustomization that applied them."""


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


def _norm_path(path: Any) -> str:
    p = str(path or "").replace("\\", "/").strip()
    norm = posixpath.normpath(p.lstrip("/")) if p.strip("./") else "."
    if norm == ".." or norm.startswith("../"):
        raise RenderError(f"path {p!r} leaves the source")
    return "" if norm == "." else norm


def _norm_url(url: str) -> str:
    """``ssh://git@host/org/repo.git`` and ``https://host/org/repo`` compare equal."""
    u = url.strip().lower()
    u = re.sub(r"^[a-z+]+://", "", u)
    u = re.sub(r"^[^@/]+@", "", u)
    u = re.sub(r"^([^/:]+):(?!\d)", r"\1/", u)  # scp-like git@host:org/repo
    u = re.sub(r":\d+/", "/", u)
    return u.removesuffix("/").removesuffix(".git")


def _ks_spec_has_build_settings(spec: Mapping[str, Any]) -> bool:
    keys = ("targetNamespace", "namePrefix", "nameSuffix", "patches", "images", "components",
            "commonMetadata", "postBuild", "patchesStrategicMerge", "patchesJson6902")
    return any(spec.get(k) for k in keys)


def _is_kind(m: Manifest, group: str, kind: str) -> bool:
    return m.ref.group == group and m.ref.kind == kind


class _FluxRenderer:
    """Renders one cluster directory; holds the per-cluster state while it does."""

    def __init__(self, tool: KustomizeTool, tree: PreparedTree, cluster_path: str, default_namespace: str,
                 options: FluxOptions, source_options: SourceOptions, repo_url: str,
                 cluster_lookup: ClusterLookup | None) -> None:
        self.tool = tool
        self.tree = tree
        self.cluster_path = _norm_path(cluster_path)
        self.default_namespace = default_namespace
        self.options = options
        self.source_options = source_options
        self.repo_url = _norm_url(repo_url) if repo_url else ""
        self.lookup = cluster_lookup
        self.state = _State()
        self.copied_sources: dict[str, str] = {}
        self.lock = threading.Lock()
        if options.kustomize_helm:
            helm = helmmod.find_helm(options.helm_path)
            extra: tuple[str, ...] = ("--enable-helm",)
            if helm is not None:
                extra += ("--helm-command", helm.path)
            self.tool = replace(tool, argv=(*tool.argv, *extra))
        self._helm: helmmod.HelmTool | bool | None = False  # False = not looked up yet

    # ---- sources -------------------------------------------------------------------------------

    def _is_repo_source(self, kind: str, namespace: str, name: str) -> bool:
        if f"{kind}/{namespace}/{name}" in self.options.repo_sources:
            return True
        if kind != "GitRepository" or not self.repo_url:
            return False
        obj = self.state.sources.get((kind, namespace, name))
        url = str(((obj or {}).get("spec") or {}).get("url") or "")
        return bool(url) and _norm_url(url) == self.repo_url

    def _source_root(self, ref: Mapping[str, Any], default_ns: str) -> tuple[str | None, str]:
        """(tree-relative root of the source, "") or (None, why it cannot be rendered)."""
        kind = str(ref.get("kind") or "GitRepository")
        name = str(ref.get("name") or "")
        namespace = str(ref.get("namespace") or default_ns)
        ident = f"{kind}/{namespace}/{name}"
        if self._is_repo_source(kind, namespace, name):
            return "", ""
        local = self.options.source_paths.get(ident)
        if local:
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
        return None, f"external source {ident}, not rendered (map it in flux.source_paths to render it)"

    def _display_path(self, path: str) -> str:
        """Repository path, or ``Kind/ns/name//path`` for content of a mapped external source."""
        for ident, rel in self.copied_sources.items():
            if path == rel or path.startswith(rel + "/"):
                return f"{ident}//{path[len(rel):].lstrip('/')}"
        return path

    # ---- one Kustomization -----------------------------------------------------------------------

    def build(self, ks: _Ks) -> list[Manifest]:
        """Render one Flux Kustomization: kustomize, commonMetadata, substitution, Flux labels."""
        return self._finish(ks, *self._kustomize(ks))

    def _kustomize(self, ks: _Ks) -> tuple[RenderedSet, fk.BuildDir]:
        """The kustomize half of :meth:`build`: independent of other Kustomizations, safe to run in threads."""
        action = f"render Kustomization {ks.key}"
        spec = ks.spec
        if spec.get("kubeConfig"):
            raise _NotRendered("applies to another cluster (spec.kubeConfig): not part of this cluster's desired state")
        with self.lock:
            root, why = self._source_root(spec.get("sourceRef") or {}, ks.namespace)
        if root is None:
            raise _NotRendered(why)
        try:
            sub = _norm_path(spec.get("path"))
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
        if not path.startswith(_SOURCES_DIR) and not self.tree.worktree:
            _BUILDS.put(key, (rs, build))
        return rs, build

    def _finish(self, ks: _Ks, rs: RenderedSet, build: fk.BuildDir) -> list[Manifest]:
        """The Flux half of :meth:`build` (reads variables rendered so far: run in dependsOn order)."""
        action = f"render Kustomization {ks.key}"
        spec = ks.spec
        variables = self._variables(ks)
        common = spec.get("commonMetadata") or {}
        out: list[Manifest] = []
        for m in rs.objects:
            files = [replace(f, path=self._display_path(p)) for f in m.provenance.files
                     if (p := fk.map_path(f.path, build)) is not None]
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
            out.append(_remake(m, body, tuple(files), self.default_namespace))
        return out

    def _variables(self, ks: _Ks) -> dict[str, str]:
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
                                                       " (variables from it are unset)"))
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
        return _data_of(kind, body)

    # ---- the cluster ---------------------------------------------------------------------------

    def run(self) -> RenderedSet:
        """Render the cluster directory and everything it applies."""
        root_name = self.options.root_name
        root = _Ks(root_name, root_name, {"path": self.cluster_path, "prune": True,
                                          "sourceRef": {"kind": "GitRepository", "name": root_name,
                                                        "namespace": root_name}})
        objs = self._build_root(root)
        self_ref = self._self_reference(objs)
        if self_ref is not None:
            rebuild = self_ref.key != root.key or _ks_spec_has_build_settings(self_ref.spec)
            root = self_ref
            if rebuild:  # its settings and its name (ownership labels) decide the cluster directory's render
                objs = self._build_root(root)
        pending: dict[str, _Ks] = {}
        self._add(objs, root, pending, {root.key})
        done: set[str] = {root.key}
        failed: set[str] = set()
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.options.render_workers)) as pool:
                self._walk(pending, done, failed, pool)
            self._render_releases()
        finally:
            for rel in self.copied_sources.values():
                shutil.rmtree(self.tree.root.joinpath(*rel.split("/")), ignore_errors=True)
        return RenderedSet(path=self.cluster_path, commit=self.tree.commit, objects=tuple(self.state.objects),
                           tree_hash="", gaps=tuple(self.state.gaps))

    def _walk(self, pending: dict[str, _Ks], done: set[str], failed: set[str], pool: ThreadPoolExecutor) -> None:
        """Render pending Kustomizations wave by wave in dependsOn order (new ones join as they are found)."""
        while pending:
            ready = [k for k in sorted(pending) if all(d in done or d in failed for d in _deps(pending[k]))]
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
                except _NotRendered as exc:
                    self.state.gaps.append(CoverageGap(KS_GROUP_KIND, ks.namespace, f"{ks.name}: {exc}"))
                    failed.add(key)
                    continue
                except (RenderError, SourceError, OSError) as exc:
                    self.state.gaps.append(CoverageGap(KS_GROUP_KIND, ks.namespace,
                                                       f"{ks.name}: render failed: {exc}"))
                    failed.add(key)
                    continue
                if ks.spec.get("suspend"):
                    self.state.gaps.append(CoverageGap(
                        KS_GROUP_KIND, ks.namespace,
                        f"{ks.name} is suspended (spec.suspend): Flux does not reconcile it, its drift is not counted"))
                self._add(rendered, ks, pending, done | failed | {key})
                done.add(key)

    def _build_root(self, root: _Ks) -> list[Manifest]:
        try:
            return self.build(root)
        except _NotRendered as exc:
            raise RenderError(f"render {self.cluster_path}: {exc}") from None

    def _self_reference(self, objs: Iterable[Manifest]) -> _Ks | None:
        """The Kustomization in the cluster directory that applies the directory itself (``flux-system``)."""
        for m in objs:
            if _is_kind(m, SOURCE_GROUP, "GitRepository"):
                self.state.sources[("GitRepository", m.ref.namespace, m.ref.name)] = m.body
        for m in objs:
            if not _is_kind(m, KS_GROUP, "Kustomization"):
                continue
            spec = m.body.get("spec") or {}
            ref = spec.get("sourceRef") or {}
            try:
                same_path = _norm_path(spec.get("path")) == self.cluster_path
            except RenderError:
                continue
            kind = str(ref.get("kind") or "GitRepository")
            ns = str(ref.get("namespace") or m.ref.namespace)
            if same_path and self._is_repo_source(kind, ns, str(ref.get("name") or "")):
                return _Ks(m.ref.namespace, m.ref.name, spec, m.provenance.files)
        return None

    def _add(self, objs: list[Manifest], ks: _Ks, pending: dict[str, _Ks], skip: set[str]) -> None:
        st = self.state
        for m in objs:
            if m.ref in st.index:
                st.gaps.append(CoverageGap(m.ref.group_kind, m.ref.namespace,
                                           f"{m.ref.name} is applied by both Kustomization {st.owner[m.ref]} and "
                                           f"{ks.key}; the first one is audited"))
                continue
            st.index[m.ref] = len(st.objects)
            st.owner[m.ref] = ks.key
            st.objects.append(m)
            if m.ref.group == "" and m.ref.kind in ("ConfigMap", "Secret"):
                st.values[(m.ref.kind, m.ref.namespace, m.ref.name)] = m.body
            elif m.ref.group == SOURCE_GROUP:
                st.sources[(m.ref.kind, m.ref.namespace, m.ref.name)] = m.body
            elif _is_kind(m, HELM_GROUP, "HelmRelease"):
                st.releases.append((m.ref, ks.key))
            elif _is_kind(m, KS_GROUP, "Kustomization"):
                child = _Ks(m.ref.namespace, m.ref.name, m.body.get("spec") or {}, m.provenance.files, ks.key)
                if child.key in skip or child.key in pending:
                    continue
                pending[child.key] = child

    def _note_dependencies(self, ks: _Ks, done: set[str], failed: set[str]) -> None:
        for dep in _deps(ks):
            if dep in failed:
                why = "was not rendered"
            elif dep not in done:
                why = "is not a Kustomization of this cluster"
            else:
                continue
            self.state.gaps.append(CoverageGap(KS_GROUP_KIND, ks.namespace,
                                               f"{ks.name}: dependsOn {dep}, which {why}: Flux would hold "
                                               f"{ks.name} back until it is ready"))

    def _report_cycle(self, pending: dict[str, _Ks]) -> None:
        cycle = _find_cycle(pending)
        members = set(cycle)
        text = " -> ".join([*cycle, cycle[0]]) if cycle else ""
        for key in sorted(pending):
            ks = pending[key]
            why = (f"dependsOn cycle {text}: Flux never applies it" if key in members
                   else "depends on a Kustomization in a dependsOn cycle: Flux never applies it")
            self.state.gaps.append(CoverageGap(KS_GROUP_KIND, ks.namespace, f"{ks.name}: {why}; not rendered"))

    # ---- Helm ----------------------------------------------------------------------------------

    def _helm_tool(self) -> helmmod.HelmTool | None:
        if self._helm is False:
            try:
                self._helm = helmmod.find_helm(self.options.helm_path)
            except ToolError:
                self._helm = None
        return self._helm if isinstance(self._helm, helmmod.HelmTool) else None

    def _api_versions(self) -> tuple[str, ...]:
        """``group/version`` and ``group/version/Kind`` of everything the cluster's desired state defines."""
        apis: set[str] = set()
        for m in self.state.objects:
            apis.update((m.api_version, f"{m.api_version}/{m.ref.kind}"))
            if _is_kind(m, "apiextensions.k8s.io", "CustomResourceDefinition"):
                spec = m.body.get("spec") or {}
                kind = str((spec.get("names") or {}).get("kind") or "")
                for v in spec.get("versions") or []:
                    if isinstance(v, dict) and v.get("name") and spec.get("group"):
                        gv = f"{spec['group']}/{v['name']}"
                        apis.update((gv, f"{gv}/{kind}") if kind else (gv,))
        return tuple(sorted(apis))

    def _render_releases(self) -> None:
        api_versions = self._api_versions() if self.state.releases else ()
        for ref, owner in self.state.releases:
            idx = self.state.index[ref]
            hr = self.state.objects[idx]
            release = helmmod.release_name(hr.body)
            rel_ns = helmmod.release_namespace(hr.body)
            state, reason, rendered = "not-rendered", "", []
            try:
                chart, value_files, reason = self._chart(hr)
                if (hr.body.get("spec") or {}).get("kubeConfig"):
                    chart, reason = None, "installs into another cluster (spec.kubeConfig), not rendered"
                if chart is not None:
                    helm = self._helm_tool()
                    if helm is None:
                        reason = ("chart is local but helm was not found "
                                  "(install it with `gitops-audit tools install helm --dest DIR`)")
                    else:
                        values = self._release_values(hr)
                        objs = helmmod.render_chart(
                            helm, chart, release=release, namespace=rel_ns, values=values,
                            value_files=value_files, hr_name=ref.name, hr_namespace=ref.namespace,
                            timeout=self.options.helm_timeout, api_versions=api_versions,
                            kube_version=self.options.helm_kube_version)
                        objs = self._post_render(hr, _skip_crds(hr, objs), rel_ns)
                        rendered = self._helm_manifests(hr, objs, rel_ns, chart)
                        state = "rendered"
            except (RenderError, SourceError, OSError) as exc:
                reason = f"render failed: {exc}"
            if state != "rendered":
                self.state.gaps.append(CoverageGap(
                    HR_GROUP_KIND, ref.namespace,
                    f"{ref.name}: {reason}; live objects of release {rel_ns}/{release} are not reported as orphans"))
            elif hr.body.get("spec", {}).get("suspend"):
                self.state.gaps.append(CoverageGap(
                    HR_GROUP_KIND, ref.namespace,
                    f"{ref.name} is suspended (spec.suspend): Flux does not reconcile it, its drift is not counted"))
                rendered = [_remake(m, mark(m.body, "ignore", f"HelmRelease {ref.namespace}/{ref.name} is suspended"),
                                    m.provenance.files, rel_ns) for m in rendered]
            body = copy.deepcopy(dict(hr.body))
            ann = body.setdefault("metadata", {}).setdefault("annotations", {})
            ann[HELM_STATE_ANNOTATION] = state
            ann[HELM_RELEASE_ANNOTATION] = f"{rel_ns}/{release}"
            self.state.objects[idx] = replace(hr, body=body)
            ks = _Ks(ref.namespace, ref.name, {}, hr.provenance.files, owner)
            for m in rendered:
                self._add([m], ks, {}, set())

    def _post_render(self, hr: Manifest, objs: list[helmmod.HelmObject], namespace: str) -> list[helmmod.HelmObject]:
        """Apply ``spec.postRenderers[].kustomize`` (patches, images, v2beta1 patch fields) with kustomize."""
        renderers = [r["kustomize"] for r in (hr.body.get("spec") or {}).get("postRenderers") or []
                     if isinstance(r, dict) and isinstance(r.get("kustomize"), dict)]
        if not renderers:
            return objs
        templates = {(o.body.get("kind"), (o.body.get("metadata") or {}).get("name")): o.template for o in objs}
        bodies = [o.body for o in objs]
        for kz in renderers:
            work = Path(tempfile.mkdtemp(prefix=fk.WORK_PREFIX, dir=self.tree.root))
            try:
                (work / "release.yaml").write_text(yamlio.dump_all(bodies), encoding="utf-8")
                data: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                        "resources": ["release.yaml"]}
                fk.apply_spec(data, {k: v for k, v in kz.items()
                                     if k in ("patches", "images", "patchesStrategicMerge", "patchesJson6902")})
                (work / "kustomization.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
                rel = work.relative_to(self.tree.root).as_posix()
                try:
                    rs = render_overlay(self.tool, self.tree, rel, default_namespace=namespace,
                                        options=self.source_options)
                except (RenderError, ToolError) as exc:
                    raise RenderError(f"post-render HelmRelease {hr.ref.namespace}/{hr.ref.name}: "
                                      f"{str(exc).replace(rel, 'postRenderers')}") from None
                bodies = [dict(m.body) for m in rs.objects]
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return [helmmod.HelmObject(b, templates.get((b.get("kind"), (b.get("metadata") or {}).get("name")), ""))
                for b in bodies]

    def _chart(self, hr: Manifest) -> tuple[Path | None, tuple[Path, ...], str]:
        """The chart on disk for a HelmRelease, the chart's valuesFiles, or (None, (), why not)."""
        spec = hr.body.get("spec") or {}
        if spec.get("chartRef"):
            ref = spec["chartRef"]
            ident = f"{ref.get('kind')}/{ref.get('namespace') or hr.ref.namespace}/{ref.get('name')}"
            local = self.options.source_paths.get(ident)
            if local and Path(local, "Chart.yaml").is_file():
                return Path(local), (), ""
            return None, (), f"remote chart ({ident}), not rendered"
        cspec = ((spec.get("chart") or {}).get("spec") or {})
        chart_name = str(cspec.get("chart") or "")
        version = str(cspec.get("version") or "")
        sref = cspec.get("sourceRef") or {}
        kind = str(sref.get("kind") or "")
        sns = str(sref.get("namespace") or hr.ref.namespace)
        ident = f"{kind}/{sns}/{sref.get('name')}"
        if kind in ("GitRepository", "Bucket"):
            root, why = self._source_root(sref, hr.ref.namespace)
            if root is None:
                return None, (), why.replace("not rendered", "chart not rendered")
            rel = posixpath.join(root, _norm_path(chart_name)) if root else _norm_path(chart_name)
            chart = self.tree.root.joinpath(*rel.split("/"))
            if not (chart / "Chart.yaml").is_file():
                return None, (), f"chart {chart_name} not found in {ident}"
            vfiles = []
            for vf in cspec.get("valuesFiles") or []:
                p = self.tree.root.joinpath(*posixpath.join(root, _norm_path(vf)).split("/")) if root else \
                    self.tree.root.joinpath(*_norm_path(vf).split("/"))
                if p.is_file():
                    vfiles.append(p)
            return chart, tuple(vfiles), ""
        for d in self.options.helm_charts:
            base = Path(d)
            cand = base / chart_name
            if (cand / "Chart.yaml").is_file() and _version_ok(cand / "Chart.yaml", version):
                return cand, (), ""
            if version and (base / f"{chart_name}-{version}.tgz").is_file():
                return base / f"{chart_name}-{version}.tgz", (), ""
        shown = f"{chart_name}@{version}" if version else chart_name
        return None, (), f"remote chart {shown} from {ident}, not rendered (no local copy in flux.helm_charts)"

    def _release_values(self, hr: Manifest) -> dict[str, Any]:
        spec = hr.body.get("spec") or {}
        values: dict[str, Any] = {}
        for ref in spec.get("valuesFrom") or []:
            if not isinstance(ref, dict):
                continue
            kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
            data = self._lookup(kind, hr.ref.namespace, name)
            key = str(ref.get("valuesKey") or "values.yaml")
            if data is None or key not in data:
                if not ref.get("optional"):
                    self.state.gaps.append(CoverageGap(HR_GROUP_KIND, hr.ref.namespace,
                                                       f"{hr.ref.name}: valuesFrom {kind}/{name} key {key} not "
                                                       "found in git (rendered without it)"))
                continue
            if ref.get("targetPath"):
                helmmod.set_path(values, str(ref["targetPath"]), data[key])
                continue
            try:
                loaded = yamlio.load_one(data[key], f"{kind}/{name}[{key}]")
            except yamlio.YamlError as exc:
                raise RenderError(f"valuesFrom {kind}/{name} key {key}: {exc.problem}") from None
            if isinstance(loaded, dict):
                values = helmmod.merge_values(values, loaded)
        inline = spec.get("values")
        if isinstance(inline, dict):
            values = helmmod.merge_values(values, inline)
        return values

    def _helm_manifests(self, hr: Manifest, objs: list[helmmod.HelmObject], namespace: str,
                        chart: Path) -> list[Manifest]:
        out = []
        try:
            chart_rel = chart.relative_to(self.tree.root).as_posix()
        except ValueError:
            chart_rel = str(chart)
        chart_rel = self._display_path(chart_rel)
        for obj in objs:
            files: list[FileProvenance] = []
            if obj.template and "/" in obj.template:
                files.append(FileProvenance(path=posixpath.join(chart_rel, obj.template.split("/", 1)[1]),
                                            role="resource"))
            files += [replace(f, role="config") for f in hr.provenance.files]
            out.append(_manifest_of(obj.body, tuple(files), namespace))
        return out


class _NotRendered(Exception):
    """A Kustomization whose source is not available: a gap, not a failure."""


def _deps(ks: _Ks) -> list[str]:
    out = []
    for d in ks.spec.get("dependsOn") or []:
        if isinstance(d, dict) and d.get("name"):
            out.append(f"{d.get('namespace') or ks.namespace}/{d['name']}")
    return out


def _find_cycle(pending: Mapping[str, _Ks]) -> list[str]:
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


def _skip_crds(hr: Manifest, objs: list[helmmod.HelmObject]) -> list[helmmod.HelmObject]:
    """Drop the chart's ``crds/`` objects when ``spec.install.crds`` is ``Skip`` (helm-controller skips them)."""
    policy = str(((hr.body.get("spec") or {}).get("install") or {}).get("crds") or "Create")
    if policy != "Skip":
        return objs
    return [o for o in objs if not (o.body.get("kind") == "CustomResourceDefinition" and "/crds/" in o.template)]


def _version_ok(chart_yaml: Path, wanted: str) -> bool:
    """An exact wanted version must match Chart.yaml; ranges and ``*`` accept the local chart."""
    if not wanted or not re.fullmatch(r"v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?", wanted):
        return True
    try:
        meta = yamlio.load_one(chart_yaml.read_bytes(), str(chart_yaml))
    except (OSError, yamlio.YamlError):
        return False
    return isinstance(meta, dict) and str(meta.get("version", "")).lstrip("v") == wanted.lstrip("v")


def _data_of(kind: str, body: Mapping[str, Any]) -> dict[str, str]:
    """Key → text of a ConfigMap (data) or Secret (data decoded, stringData)."""
    out: dict[str, str] = {}
    if kind == "Secret":
        for k, v in (body.get("data") or {}).items():
            try:
                out[str(k)] = base64.b64decode(str(v)).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                continue
        out.update({str(k): str(v) for k, v in (body.get("stringData") or {}).items()})
    else:
        out.update({str(k): str(v) for k, v in (body.get("data") or {}).items()})
    return out


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


def _stamp_owner(body: Mapping[str, Any], ks: _Ks) -> dict[str, Any]:
    out = dict(body)
    meta = dict(out.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), NAME_LABEL: ks.name, NAMESPACE_LABEL: ks.namespace}
    out["metadata"] = meta
    return out


def _manifest_of(body: Mapping[str, Any], files: tuple[FileProvenance, ...], default_ns: str) -> Manifest:
    api_version = str(body.get("apiVersion") or "")
    kind = str(body.get("kind") or "")
    meta = body.get("metadata") or {}
    group, _ = split_api_version(api_version)
    ns = str(meta.get("namespace") or "")
    if not ns and is_namespaced(group, kind):
        ns = default_ns
    return Manifest(ObjectRef(group, kind, ns, str(meta.get("name") or "")), api_version, body,
                    Provenance(files=files))


def _remake(m: Manifest, body: Mapping[str, Any], files: tuple[FileProvenance, ...], default_ns: str) -> Manifest:
    """A Manifest with a new body (identity recomputed: substitution may change names/namespaces)."""
    meta = body.get("metadata") or {}
    ns = str(meta.get("namespace") or "") or m.ref.namespace
    name = str(meta.get("name") or m.ref.name)
    api_version = str(body.get("apiVersion") or m.api_version)
    group, _ = split_api_version(api_version)
    ref = ObjectRef(group, str(body.get("kind") or m.ref.kind), ns, name)
    return Manifest(ref, api_version, body, Provenance(files=files))


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
) -> RenderedSet:
    """Everything the Flux Kustomizations of one cluster directory apply, plus those Kustomizations.

    Objects carry Flux's ownership labels and the drift markers described in the module docstring;
    ``gaps`` lists what was not rendered (external sources, remote charts, suspended or cyclic
    Kustomizations, per-Kustomization failures). Raises :class:`RenderError` only when the cluster
    directory itself cannot be built.
    """
    renderer = _FluxRenderer(tool, tree, cluster_path, default_namespace, options, source_options, repo_url,
                             cluster_lookup)
    return renderer.run()
