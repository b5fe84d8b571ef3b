"""Constants of Flux's API and the marker annotations the Flux renderer writes for the drift stage.

Markers (``gitops-audit.io/*`` annotations on desired bodies) say how Flux treats an object; the
pipeline takes them out again with :func:`split_markers` before comparing (live objects never carry
them) and turns them into drift ignore rules and orphan exclusions:

- ``gitops-audit.io/drift: ignore`` — Flux does not correct this object: its Kustomization is suspended,
  or the object has ``kustomize.toolkit.fluxcd.io/reconcile: disabled`` or ``ssa: Ignore``;
- ``gitops-audit.io/drift: if-not-present`` — ``ssa: IfNotPresent``: only "missing" counts;
- ``gitops-audit.io/drift: merge`` — ``ssa: Merge``: live-only ("added") fields are expected;
- ``gitops-audit.io/drift-reason`` — why, for the report;
- ``gitops-audit.io/helm: rendered|not-rendered`` and ``gitops-audit.io/helm-release: <ns>/<release>`` on
  HelmRelease objects: live objects of a not-rendered release are no orphans.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from auditor.model import Manifest, ObjectRef
from auditor.render.helm import HELM_NAME_LABEL, HELM_NAMESPACE_LABEL

KS_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
SOURCE_GROUP = "source.toolkit.fluxcd.io"
NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"
RECONCILE_KEY = "kustomize.toolkit.fluxcd.io/reconcile"
SSA_KEY = "kustomize.toolkit.fluxcd.io/ssa"
DRIFT_ANNOTATION = "gitops-audit.io/drift"
DRIFT_REASON_ANNOTATION = "gitops-audit.io/drift-reason"
HELM_STATE_ANNOTATION = "gitops-audit.io/helm"
HELM_RELEASE_ANNOTATION = "gitops-audit.io/helm-release"
ENV_LABEL = "gitops-audit.io/env"
REGION_LABEL = "gitops-audit.io/region"
CONTEXT_LABEL = "gitops-audit.io/context"
KS_GROUP_KIND = f"Kustomization.{KS_GROUP}"
HR_GROUP_KIND = f"HelmRelease.{HELM_GROUP}"


def mark(body: Mapping[str, Any], mode: str, reason: str) -> dict[str, Any]:
    """A copy of ``body`` with the drift marker ``mode`` and its reason."""
    out = dict(body)
    meta = dict(out.get("metadata") or {})
    ann = dict(meta.get("annotations") or {})
    ann[DRIFT_ANNOTATION] = mode
    ann[DRIFT_REASON_ANNOTATION] = reason
    meta["annotations"] = ann
    out["metadata"] = meta
    return out


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


@dataclass(frozen=True)
class DriftMarker:
    """How Flux treats one desired object, taken out of its body by :func:`split_markers`."""

    ref: ObjectRef
    mode: str
    """``ignore`` (nothing counts), ``if-not-present`` (only "missing" counts) or ``merge`` ("added" does not count)."""
    reason: str
    fields: tuple[str, ...] = ()
    """Top-level fields of the desired body besides apiVersion/kind (JSON pointers for ``if-not-present``)."""


@dataclass(frozen=True)
class UnrenderedRelease:
    """A HelmRelease whose chart was not rendered: its live objects are not orphans."""

    namespace: str
    """Release namespace (where its objects live)."""
    name: str
    """Helm release name."""
    hr_namespace: str
    hr_name: str

    def owns(self, live: Manifest) -> bool:
        """True when a live object belongs to this release (Helm's annotations or helm-controller's labels)."""
        ann = live.annotations
        if ann.get("meta.helm.sh/release-name") == self.name and \
                ann.get("meta.helm.sh/release-namespace", self.namespace) == self.namespace:
            return True
        labels = live.labels
        return labels.get(HELM_NAME_LABEL) == self.hr_name and \
            labels.get(HELM_NAMESPACE_LABEL) == self.hr_namespace


_MARKER_KEYS = (DRIFT_ANNOTATION, DRIFT_REASON_ANNOTATION, HELM_STATE_ANNOTATION, HELM_RELEASE_ANNOTATION)


def split_markers(
    objects: Iterable[Manifest],
) -> tuple[tuple[Manifest, ...], tuple[DriftMarker, ...], tuple[UnrenderedRelease, ...]]:
    """Desired objects without the ``gitops-audit.io/*`` marker annotations, plus what the markers said.

    The pipeline compares the clean objects (live objects never carry the markers) and turns the
    markers into drift ignore rules / orphan exclusions.
    """
    clean: list[Manifest] = []
    markers: list[DriftMarker] = []
    releases: list[UnrenderedRelease] = []
    for m in objects:
        ann = m.annotations
        if not any(k in ann for k in _MARKER_KEYS):
            clean.append(m)
            continue
        mode = str(ann.get(DRIFT_ANNOTATION) or "")
        if mode:
            fields = tuple(k for k in m.body if k not in ("apiVersion", "kind"))
            markers.append(DriftMarker(m.ref, mode, str(ann.get(DRIFT_REASON_ANNOTATION) or ""), fields))
        if ann.get(HELM_STATE_ANNOTATION) == "not-rendered":
            rel_ns, _, rel = str(ann.get(HELM_RELEASE_ANNOTATION) or "").partition("/")
            releases.append(UnrenderedRelease(rel_ns, rel, m.ref.namespace, m.ref.name))
        body = copy.deepcopy(dict(m.body))
        kept = {k: v for k, v in ann.items() if k not in _MARKER_KEYS}
        if kept:
            body["metadata"]["annotations"] = kept
        else:
            body["metadata"].pop("annotations", None)
        clean.append(replace(m, body=body))
    return tuple(clean), tuple(markers), tuple(releases)


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
