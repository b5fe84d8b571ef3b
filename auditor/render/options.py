"""Options of rendering that are not one target source's (built by ``config.py``; standard library only)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AcceptRule:
    """One ``accept_unrendered`` entry: a part of the desired state the config knowingly leaves unaudited.

    Empty selectors match anything; ``kind`` is the object kind (``HelmRelease``, ``Kustomization``,
    ``Application``…) or its ``Kind.group``, ``name`` a glob over ``namespace/name`` (or the bare name),
    ``target`` a glob over target names. The reason is shown in every report next to what it accepts.
    """

    reason: str
    kind: str = ""
    name: str = ""
    target: str = ""
    reason_contains: str = ""
    """Only gaps whose explanation contains this text (e.g. ``remote chart``)."""


@dataclass(frozen=True)
class PathOptions:
    """How plain path targets render a Helm chart directory (ad-hoc ``--path`` to a chart)."""

    helm_values: tuple[str, ...] = ()
    """Values files (``--values``), relative to the chart directory or the repository root."""
    helm_path: str = ""
    helm_kube_version: str = ""
    helm_timeout: float = 120.0
