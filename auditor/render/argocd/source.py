"""Argo CD as a target source: one target per destination cluster of the repository's Applications."""

from __future__ import annotations

import re
from collections.abc import Mapping

from auditor.errors import ConfigError
from auditor.model import Manifest, ObjectRef, RenderedSet, Target, ToolInfo
from auditor.render import helm as helmmod
from auditor.render.argocd.build import TRACKING_ANNOTATION, render_cluster, resolve
from auditor.render.argocd.options import ARGOCD_RENDERER, ARGOCD_RENDERER_LABEL, ArgoOptions
from auditor.render.controller import ControllerView, OrphanVerdict
from auditor.render.markers import split_markers
from auditor.render.revisions import mounts_for, revisions_current
from auditor.render.source import Discovery, RenderContext, TargetSource

CLUSTER_LABEL = "gitops-audit.io/argocd-cluster"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
COMPARE_OPTIONS = "argocd.argoproj.io/compare-options"
_TARGET_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


class ArgoSource(TargetSource):
    """Applications (plain, app of apps, ApplicationSets), grouped by the cluster they deploy to."""

    kind = "argocd"

    def __init__(self, options: ArgoOptions) -> None:
        self.options = options
        self._helm: ToolInfo | None = None

    def configured(self) -> bool:
        """True with ``argocd.apps`` or ``argocd.root``."""
        return self.options.configured

    def _mounts(self, ctx: RenderContext):  # type: ignore[no-untyped-def]
        return mounts_for(ctx.tree, ctx.handle, ctx.url, ctx.aliases, ctx.options)

    def discover(self, ctx: RenderContext, defaults: Target) -> Discovery:
        """One target per destination cluster; context/snapshot from overrides or the templates."""
        res = resolve(ctx, self.options, self._mounts(ctx))
        targets = []
        seen: dict[str, str] = {}
        for cluster in res.clusters():
            servers = {str((r.app.spec.get("destination") or {}).get("server") or "")
                       for r in res.renders if r.cluster == cluster} - {""}
            ov = self.options.overrides.get(cluster) or next(
                (self.options.overrides[s] for s in sorted(servers) if s in self.options.overrides), None)
            fmt = {"name": cluster, "server": next(iter(sorted(servers)), "")}
            context = (ov.context if ov else "") or _fill(self.options.context, fmt)
            snapshot = (ov.snapshot if ov else "") or ("" if context else _fill(self.options.snapshot, fmt))
            if ov and ov.snapshot:
                context = ""
            if not context and not snapshot:
                context = cluster
            name = (ov.name if ov else "") or _TARGET_NAME_RE.sub("-", cluster)[:63] or "cluster"
            if name in seen:
                raise ConfigError(f"argocd cluster {cluster}: target name {name!r} is also used by {seen[name]} "
                                  f"(set argocd.overrides.{cluster}.name)")
            seen[name] = cluster
            targets.append(Target(
                name=name, env=(ov.env if ov else "") or cluster, region=ov.region if ov else "",
                path=self.options.root or self.options.apps, context=context, snapshot=snapshot,
                repo=defaults.repo, ref=defaults.ref,
                namespace=(ov.namespace if ov and ov.namespace else defaults.namespace),
                labels=tuple(sorted({*defaults.labels, (ARGOCD_RENDERER_LABEL, ARGOCD_RENDERER),
                                     (CLUSTER_LABEL, cluster)})),
            ))
        return Discovery(targets=tuple(targets))

    def handles(self, target: Target) -> bool:
        """Targets made by discovery carry the Argo CD renderer label."""
        return (ARGOCD_RENDERER_LABEL, ARGOCD_RENDERER) in target.labels

    def render(self, ctx: RenderContext, target: Target) -> RenderedSet:
        """Every Application whose destination is the target's cluster."""
        return render_cluster(ctx, self.options, self._mounts(ctx), _cluster(target))

    def render_key(self, target: Target) -> str:
        """The destination cluster."""
        return f"{_cluster(target)}\0{target.namespace}"

    def cache_parts(self, ctx: RenderContext, target: Target) -> tuple[str, ...] | None:
        """Argo CD options, helm's version and the destination cluster."""
        helm = self._helm_info()
        return ("argocd", helm.version if helm else "", ctx.url, repr(self.options), _cluster(target))

    def cache_valid(self, ctx: RenderContext, rendered: RenderedSet) -> bool:
        """Other revisions the render read still point at the same commits."""
        return revisions_current(rendered.sources, ctx.options)

    def controller(self, rendered: RenderedSet) -> ControllerView:
        """Hooks and skip-reconcile are not compared; self-heal and prune come from each Application."""
        marks = split_markers(rendered.objects)
        flags = marks.unit_flags
        self_heal: Mapping[ObjectRef, str] = {
            ref: f"Application {unit.removeprefix('argocd:')}" for ref, unit in marks.units.items()
            if "self-heal" in flags.get(unit, frozenset()) and not any(mk.ref == ref for mk in marks.markers)}
        instance_label = self.options.instance_label

        def orphan_policy(live: Manifest) -> OrphanVerdict | None:
            # compare-options IgnoreExtraneous on a live object is honoured by the drift stage for every
            # target (drift.ignore_extraneous), so it is not repeated here.
            ann = live.annotations
            if "Prune=false" in str(ann.get(SYNC_OPTIONS, "")).replace(" ", ""):
                return OrphanVerdict("keep", f"{SYNC_OPTIONS}: Prune=false, so Argo CD keeps it")
            tracking = str(ann.get(TRACKING_ANNOTATION, ""))
            app = tracking.split(":", 1)[0].rpartition("_")[2] if tracking else str(live.labels.get(instance_label, ""))
            if app and "no-prune" in flags.get(f"argocd:{app}", frozenset()):
                return OrphanVerdict("keep", f"Application {app} does not prune automatically, so Argo CD keeps it")
            return None

        return ControllerView(marks.desired, marks.markers, marks.releases, self_heal=self_heal,
                              orphan_policy=orphan_policy, label="argocd")

    def tools(self) -> tuple[ToolInfo, ...]:
        """helm, when found."""
        helm = self._helm_info()
        return (helm,) if helm else ()

    def _helm_info(self) -> ToolInfo | None:
        if self._helm is None:
            found = helmmod.find_helm(self.options.helm_path)
            self._helm = found.info if found else ToolInfo("helm", "", "")
        return self._helm if self._helm.path else None


def _cluster(target: Target) -> str:
    return dict(target.labels).get(CLUSTER_LABEL, target.name)


def _fill(template: str, values: Mapping[str, str]) -> str:
    if not template:
        return ""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"argocd: template {template!r}: {exc} (use {{name}}, {{server}})") from None
