"""Resolve the Argo CD Applications of a repository and render each one like the repo-server.

Seeds are the files matching ``argocd.apps`` (Applications and ApplicationSets) and the app-of-apps
``argocd.root`` (a directory rendered like an Application source, or a file of Applications). Every
Application is rendered (:mod:`auditor.render.argocd.manifests`); Applications and ApplicationSets among
its output are followed recursively (up to ``max_depth``), and stay desired objects of the cluster that
parent applies to. ApplicationSets are expanded with their generators (:mod:`auditor.render.argocd.appset`).

Each rendered object is stamped as Argo CD stamps what it applies (tracking annotation
``argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<namespace>/<name>`` and/or the instance label) and
marked with its Application and how Argo CD treats it: sync hooks (``argocd.argoproj.io/hook``, Helm
hooks) are not part of the synced state (absent live is normal), ``argocd.argoproj.io/skip-reconcile``
stops reconciliation, ``selfHeal`` and automated ``prune`` describe the unit. What cannot be rendered
(plugins, remote charts, other repositories not allowed, unknown generators, render errors) is a gap.
"""

from __future__ import annotations

import copy
import posixpath
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import RenderError, SourceError, ToolError
from auditor.model import CoverageGap, FileProvenance, Manifest, RenderedSet
from auditor.render import helm as helmmod
from auditor.render.argocd import appset as appsetmod
from auditor.render.argocd import templates
from auditor.render.argocd.manifests import (
    HelmRequest,
    NotRenderable,
    render_directory,
    render_helm,
    render_kustomize,
    source_type,
    to_manifests,
)
from auditor.render.argocd.options import IN_CLUSTER_NAME, IN_CLUSTER_SERVER, ArgoOptions
from auditor.render.flux.common import remake
from auditor.render.markers import UNIT_ANNOTATION, UNIT_FLAGS_ANNOTATION, annotate, mark
from auditor.render.revisions import Mount, Mounts, RefSpec, Unavailable
from auditor.render.semver import looks_like_constraint
from auditor.render.source import RenderContext
from auditor.util import yamlio

APP_GROUP = "argoproj.io"
TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
HOOK_ANNOTATION = "argocd.argoproj.io/hook"
SKIP_RECONCILE = "argocd.argoproj.io/skip-reconcile"
APP_KIND = f"Application.{APP_GROUP}"
APPSET_KIND = f"ApplicationSet.{APP_GROUP}"
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class App:
    """One Application to render."""

    name: str
    namespace: str
    spec: Mapping[str, Any]
    annotations: Mapping[str, str] = field(default_factory=dict)
    files: tuple[FileProvenance, ...] = ()
    depth: int = 0
    own_root: bool = False
    """True for the implicit root of ``argocd.root`` (renders the audited tree)."""

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


@dataclass
class AppRender:
    """What one Application renders to, and the cluster it applies to."""

    app: App
    cluster: str
    objects: list[Manifest] = field(default_factory=list)
    gaps: list[CoverageGap] = field(default_factory=list)


@dataclass
class Resolution:
    """Every Application of the repository, rendered; and gaps that concern no one cluster."""

    renders: list[AppRender] = field(default_factory=list)
    gaps: list[CoverageGap] = field(default_factory=list)

    def clusters(self) -> list[str]:
        """Destination clusters, in first-seen order."""
        return list(dict.fromkeys(r.cluster for r in self.renders if r.cluster))


def cluster_of(dest: Mapping[str, Any], options: ArgoOptions) -> str:
    """The cluster name a destination names (``name``, or the registered name of ``server``)."""
    name = str(dest.get("name") or "")
    if name:
        return name
    server = str(dest.get("server") or "")
    for c in options.clusters:
        if c.server.rstrip("/") == server.rstrip("/"):
            return c.name
    if server.rstrip("/") == IN_CLUSTER_SERVER:
        return IN_CLUSTER_NAME
    host = re.sub(r"^[a-z]+://", "", server).rstrip("/")
    return _NAME_RE.sub("-", host)[:63].strip("-.")


