"""How a GitOps controller applies desired objects, written as marker annotations on rendered bodies.

Every target source (Flux, Argo CD) marks the objects it renders with ``gitops-audit.io/*`` annotations
that say how its controller treats them; :func:`split_markers` takes them out again before comparing
(live objects never carry them) and :mod:`auditor.render.controller` turns them into a
:class:`~auditor.render.controller.ControllerView` the pipeline hands to the drift stage. Markers live in
the bodies so a cached render keeps them.

- ``gitops-audit.io/drift``: ``ignore`` (the controller does not correct the object: suspended,
  reconciliation disabled, ``ssa: Ignore``, a sync hook), ``if-not-present`` (only "missing" counts),
  ``merge`` (live-only, "added", fields are expected);
- ``gitops-audit.io/drift-reason``: why, for the report;
- ``gitops-audit.io/name-pattern``: for a marked object created with ``generateName`` (a hook), the glob
  its live instances match;
- ``gitops-audit.io/helm`` / ``gitops-audit.io/helm-release``: on a HelmRelease whose chart was not
  rendered, the release (its live objects are no orphans);
- ``gitops-audit.io/unit``: the GitOps unit that applies the object (``argocd:<app>``), with
  ``gitops-audit.io/unit-flags`` (``self-heal``, ``no-prune``) that describe that unit.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from auditor.model import Manifest, ObjectRef

DRIFT_ANNOTATION = "gitops-audit.io/drift"
DRIFT_REASON_ANNOTATION = "gitops-audit.io/drift-reason"
NAME_PATTERN_ANNOTATION = "gitops-audit.io/name-pattern"
HELM_STATE_ANNOTATION = "gitops-audit.io/helm"
HELM_RELEASE_ANNOTATION = "gitops-audit.io/helm-release"
UNIT_ANNOTATION = "gitops-audit.io/unit"
UNIT_FLAGS_ANNOTATION = "gitops-audit.io/unit-flags"
HELM_NAME_LABEL = "helm.toolkit.fluxcd.io/name"
HELM_NAMESPACE_LABEL = "helm.toolkit.fluxcd.io/namespace"

MARKER_KEYS = (DRIFT_ANNOTATION, DRIFT_REASON_ANNOTATION, NAME_PATTERN_ANNOTATION, HELM_STATE_ANNOTATION,
               HELM_RELEASE_ANNOTATION, UNIT_ANNOTATION, UNIT_FLAGS_ANNOTATION)


def annotate(body: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``body`` with ``values`` added to its annotations (metadata copied, the rest shared)."""
    out = dict(body)
    meta = dict(out.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), **values}
    out["metadata"] = meta
    return out


def mark(body: Mapping[str, Any], mode: str, reason: str, name_pattern: str = "") -> dict[str, Any]:
    """A copy of ``body`` with the drift marker ``mode`` and its reason."""
    values = {DRIFT_ANNOTATION: mode, DRIFT_REASON_ANNOTATION: reason}
    if name_pattern:
        values[NAME_PATTERN_ANNOTATION] = name_pattern
    return annotate(body, values)


@dataclass(frozen=True)
class DriftMarker:
    """How the controller treats one desired object, taken out of its body by :func:`split_markers`."""

    ref: ObjectRef
    mode: str
    """``ignore`` (nothing counts), ``if-not-present`` (only "missing" counts) or ``merge`` ("added" does not count)."""
    reason: str
    fields: tuple[str, ...] = ()
    """Top-level fields of the desired body besides apiVersion/kind (JSON pointers for ``if-not-present``)."""
    name_pattern: str = ""
    """Glob of live names (``generateName`` objects); empty: the object's own name."""


@dataclass(frozen=True)
class UnrenderedRelease:
    """A Helm release whose chart was not rendered: its live objects are not orphans."""

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


@dataclass(frozen=True)
class Marks:
    """What :func:`split_markers` found: clean desired objects and the controller's semantics."""

    desired: tuple[Manifest, ...]
    markers: tuple[DriftMarker, ...] = ()
    releases: tuple[UnrenderedRelease, ...] = ()
    units: Mapping[ObjectRef, str] = field(default_factory=dict)
    """Desired object → the GitOps unit that applies it (objects of marked sources only)."""
    unit_flags: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Unit → its flags (``self-heal``, ``no-prune``)."""


def split_markers(objects: Iterable[Manifest]) -> Marks:
    """Desired objects without the ``gitops-audit.io/*`` marker annotations, plus what the markers said."""
    clean: list[Manifest] = []
    markers: list[DriftMarker] = []
    releases: list[UnrenderedRelease] = []
    units: dict[ObjectRef, str] = {}
    flags: dict[str, frozenset[str]] = {}
    for m in objects:
        ann = m.annotations
        if not any(k in ann for k in MARKER_KEYS):
            clean.append(m)
            continue
        mode = str(ann.get(DRIFT_ANNOTATION) or "")
        if mode:
            fields = tuple(k for k in m.body if k not in ("apiVersion", "kind"))
            markers.append(DriftMarker(m.ref, mode, str(ann.get(DRIFT_REASON_ANNOTATION) or ""), fields,
                                       str(ann.get(NAME_PATTERN_ANNOTATION) or "")))
        if ann.get(HELM_STATE_ANNOTATION) == "not-rendered":
            rel_ns, _, rel = str(ann.get(HELM_RELEASE_ANNOTATION) or "").partition("/")
            releases.append(UnrenderedRelease(rel_ns, rel, m.ref.namespace, m.ref.name))
        unit = str(ann.get(UNIT_ANNOTATION) or "")
        if unit:
            units[m.ref] = unit
            flags[unit] = frozenset(f for f in str(ann.get(UNIT_FLAGS_ANNOTATION) or "").split(",") if f)
        body = copy.deepcopy(dict(m.body))
        kept = {k: v for k, v in ann.items() if k not in MARKER_KEYS}
        if kept:
            body["metadata"]["annotations"] = kept
        else:
            body["metadata"].pop("annotations", None)
        clean.append(replace(m, body=body))
    return Marks(tuple(clean), tuple(markers), tuple(releases), units, flags)
