"""The target-source interface: every way a fleet describes desired state (DESIGN §1/§2).

A target source discovers targets in a repository, renders one target's desired objects with git
provenance (plus what it could not render, as :class:`~auditor.model.CoverageGap`), and says how its
controller applies them (:class:`~auditor.render.controller.ControllerView`). Plain paths (kustomize
overlays, Helm charts, directories of manifests), Flux and Argo CD implement it; the pipeline only
calls this interface and never names an implementation.

Cache hooks: :meth:`TargetSource.cache_parts` names what besides the repository tree determines a render
(options, tool versions), and :meth:`TargetSource.cache_valid` checks that a cached render is still
current (the other branches and repositories it read, recorded in ``RenderedSet.sources``, have not
moved). A source whose renders must never be cached returns ``None`` from ``cache_parts``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

from auditor.model import RenderedSet, Target, ToolInfo
from auditor.render.controller import ControllerView, unmarked
from auditor.render.kustomize.tree import PreparedTree
from auditor.render.tools import KustomizeTool
from auditor.repo.git import RepoHandle
from auditor.repo.options import SourceOptions


@dataclass(frozen=True)
class RenderContext:
    """A prepared repository at the audited commit and what rendering may use."""

    tool: KustomizeTool
    tree: PreparedTree
    options: SourceOptions
    handle: RepoHandle | None = None
    """The opened repository (reads other refs of the same repository); None for working-tree-only callers."""
    url: str = ""
    """The repository's URL or path for display (credentials removed)."""
    aliases: tuple[str, ...] = ()
    """Other URLs under which sources name the audited repository (its ``origin``, ``source.repo_urls``)."""
    ref: str = ""
    """The ref the run audits, as configured."""


@dataclass(frozen=True)
class Discovery:
    """Targets a source found, and the ones it could not read (audited as not audited, with the reason)."""

    targets: tuple[Target, ...] = ()
    failed: tuple[tuple[Target, str], ...] = ()


class TargetSource(abc.ABC):
    """One way to describe desired state: discover targets, render one, say how its controller applies it."""

    kind: ClassVar[str] = ""
    """Short name (``path``, ``flux``, ``argocd``): part of render keys and cache keys."""

    def configured(self) -> bool:
        """True when the config asks this source to discover targets in the run's repository."""
        return False

    def discover(self, ctx: RenderContext, defaults: Target) -> Discovery:
        """Targets in the repository at the audited commit (``defaults`` gives repo, ref, namespace)."""
        del ctx, defaults
        return Discovery()

    @abc.abstractmethod
    def handles(self, target: Target) -> bool:
        """True when this source renders ``target``."""

    @abc.abstractmethod
    def render(self, ctx: RenderContext, target: Target) -> RenderedSet:
        """Desired objects of ``target``; raises RenderError/SourceError/ToolError when nothing renders."""

    def render_key(self, target: Target) -> str:
        """What distinguishes renders of one prepared repository (targets with equal keys share a render)."""
        return f"{target.path}\0{target.namespace}"

    def cache_parts(self, ctx: RenderContext, target: Target) -> tuple[str, ...] | None:
        """Strings that, with the repository tree, determine the render; None: never cache it."""
        del ctx, target
        return ()

    def cache_valid(self, ctx: RenderContext, rendered: RenderedSet) -> bool:
        """True when a cached render is still current (the revisions it read have not moved)."""
        del ctx
        return not rendered.sources

    def controller(self, rendered: RenderedSet) -> ControllerView:
        """How the target's controller applies the rendered objects (markers taken out)."""
        return unmarked(rendered.objects)

    def tools(self) -> tuple[ToolInfo, ...]:
        """Tools this source used so far (helm, jsonnet…), for the report."""
        return ()


def source_for(sources: tuple[TargetSource, ...], target: Target) -> TargetSource:
    """The first source that handles ``target`` (the plain path source handles every other target)."""
    for s in sources:
        if s.handles(target):
            return s
    raise LookupError(f"no target source renders target {target.name}")
