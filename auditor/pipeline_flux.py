"""How Flux's reconciliation settings reach the drift stage (wiring between render/flux and diff).

The Flux renderer marks desired objects (suspended Kustomization, ``reconcile: disabled``,
``ssa: IfNotPresent|Ignore|Merge``, HelmReleases whose chart was not rendered). Here those marks
become drift ignore rules, orphan exclusions and severity adjustments, so the drift engine itself
needs no Flux knowledge and every suppressed difference stays visible with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from auditor.diff.options import DriftOptions, IgnoreRule
from auditor.model import Finding, Manifest, Severity
from auditor.render.flux.build import DriftMarker, UnrenderedRelease, split_markers
from auditor.render.flux.markers import NAME_LABEL, NAMESPACE_LABEL, unpruned_kustomizations


@dataclass(frozen=True)
class FluxView:
    """A rendered target split into what to compare and how Flux treats it."""

    desired: tuple[Manifest, ...]
    markers: tuple[DriftMarker, ...]
    releases: tuple[UnrenderedRelease, ...]
    unpruned: frozenset[tuple[str, str]]


def split(objects: Sequence[Manifest]) -> FluxView:
    """Take the renderer's marks out of the desired objects (live objects never carry them)."""
    desired, markers, releases = split_markers(objects)
    clean = tuple(desired)
    return FluxView(clean, tuple(markers), tuple(releases), unpruned_kustomizations(clean))


def marker_rules(markers: Sequence[DriftMarker]) -> tuple[IgnoreRule, ...]:
    """``ignore`` → the whole object is not corrected by Flux; ``if-not-present`` → only "missing" counts."""
    rules = []
    for mk in markers:
        base = IgnoreRule(
            group=mk.ref.group, kind=mk.ref.kind, namespace=mk.ref.namespace, name=mk.ref.name, id=f"flux: {mk.reason}"
        )
        if mk.mode == "ignore":
            rules.append(base)
        elif mk.mode == "if-not-present":
            rules.append(replace(base, json_pointers=tuple(f"/{f}" for f in mk.fields)))
    return tuple(rules)


def drift_options(base: DriftOptions, view: FluxView, live: Sequence[Manifest]) -> DriftOptions:
    """Drift options for one target: Flux ignore rules added, live objects of unrendered Helm releases excluded."""
    if not (view.markers or view.releases):
        return base
    excluded = tuple(m.ref.subject for m in live if any(r.owns(m) for r in view.releases))
    return replace(
        base,
        ignore=(*base.ignore, *marker_rules(view.markers)),
        extra_system_objects=(*base.extra_system_objects, *excluded),
    )


def adjust_findings(findings: Sequence[Finding], view: FluxView, live: Sequence[Manifest]) -> list[Finding]:
    """``ssa: Merge`` makes live-only fields expected; stale orphans of ``prune: false`` Kustomizations are kept."""
    merge = {mk.ref: mk.reason for mk in view.markers if mk.mode == "merge"}
    live_labels = {m.ref: m.labels for m in live} if view.unpruned else {}
    out = []
    for f in findings:
        if f.rule_id == "drift.added" and f.ref in merge and not f.suppressed_by:
            f = replace(f, suppressed_by=f"flux: {merge[f.ref]}")
        elif f.rule_id == "drift.orphaned.stale" and view.unpruned and f.ref is not None:
            labels = live_labels.get(f.ref, {})
            owner = (labels.get(NAMESPACE_LABEL, ""), labels.get(NAME_LABEL, ""))
            if owner in view.unpruned and f.severity.rank > Severity.LOW.rank:
                note = f"Kustomization {owner[0]}/{owner[1]} has prune: false, so Flux keeps it"
                f = replace(f, severity=Severity.LOW, message=f"{f.message} ({note})")
        out.append(f)
    return out
