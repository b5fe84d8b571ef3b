"""HelmRelease rendering for the Flux renderer (a mixin of its cluster renderer).

For each HelmRelease the cluster applies: find the chart on disk (a GitRepository/Bucket source that
is the audited repository or mapped in ``flux.source_paths``, a ``chartRef`` mapped there, or a copy in
``flux.helm_charts``), merge ``valuesFrom`` (ConfigMaps/Secrets rendered from git) and ``values``, run
``helm template`` (:mod:`auditor.render.helm`), drop ``crds/`` when ``install.crds: Skip``, apply
``postRenderers`` kustomize patches/images, and add the objects under the HelmRelease's ownership.
Otherwise the HelmRelease is marked not rendered (its live objects are no orphans) and a gap says why.
"""

from __future__ import annotations

import copy
import posixpath
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import RenderError, SourceError, ToolError
from auditor.model import CoverageGap, FileProvenance, Manifest
from auditor.render import helm as helmmod
from auditor.render.flux import kustomization as fk
from auditor.render.flux.common import FluxKs, RenderState, is_kind, manifest_of, norm_path, remake
from auditor.render.flux.markers import HELM_RELEASE_ANNOTATION, HELM_STATE_ANNOTATION, HR_GROUP_KIND, mark
from auditor.render.flux.options import FluxOptions
from auditor.render.kustomize.build import PreparedTree, render_overlay
from auditor.render.tools import KustomizeTool
from auditor.repo.options import SourceOptions
from auditor.util import yamlio


class HelmReleases:
    """Mixin: the HelmRelease half of the cluster renderer (attributes and hooks below come from it)."""

    options: FluxOptions
    source_paths: Mapping[str, str]
    tree: PreparedTree
    tool: KustomizeTool
    source_options: SourceOptions
    state: RenderState
    _helm: helmmod.HelmTool | bool | None

    def _source_root(self, ref: Mapping[str, Any], default_ns: str) -> tuple[str | None, str]:
        raise NotImplementedError

    def _display_path(self, path: str) -> str:
        raise NotImplementedError

    def _origin(self, path: str) -> tuple[str, str]:
        raise NotImplementedError

    def _lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        raise NotImplementedError

    def _add(self, objs: list[Manifest], ks: FluxKs, pending: dict[str, FluxKs], skip: set[str]) -> None:
        raise NotImplementedError

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
            if is_kind(m, "apiextensions.k8s.io", "CustomResourceDefinition"):
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
                        objs = self._post_render(hr, skip_crds(hr, objs), rel_ns)
                        rendered = self._helm_manifests(hr, objs, rel_ns, chart)
                        state = "rendered"
            except (RenderError, SourceError, OSError) as exc:
                reason = f"render failed: {exc}"
            if state != "rendered":
                self.state.gaps.append(CoverageGap(
                    HR_GROUP_KIND, ref.namespace,
                    f"{ref.name}: {reason}; live objects of release {rel_ns}/{release} are not reported as orphans",
                    name=ref.name))
            elif hr.body.get("spec", {}).get("suspend"):
                self.state.gaps.append(CoverageGap(
                    HR_GROUP_KIND, ref.namespace,
                    f"{ref.name} is suspended (spec.suspend): Flux does not reconcile it, its drift is not counted",
                    name=ref.name, informational=True))
                rendered = [remake(m, mark(m.body, "ignore", f"HelmRelease {ref.namespace}/{ref.name} is suspended"),
                                    m.provenance.files, rel_ns) for m in rendered]
            body = copy.deepcopy(dict(hr.body))
            ann = body.setdefault("metadata", {}).setdefault("annotations", {})
            ann[HELM_STATE_ANNOTATION] = state
            ann[HELM_RELEASE_ANNOTATION] = f"{rel_ns}/{release}"
            self.state.objects[idx] = replace(hr, body=body)
            ks = FluxKs(ref.namespace, ref.name, {}, hr.provenance.files, owner)
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
            local = self.source_paths.get(ident)
            if local and Path(local, "Chart.yaml").is_file():
                return Path(local), (), ""
            if ref.get("kind") == "ExternalArtifact":
                root, why = self._source_root(ref, hr.ref.namespace)
                if root is None:
                    return None, (), why.replace("not rendered", "chart not rendered")
                base = self.tree.root.joinpath(*root.split("/")) if root else self.tree.root
                charts = [base] if (base / "Chart.yaml").is_file() else \
                    sorted(p.parent for p in base.glob("*/Chart.yaml"))
                if len(charts) == 1:
                    return charts[0], (), ""
                return None, (), f"{ident} holds {'no' if not charts else 'more than one'} chart, not rendered"
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
            rel = posixpath.join(root, norm_path(chart_name)) if root else norm_path(chart_name)
            chart = self.tree.root.joinpath(*rel.split("/"))
            if not (chart / "Chart.yaml").is_file():
                return None, (), f"chart {chart_name} not found in {ident}"
            vfiles = []
            for vf in cspec.get("valuesFiles") or []:
                p = self.tree.root.joinpath(*posixpath.join(root, norm_path(vf)).split("/")) if root else \
                    self.tree.root.joinpath(*norm_path(vf).split("/"))
                if p.is_file():
                    vfiles.append(p)
            return chart, tuple(vfiles), ""
        for d in self.options.helm_charts:
            base = Path(d)
            cand = base / chart_name
            if (cand / "Chart.yaml").is_file() and version_ok(cand / "Chart.yaml", version):
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
                                                       "found in git (rendered without it)", name=hr.ref.name))
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
            chart_rel: str | None = chart.relative_to(self.tree.root).as_posix()
        except ValueError:
            chart_rel = None
        for obj in objs:
            files: list[FileProvenance] = []
            if obj.template and "/" in obj.template:
                sub = obj.template.split("/", 1)[1]
                if chart_rel is None:
                    files.append(FileProvenance(path=posixpath.join(str(chart), sub), role="resource"))
                else:
                    shown, repo = self._origin(posixpath.join(chart_rel, sub) if chart_rel else sub)
                    files.append(FileProvenance(path=shown, role="resource", repo=repo))
            files += [replace(f, role="config") for f in hr.provenance.files]
            out.append(manifest_of(obj.body, tuple(files), namespace))
        return out


def skip_crds(hr: Manifest, objs: list[helmmod.HelmObject]) -> list[helmmod.HelmObject]:
    """Drop the chart's ``crds/`` objects when ``spec.install.crds`` is ``Skip`` (helm-controller skips them)."""
    policy = str(((hr.body.get("spec") or {}).get("install") or {}).get("crds") or "Create")
    if policy != "Skip":
        return objs
    return [o for o in objs if not (o.body.get("kind") == "CustomResourceDefinition" and "/crds/" in o.template)]


def version_ok(chart_yaml: Path, wanted: str) -> bool:
    """An exact wanted version must match Chart.yaml; ranges and ``*`` accept the local chart."""
    if not wanted or not re.fullmatch(r"v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?", wanted):
        return True
    try:
        meta = yamlio.load_one(chart_yaml.read_bytes(), str(chart_yaml))
    except (OSError, yamlio.YamlError):
        return False
    return isinstance(meta, dict) and str(meta.get("version", "")).lstrip("v") == wanted.lstrip("v")
