"""Constants of Flux's API and how Flux's apply semantics become marker annotations (see :mod:`auditor.render.markers`).

- ``gitops-audit.io/drift: ignore`` — Flux does not correct this object: its Kustomization is suspended,
  or the object has ``kustomize.toolkit.fluxcd.io/reconcile: disabled`` or ``ssa: Ignore``;
- ``gitops-audit.io/drift: if-not-present`` — ``ssa: IfNotPresent``: only "missing" counts;
- ``gitops-audit.io/drift: merge`` — ``ssa: Merge``: live-only ("added") fields are expected;
- ``gitops-audit.io/helm: rendered|not-rendered`` and ``gitops-audit.io/helm-release: <ns>/<release>`` on
  HelmRelease objects: live objects of a not-rendered release are no orphans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from auditor.model import Manifest
from auditor.render.markers import (
    DRIFT_ANNOTATION,
    DRIFT_REASON_ANNOTATION,
    HELM_RELEASE_ANNOTATION,
    HELM_STATE_ANNOTATION,
    DriftMarker,
    UnrenderedRelease,
    mark,
)

__all__ = ["DRIFT_ANNOTATION", "DRIFT_REASON_ANNOTATION", "HELM_RELEASE_ANNOTATION", "HELM_STATE_ANNOTATION",
           "DriftMarker", "UnrenderedRelease", "drift_markers", "mark", "unpruned_kustomizations"]

KS_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
SOURCE_GROUP = "source.toolkit.fluxcd.io"
NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"
RECONCILE_KEY = "kustomize.toolkit.fluxcd.io/reconcile"
SSA_KEY = "kustomize.toolkit.fluxcd.io/ssa"
ENV_LABEL = "gitops-audit.io/env"
REGION_LABEL = "gitops-audit.io/region"
CONTEXT_LABEL = "gitops-audit.io/context"
KS_GROUP_KIND = f"Kustomization.{KS_GROUP}"
HR_GROUP_KIND = f"HelmRelease.{HELM_GROUP}"


def drift_markers(body: Mapping[str, Any], ks_key: str, suspended: bool) -> dict[str, Any]:
    """Translate suspend / reconcile: disabled / ssa into the drift marker annotation."""
    meta = body.get("metadata") or {}
    flags = {**(meta.get("labels") or {}), **(meta.get("annotations") or {})}
    if suspended:
        return mark(body, "ignore", f"Kustomization {ks_key} is suspended")
    if str(flags.get(RECONCILE_KEY, "")).lower() == "disabled":
        return mark(body, "ignore", f"{RECONCILE_KEY}: disabled")
    ssa = str(flags.get(SSA_KEY, ""))
    if ssa.lower() == "ignore":
        return mark(body, "ignore", f"{SSA_KEY}: Ignore")
    if ssa.lower() == "ifnotpresent":
        return mark(body, "if-not-present", f"{SSA_KEY}: IfNotPresent")
    if ssa.lower() == "merge":
        return mark(body, "merge", f"{SSA_KEY}: Merge")
    return dict(body)


def unpruned_kustomizations(objects: Iterable[Manifest]) -> frozenset[tuple[str, str]]:
    """(namespace, name) of desired Flux Kustomizations with ``spec.prune: false``.

    A stale orphan whose ``kustomize.toolkit.fluxcd.io/name``/``namespace`` labels name one of these is
    expected to stay in the cluster (Flux never deletes it): report it at a lower severity.
    """
    out: set[tuple[str, str]] = set()
    for m in objects:
        if m.ref.group == KS_GROUP and m.ref.kind == "Kustomization":
            spec = m.body.get("spec") or {}
            if isinstance(spec, Mapping) and spec.get("prune") is False:
                out.add((m.ref.namespace, m.ref.name))
    return frozenset(out)
