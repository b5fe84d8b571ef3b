"""Orphan classification with weak GitOps labels (``app.kubernetes.io/instance``), through the engine.

A weak label's value can make an orphan "stale" when it is this target's, but never hides an object
as "another GitOps unit's": people and Helm set ``app.kubernetes.io/instance`` by hand. Each test was
written against a deliberate break of :mod:`auditor.diff.orphans` (issue 20).
"""

from __future__ import annotations

from typing import Any

from auditor.diff.engine import diff_target
from auditor.diff.options import DriftOptions
from auditor.model import LiveState, Target

from .corpus_support import to_manifest

INSTANCE = "app.kubernetes.io/instance"
FLUX_NAME = "kustomize.toolkit.fluxcd.io/name"
FLUX_NS = "kustomize.toolkit.fluxcd.io/namespace"


def cm(name: str, labels: dict[str, str] | None = None, kind: str = "ConfigMap") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop"}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": kind, "metadata": meta, "data": {"k": "v"}}


def orphans(desired: list[dict[str, Any]], live: list[dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    out = diff_target(Target("t", namespace="shop"), [to_manifest(b) for b in desired],
                      LiveState(tuple(to_manifest(b) for b in live), "x"), DriftOptions())
    return {f.ref.name: (f.rule_id, f.details.get("labels")) for f in out.findings
            if f.rule_id.startswith("drift.orphaned")}


def test_weak_label_with_this_targets_value_is_stale() -> None:
    kept = cm("kept", {INSTANCE: "shop"})
    got = orphans([cm("kept")], [kept, cm("old", {INSTANCE: "shop"})])
    assert {k: v[0] for k, v in got.items()} == {"old": "drift.orphaned.stale"}


def test_weak_label_with_a_foreign_value_is_unmanaged_and_still_reported() -> None:
    kept = cm("kept", {INSTANCE: "shop"})
    got = orphans([cm("kept")], [kept, cm("theirs", {INSTANCE: "billing"}), cm("old", {INSTANCE: "shop"})])
    assert {k: v[0] for k, v in got.items()} == {"theirs": "drift.orphaned.unmanaged", "old": "drift.orphaned.stale"}


def test_strong_label_with_a_foreign_value_belongs_to_that_unit() -> None:
    # Contrast with the weak label above: Flux's own labels do identify another Kustomization.
    kept = cm("kept", {FLUX_NAME: "shop", FLUX_NS: "flux-system"})
    other = cm("other", {FLUX_NAME: "billing", FLUX_NS: "flux-system"})
    got = orphans([cm("kept")], [kept, other, cm("old", {FLUX_NAME: "shop", FLUX_NS: "flux-system"})])
    assert {k: v[0] for k, v in got.items()} == {"old": "drift.orphaned.stale"}


def test_strong_labelled_orphan_when_no_matched_object_carries_labels_is_stale() -> None:
    # Nothing matched carries GitOps labels (e.g. the snapshot stripped them, or every object was
    # renamed in git): an orphan with applier labels cannot be proved foreign, so it is stale, not dropped.
    got = orphans([cm("kept")], [cm("kept"), cm("old", {FLUX_NAME: "shop", FLUX_NS: "flux-system"})])
    assert {k: v[0] for k, v in got.items()} == {"old": "drift.orphaned.stale"}


def test_weak_labelled_orphan_when_no_matched_object_carries_labels_is_unmanaged() -> None:
    got = orphans([cm("kept")], [cm("kept"), cm("hand", {INSTANCE: "shop"})])
    assert {k: v[0] for k, v in got.items()} == {"hand": "drift.orphaned.unmanaged"}


def test_strong_label_decides_over_a_foreign_weak_one() -> None:
    kept = cm("kept", {FLUX_NAME: "shop", FLUX_NS: "flux-system", INSTANCE: "shop"})
    mixed = cm("old", {FLUX_NAME: "shop", FLUX_NS: "flux-system", INSTANCE: "something-else"})
    got = orphans([cm("kept")], [kept, mixed])
    assert {k: v[0] for k, v in got.items()} == {"old": "drift.orphaned.stale"}


def test_namespace_orphans_only_when_this_targets() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    kept = cm("kept", {INSTANCE: "shop"})
    stale_ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop-old", "labels": {INSTANCE: "shop"}}}
    foreign_ns = {"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": "team-x", "labels": {INSTANCE: "billing"}}}
    got = orphans([ns, cm("kept")], [ns, kept, stale_ns, foreign_ns])
    assert {k: v[0] for k, v in got.items()} == {"shop-old": "drift.orphaned.stale"}
