"""The run's target sources, in the order they claim targets (the plain path source takes the rest)."""

from __future__ import annotations

from auditor.render.argocd.options import ArgoOptions
from auditor.render.argocd.source import ArgoSource
from auditor.render.flux.options import FluxOptions
from auditor.render.flux.source import FluxSource
from auditor.render.options import PathOptions
from auditor.render.path_source import PathSource
from auditor.render.source import TargetSource


def target_sources(flux: FluxOptions, argocd: ArgoOptions, paths: PathOptions) -> tuple[TargetSource, ...]:
    """Flux and Argo CD claim the targets they discovered; every other target is a plain path."""
    return (FluxSource(flux), ArgoSource(argocd), PathSource(paths))