class Resolver:
    """Finds and renders the Applications of one prepared repository (once per run, then shared)."""

    def __init__(self, ctx: RenderContext, options: ArgoOptions, mounts: Mounts) -> None:
        self.ctx = ctx
        self.options = options
        self.mounts = mounts
        self.result = Resolution()
        self.seen: set[str] = set()
        self._helm_bin: helmmod.HelmTool | bool | None = False

    # ---- seeds ---------------------------------------------------------------------------------

    def run(self) -> Resolution:
        """Resolve from the root and the apps glob."""
        opts = self.options
        if opts.root:
            root = self.ctx.tree.root.joinpath(*opts.root.split("/"))
            if root.is_file():
                self._from_file(opts.root)
            elif root.is_dir():
                source: dict[str, Any] = {"repoURL": "", "path": opts.root}
                if opts.root_values:
                    source["helm"] = {"valueFiles": list(opts.root_values)}
                name = posixpath.basename(opts.root) or "root"
                self._process(App(name, opts.namespace, {"source": source, "destination": {
                    "server": opts.root_destination, "namespace": opts.namespace}}, own_root=True))
            else:
                raise RenderError(f"argocd.root {opts.root}: no such file or directory in the repository")
        if opts.apps:
            for rel in self._glob(opts.apps):
                self._from_file(rel)
        return self.result

    def _glob(self, pattern: str) -> list[str]:
        root = self.ctx.tree.root
        return sorted(p.relative_to(root).as_posix() for p in root.glob(pattern)
                      if p.is_file() and p.suffix in (".yaml", ".yml", ".json")
                      and not any(part.startswith(".") for part in p.relative_to(root).parts))

    def _from_file(self, rel: str) -> None:
        path = self.ctx.tree.root.joinpath(*rel.split("/"))
        try:
            docs = yamlio.load_all(path.read_bytes(), rel)
        except (OSError, yamlio.YamlError) as exc:
            self.result.gaps.append(CoverageGap(APP_KIND, "", f"{rel}: {exc}", name=rel))
            return
        for doc in docs:
            for obj in yamlio.iter_items(doc):
                if str(obj.get("apiVersion") or "").startswith(APP_GROUP + "/"):
                    self._object(obj, (FileProvenance(path=rel, role="config"),), 0)

    def _object(self, obj: Mapping[str, Any], files: tuple[FileProvenance, ...], depth: int) -> None:
        kind = obj.get("kind")
        meta = obj.get("metadata") or {}
        ns = str(meta.get("namespace") or self.options.namespace)
        if kind == "Application":
            self._process(App(str(meta.get("name") or ""), ns, obj.get("spec") or {},
                              dict(meta.get("annotations") or {}), files, depth))
        elif kind == "ApplicationSet":
            self._appset(obj, files, depth)

    # ---- ApplicationSets -----------------------------------------------------------------------

    def _appset(self, obj: Mapping[str, Any], files: tuple[FileProvenance, ...], depth: int) -> None:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name") or "")
        ns = str(meta.get("namespace") or self.options.namespace)
        spec = obj.get("spec") or {}
        go = bool(spec.get("goTemplate"))
        try:
            if spec.get("templatePatch"):
                raise appsetmod.GeneratorError("templatePatch is not evaluated by the audit")
            generated: list[Any] = []
            for gen in spec.get("generators") or []:
                sets = appsetmod.generate(gen, clusters=self.options.clusters, read=self._read_git, go=go)
                template = _merge(spec.get("template") or {}, gen.get("template") or {}) \
                    if isinstance(gen, dict) else spec.get("template") or {}
                if go:
                    helm = self._helm_tool()
                    generated += templates.go_render(helm, template, sets,
                                                     options=[str(o) for o in spec.get("goTemplateOptions") or []],
                                                     action=f"ApplicationSet {ns}/{name}")
                else:
                    generated += [templates.walk_strings(template, _fast_with(p)) for p in sets]
        except (appsetmod.GeneratorError, Unavailable, RenderError, ToolError, SourceError, yamlio.YamlError) as exc:
            self.result.gaps.append(CoverageGap(APPSET_KIND, ns, f"{name}: {exc}; its Applications are not rendered",
                                                name=name))
            return
        for tmpl in generated:
            tmeta = tmpl.get("metadata") or {}
            self._process(App(str(tmeta.get("name") or ""), str(tmeta.get("namespace") or ns), tmpl.get("spec") or {},
                              dict(tmeta.get("annotations") or {}), files, depth))

    def _read_git(self, url: str, revision: str) -> tuple[Path, str]:
        mount = self._mount(url, revision)
        root = self.ctx.tree.root.joinpath(*mount.rel.split("/")) if mount.rel else self.ctx.tree.root
        return root, mount.rel

    # ---- one Application -------------------------------------------------------------------------

    def _process(self, app: App) -> None:
        if not app.name:
            self.result.gaps.append(CoverageGap(APP_KIND, app.namespace, "an Application without a name", name=""))
            return
        if app.key in self.seen:
            return
        self.seen.add(app.key)
        dest = app.spec.get("destination") or {}
        cluster = cluster_of(dest, self.options)
        out = AppRender(app, cluster)
        self.result.renders.append(out)
        if not cluster:
            out.gaps.append(CoverageGap(APP_KIND, app.namespace, f"{app.name}: destination names no cluster",
                                        name=app.name))
            return
        namespace = str(dest.get("namespace") or "") or "default"
        sources = list(app.spec.get("sources") or ([app.spec["source"]] if app.spec.get("source") else []))
        if not sources:
            out.gaps.append(CoverageGap(APP_KIND, app.namespace, f"{app.name}: no source", name=app.name))
            return
        refs: dict[str, Mount] = {}
        for src in sources:
            if isinstance(src, dict) and src.get("ref"):
                try:
                    refs[str(src["ref"])] = self._mount(str(src.get("repoURL") or ""),
                                                        str(src.get("targetRevision") or ""), own=app.own_root)
                except Unavailable as exc:
                    out.gaps.append(CoverageGap(APP_KIND, app.namespace, f"{app.name}: source ref {src['ref']}: {exc}",
                                                name=app.name))
        objects: list[Manifest] = []
        for i, src in enumerate(sources):
            if not isinstance(src, dict) or (src.get("ref") and not src.get("path") and not src.get("chart")):
                continue
            where = f"{app.name}" + (f" (sources[{i}])" if len(sources) > 1 else "")
            try:
                objects += self._render_source(app, src, namespace, refs)
            except NotRenderable as exc:
                out.gaps.append(CoverageGap(APP_KIND, app.namespace, f"{where}: {exc}", name=app.name))
            except (RenderError, SourceError, ToolError, OSError) as exc:
                out.gaps.append(CoverageGap(APP_KIND, app.namespace, f"{where}: render failed: {exc}",
                                            name=app.name))
        out.objects = [self._finish(app, m) for m in objects]
        for m in out.objects:
            if m.ref.group == APP_GROUP and m.ref.kind in ("Application", "ApplicationSet"):
                if app.depth + 1 > self.options.max_depth:
                    out.gaps.append(CoverageGap(APP_KIND, app.namespace, f"{app.name}: app of apps nested deeper "
                                                f"than argocd.max_depth ({self.options.max_depth})", name=app.name))
                    break
                self._object(_strip_marks(m.body), m.provenance.files, app.depth + 1)

    def _mount(self, url: str, revision: str, *, own: bool = False) -> Mount:
        if own or not url:
            return Mount("")
        if self.mounts.is_own(url) and revision in ("", "HEAD", self.options.revision, self.ctx.ref):
            return Mount("")
        spec = RefSpec(semver=revision) if looks_like_constraint(revision) else RefSpec(name=revision or "HEAD")
        return self.mounts.mount(url, spec)

    def _render_source(self, app: App, src: Mapping[str, Any], namespace: str,
                       refs: Mapping[str, Mount]) -> list[Manifest]:
        url = str(src.get("repoURL") or "")
        revision = str(src.get("targetRevision") or "")
        if src.get("chart"):
            raise NotRenderable(f"remote Helm chart {src['chart']}@{revision or 'latest'} from {url}: not rendered")
        if url.startswith("oci://"):
            raise NotRenderable(f"OCI source {url}: not rendered")
        try:
            mount = self._mount(url, revision, own=app.own_root)
        except Unavailable as exc:
            raise NotRenderable(f"{exc}; not rendered") from None
        path = posixpath.normpath(str(src.get("path") or ".").lstrip("/"))
        if path == ".." or path.startswith("../"):
            raise RenderError(f"path {src.get('path')!r} leaves the repository")
        path = "" if path == "." else path
        rel = posixpath.join(mount.rel, path) if mount.rel and path else (mount.rel or path)
        root = self.ctx.tree.root.joinpath(*rel.split("/")) if rel else self.ctx.tree.root
        if not root.is_dir():
            raise RenderError(f"path {path or '.'} does not exist at {revision or 'the audited commit'}")
        kind = source_type(root, src)
        if kind == "plugin":
            name = str((src.get("plugin") or {}).get("name") or "discovered")
            raise NotRenderable(f"config management plugin {name}: not rendered (plugins run arbitrary tools)")
        if kind == "kustomize":
            rs = render_kustomize(self.ctx.tool, self.ctx.tree, rel, src.get("kustomize") or {}, namespace,
                                  self.ctx.options)
            return [_with_origin(m, self.mounts) for m in rs.objects]
        if kind == "helm":
            return self._helm(app, src, rel, namespace, refs)
        items = render_directory(self.ctx.tree, rel, src.get("directory") or {},
                                 jsonnet_timeout=self.options.jsonnet_timeout)
        return to_manifests(items, namespace, self.mounts.original)

    def _helm(self, app: App, src: Mapping[str, Any], rel: str, namespace: str,
              refs: Mapping[str, Mount]) -> list[Manifest]:
        spec = src.get("helm") or {}
        root = self.ctx.tree.root
        files: list[Path] = []
        for vf in spec.get("valueFiles") or []:
            vf = str(vf)
            if vf.startswith("$"):
                ref, _, sub = vf[1:].partition("/")
                if ref not in refs:
                    raise RenderError(f"valueFiles {vf}: no source with ref {ref!r}")
                base = refs[ref].rel
            else:
                base, sub = rel, vf
            p = posixpath.normpath(posixpath.join(base, sub)) if base else posixpath.normpath(sub)
            if p.startswith("..") or "://" in vf:
                raise NotRenderable(f"values file {vf} is outside the repository: not rendered")
            target = root.joinpath(*p.split("/"))
            if not target.is_file():
                if spec.get("ignoreMissingValueFiles"):
                    continue
                raise RenderError(f"values file {vf} not found")
            files.append(target)
        values: Any = spec.get("valuesObject")
        if values is None and spec.get("values"):
            values = yamlio.load_one(str(spec["values"]), f"Application {app.name} helm.values")
        sets = tuple((str(p["name"]), str(p.get("value") or "")) for p in spec.get("parameters") or []
                     if isinstance(p, dict) and p.get("name") and not p.get("forceString"))
        strings = tuple((str(p["name"]), str(p.get("value") or "")) for p in spec.get("parameters") or []
                        if isinstance(p, dict) and p.get("name") and p.get("forceString"))
        if spec.get("fileParameters"):
            raise NotRenderable("helm fileParameters are not rendered by the audit")
        req = HelmRequest(
            release=str(spec.get("releaseName") or app.name), namespace=str(spec.get("namespace") or namespace),
            value_files=tuple(files), values=values if isinstance(values, dict) else None, set_values=sets,
            set_strings=strings, include_crds=not spec.get("skipCrds"), skip_tests=bool(spec.get("skipTests")),
            api_versions=tuple(str(a) for a in spec.get("apiVersions") or []),
            kube_version=str(spec.get("kubeVersion") or self.options.helm_kube_version))
        items = render_helm(self._helm_tool(), self.ctx.tree, rel, req, timeout=self.options.helm_timeout)
        return to_manifests(items, namespace, self.mounts.original)

    def _helm_tool(self) -> helmmod.HelmTool:
        if self._helm_bin is False:
            self._helm_bin = helmmod.find_helm(self.options.helm_path)
        if not isinstance(self._helm_bin, helmmod.HelmTool):
            raise NotRenderable("helm not found (install it with `gitops-audit tools install helm --dest DIR`)")
        return self._helm_bin

    # ---- Argo CD's apply semantics ------------------------------------------------------------

    def _finish(self, app: App, m: Manifest) -> Manifest:
        body: dict[str, Any] = copy.deepcopy(dict(m.body))
        meta = body.setdefault("metadata", {})
        ann = meta.get("annotations") or {}
        hook = str(ann.get(HOOK_ANNOTATION) or "")
        helm_hook = str(ann.get(helmmod.HOOK_ANNOTATION) or "")
        if helm_hook == "crd-install":
            helm_hook = ""
        pattern = ""
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = str(meta["generateName"])
            pattern = f"{meta['generateName']}*"
        ref_ns = m.ref.namespace
        tracking_id = f"{_instance(app)}:{m.ref.group}/{m.ref.kind}:{ref_ns}/{meta.get('name')}"
        if "label" in self.options.tracking:
            meta["labels"] = {**(meta.get("labels") or {}), self.options.instance_label: app.name}
        if "annotation" in self.options.tracking:
            body = annotate(body, {TRACKING_ANNOTATION: tracking_id})
        flags = ["self-heal"] if (app.spec.get("syncPolicy") or {}).get("automated", {}) and \
            ((app.spec.get("syncPolicy") or {}).get("automated") or {}).get("selfHeal") else []
        automated = (app.spec.get("syncPolicy") or {}).get("automated")
        if not (isinstance(automated, dict) and automated.get("prune")):
            flags.append("no-prune")
        body = annotate(body, {UNIT_ANNOTATION: f"argocd:{app.name}", UNIT_FLAGS_ANNOTATION: ",".join(flags)})
        if hook or helm_hook:
            body = mark(body, "ignore", f"sync hook ({hook or 'helm ' + helm_hook}) of Application {app.name}: "
                        "Argo CD runs it during a sync, absent live is normal", pattern)
        elif str(app.annotations.get(SKIP_RECONCILE, "")).lower() == "true":
            body = mark(body, "ignore", f"Application {app.name} has {SKIP_RECONCILE}: Argo CD does not reconcile it")
        return remake(m, body, m.provenance.files, ref_ns)


