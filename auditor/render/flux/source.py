"""Flux as a target source: one target per cluster directory, rendered like kustomize-controller."""

from __future__ import annotations

from auditor.errors import ToolError
from auditor.model import Manifest, RenderedSet, Target, ToolInfo
from auditor.render import helm as helmmod
from auditor.render.controller import ControllerView, OrphanVerdict
from auditor.render.flux.build import render_flux_target
from auditor.render.flux.discovery import discover_targets, is_flux_target
from auditor.render.flux.markers import NAME_LABEL, NAMESPACE_LABEL, unpruned_kustomizations
from auditor.render.flux.options import FluxOptions
from auditor.render.markers import split_markers
from auditor.render.revisions import mounts_for, revisions_current
from auditor.render.source import Discovery, RenderContext, TargetSource


class FluxSource(TargetSource):
    """Flux Kustomizations (and the sources, HelmReleases and ArtifactGenerators they apply) of each cluster."""

    kind = "flux"

    def __init__(self, options: FluxOptions) -> None:
        self.options = options
        self._helm: ToolInfo | None = None

    def configured(self) -> bool:
        """True with ``flux.clusters``."""
        return bool(self.options.clusters)

    def discover(self, ctx: RenderContext, defaults: Target) -> Discovery:
        """One target per directory matching ``flux.clusters``."""
        return Discovery(targets=discover_targets(ctx.tree.root, self.options, defaults))

    def handles(self, target: Target) -> bool:
        """Targets made by discovery carry the Flux renderer label."""
        return is_flux_target(target)

    def render(self, ctx: RenderContext, target: Target) -> RenderedSet:
        """Everything the cluster directory's Flux Kustomizations apply."""
        mounts = mounts_for(ctx.tree, ctx.handle, ctx.url, ctx.aliases, ctx.options)
        return render_flux_target(ctx.tool, ctx.tree, target.path, default_namespace=target.namespace,
                                  options=self.options, source_options=ctx.options, repo_url=ctx.url,
                                  mounts=mounts, audited_ref=ctx.ref)

    def render_key(self, target: Target) -> str:
        """The cluster directory, its namespace and its name (per-cluster source paths)."""
        return f"{target.path}\0{target.namespace}\0{target.name}"

    def cache_parts(self, ctx: RenderContext, target: Target) -> tuple[str, ...] | None:
        """Helm's version, the repository URL and every Flux option (per-cluster overrides included)."""
        helm = self._helm_info()
        return ("flux", helm.version if helm else "", ctx.url, repr(self.options), target.name)

    def cache_valid(self, ctx: RenderContext, rendered: RenderedSet) -> bool:
        """Other branches and repositories read by the render still point at the same commits."""
        return revisions_current(rendered.sources, ctx.options)

    def controller(self, rendered: RenderedSet) -> ControllerView:
        """Flux markers; stale objects of ``prune: false`` Kustomizations are kept on purpose."""
        marks = split_markers(rendered.objects)
        unpruned = unpruned_kustomizations(marks.desired)

        def orphan_policy(live: Manifest) -> OrphanVerdict | None:
            owner = (live.labels.get(NAMESPACE_LABEL, ""), live.labels.get(NAME_LABEL, ""))
            if owner in unpruned:
                return OrphanVerdict("keep", f"Kustomization {owner[0]}/{owner[1]} has prune: false, so Flux keeps it")
            return None

        return ControllerView(marks.desired, marks.markers, marks.releases, orphan_policy=orphan_policy,
                              label="flux")

    def tools(self) -> tuple[ToolInfo, ...]:
        """helm, when found."""
        helm = self._helm_info()
        return (helm,) if helm else ()

    def _helm_info(self) -> ToolInfo | None:
        if self._helm is None:
            try:
                found = helmmod.find_helm(self.options.helm_path)
            except ToolError:
                found = None
            self._helm = found.info if found else ToolInfo("helm", "", "")
        return self._helm if self._helm.path else None
