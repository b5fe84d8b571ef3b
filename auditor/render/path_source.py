"""Plain path targets: a kustomize overlay, a Helm chart directory or a directory of manifests.

What a configured or ad-hoc target's ``path`` holds decides how it renders, as Argo CD decides a source's
type: a kustomization → ``kustomize build`` (with provenance); ``Chart.yaml`` → ``helm template`` of the
local chart (release named after the directory, values files from ``--values``), as Argo CD's helm type;
anything else → the directory's ``.yaml``/``.yml``/``.json`` files, as Argo CD's directory type
(top level only, like Argo CD without ``recurse``).
"""

from __future__ import annotations

import posixpath

from auditor.errors import RenderError, ToolError
from auditor.model import RenderedSet, Target, ToolInfo
from auditor.render import helm as helmmod
from auditor.render.argocd.manifests import HelmRequest, NotRenderable, render_directory, render_helm, to_manifests
from auditor.render.kustomize.build import normalize_overlay, render_overlay
from auditor.render.kustomize.graph import find_kustomization
from auditor.render.kustomize.tree import skipped_reason
from auditor.render.options import PathOptions
from auditor.render.source import RenderContext, TargetSource


class PathSource(TargetSource):
    """Every target no discovering source claims: its path renders by what it holds."""

    kind = "path"

    def __init__(self, options: PathOptions) -> None:
        self.options = options
        self._helm: helmmod.HelmTool | None = None

    def handles(self, target: Target) -> bool:
        """The fallback source: every target."""
        return True

    def render(self, ctx: RenderContext, target: Target) -> RenderedSet:
        """Kustomize overlay, Helm chart or directory of manifests."""
        rel = normalize_overlay(target.path)
        shown = rel or "."
        root = ctx.tree.root.joinpath(*rel.split("/")) if rel else ctx.tree.root
        reason = skipped_reason(ctx.tree, rel) if rel else ""
        if reason:
            raise RenderError(f"render {shown}: refused: {reason}")
        if not root.is_dir():
            raise RenderError(f"render {shown}: no such directory in the repository at {ctx.tree.commit[:12]}")
        if find_kustomization(ctx.tree.root, rel) is not None:
            return render_overlay(ctx.tool, ctx.tree, rel, default_namespace=target.namespace, options=ctx.options)
        if (root / "Chart.yaml").is_file():
            return self._helm_chart(ctx, target, rel)
        items = render_directory(ctx.tree, rel, {}, jsonnet_timeout=ctx.options.render_timeout)
        return RenderedSet(path=rel, commit=ctx.tree.commit, objects=tuple(to_manifests(items, target.namespace)))

    def _helm_chart(self, ctx: RenderContext, target: Target, rel: str) -> RenderedSet:
        helm = self._helm_tool()
        files = []
        for v in self.options.helm_values:
            candidates = [posixpath.normpath(posixpath.join(rel, v)), posixpath.normpath(v)]
            found = next((c for c in candidates if not c.startswith("..")
                          and ctx.tree.root.joinpath(*c.split("/")).is_file()), None)
            if found is None:
                raise RenderError(f"render {rel or '.'}: values file {v} not found in the chart or the repository")
            files.append(ctx.tree.root.joinpath(*found.split("/")))
        release = posixpath.basename(rel) or "release"
        req = HelmRequest(release=release, namespace=target.namespace, value_files=tuple(files),
                          kube_version=self.options.helm_kube_version)
        try:
            items = render_helm(helm, ctx.tree, rel, req, timeout=self.options.helm_timeout)
        except NotRenderable as exc:
            raise RenderError(f"render {rel or '.'}: {exc}") from None
        objs = [(body, path) for body, path in items if not helmmod.is_hook(body)]
        return RenderedSet(path=rel, commit=ctx.tree.commit, objects=tuple(to_manifests(objs, target.namespace)))

    def _helm_tool(self) -> helmmod.HelmTool:
        if self._helm is None:
            found = helmmod.find_helm(self.options.helm_path)
            if found is None:
                raise ToolError("render a Helm chart: helm not found (install it with "
                                "`gitops-audit tools install helm --dest DIR`)")
            self._helm = found
        return self._helm

    def cache_parts(self, ctx: RenderContext, target: Target) -> tuple[str, ...] | None:
        """The values files and helm's version matter for charts."""
        if not self.options.helm_values:
            return ()
        return ("values", *self.options.helm_values, self._helm.info.version if self._helm else "")

    def tools(self) -> tuple[ToolInfo, ...]:
        """helm, when a chart was rendered."""
        return (self._helm.info,) if self._helm else ()