def _fast_with(params: Mapping[str, Any]) -> Callable[[str], str]:
    def render(text: str) -> str:
        return templates.fast(text, params)

    return render


def _instance(app: App) -> str:
    return app.name if app.namespace in ("", "argocd") else f"{app.namespace}_{app.name}"


def _strip_marks(body: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(body))
    ann = (out.get("metadata") or {}).get("annotations") or {}
    for k in list(ann):
        if k.startswith("gitops-audit.io/"):
            del ann[k]
    return out


def _with_origin(m: Manifest, mounts: Mounts) -> Manifest:
    files = []
    for f in m.provenance.files:
        path, repo = mounts.original(f.path)
        files.append(FileProvenance(path=path, role=f.role, line=f.line, repo=repo))
    return Manifest(m.ref, m.api_version, m.body, type(m.provenance)(files=tuple(files)))


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


_CACHE: dict[tuple[str, str, str], Resolution] = {}
_CACHE_LOCK = threading.Lock()


def resolve(ctx: RenderContext, options: ArgoOptions, mounts: Mounts) -> Resolution:
    """The run's Applications of a prepared tree, rendered once and shared by its targets."""
    key = (str(ctx.tree.root), ctx.tree.commit, repr(options))
    with _CACHE_LOCK:
        for gone in [k for k in _CACHE if not Path(k[0]).exists()]:
            del _CACHE[gone]  # trees of finished runs
        found = _CACHE.get(key)
        if found is None or not ctx.tree.root.exists():
            found = Resolver(ctx, options, mounts).run()
            _CACHE[key] = found
        return found


def render_cluster(ctx: RenderContext, options: ArgoOptions, mounts: Mounts, cluster: str) -> RenderedSet:
    """Desired objects of every Application applying to ``cluster`` (first one wins on a shared object)."""
    res = resolve(ctx, options, mounts)
    objects: list[Manifest] = []
    owner: dict[Any, str] = {}
    gaps = list(res.gaps)
    for r in res.renders:
        if r.cluster != cluster:
            continue
        gaps += r.gaps
        for m in r.objects:
            if m.ref in owner:
                gaps.append(CoverageGap(m.ref.group_kind, m.ref.namespace,
                                        f"{m.ref.name} is applied by both Application {owner[m.ref]} and "
                                        f"{r.app.name} (Argo CD warns SharedResourceWarning); the first one is audited",
                                        name=m.ref.name, informational=True))
                continue
            owner[m.ref] = r.app.name
            objects.append(m)
    return RenderedSet(path=options.root or options.apps, commit=ctx.tree.commit, objects=tuple(objects),
                       gaps=tuple(gaps), sources=mounts.revisions())
