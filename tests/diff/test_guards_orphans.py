"""Orphan classification with weak GitOps labels (``app.kubernetes.io/instance``), through the engine.

A weak label's value can make an orphan "stale" when it is this target's, but never hides an object
as "another GitOps unit's": people and Helm set ``app.kubernetes.io/instance`` by hand. Each test was
written against a deliberate break of :mod:`auditor.diff.orphans` (issue 20).
"""

from __future__ import annotations

from typing import Any

from auditor.diff.engine import diff_target
from auditor.diff.options import DriftOptions
from auditor.diff.orphans import ARGO_TRACKING, find_orphans, gitops_pairs
from auditor.model import LiveState, Manifest, Target

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


# --------------------------------------------------------------------------- find_orphans, table by table
# (cases the mutation run of bench/mutation.py found unguarded)


def obj(kind: str, name: str, ns: str = "shop", api: str = "v1", *, labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None, **top: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": api, "kind": kind, "metadata": meta, **top}


def key_of(body: dict[str, Any]) -> tuple[str, str, str, str]:
    m = to_manifest(body)
    return (m.ref.group, m.ref.kind, m.ref.namespace, m.ref.name)


def find(desired: list[dict[str, Any]], live: list[dict[str, Any]], extra: tuple[str, ...] = (),
         labels: tuple[str, ...] = (INSTANCE, FLUX_NAME, FLUX_NS)) -> dict[str, tuple[bool, tuple]]:
    desired_keys = {key_of(b) for b in desired}
    live_map: dict[tuple[str, str, str, str], Manifest] = {key_of(b): to_manifest(b) for b in live}
    matched = [k for k in live_map if k in desired_keys]
    got = {o.ref.subject: (o.stale, o.labels) for o in find_orphans(desired_keys, live_map, matched, labels, extra)}
    # The engine hands over the matched objects' markers it gathered while diffing them: same answer.
    pairs: set[tuple[str, str]] = set()
    for k in matched:
        pairs |= gitops_pairs(live_map[k], labels)
    given = find_orphans(desired_keys, live_map, matched, labels, extra, pairs)
    assert {o.ref.subject: (o.stale, o.labels) for o in given} == got
    return got


SHOP_DESIRED = [obj("Service", "web", spec={"ports": [{"port": 80}]}), obj("Namespace", "tools", ns=""),
                obj("ConfigMap", "kept")]


def test_system_objects_are_not_orphans_and_look_alikes_are() -> None:
    sts = obj("StatefulSet", "db", api="apps/v1", spec={"volumeClaimTemplates": [{"metadata": {"name": "data"}}]})
    deploy_with_templates = obj("Deployment", "db2", api="apps/v1",
                                spec={"volumeClaimTemplates": [{"metadata": {"name": "data"}}]})
    live = [
        *SHOP_DESIRED, sts, deploy_with_templates,
        # system: never orphans
        obj("ServiceAccount", "default"), obj("ConfigMap", "kube-root-ca.crt"), obj("Endpoints", "web"),
        obj("Secret", "sh.helm.release.v1.web.v1", type="helm.sh/release.v1"),
        obj("Secret", "builder-token", type="kubernetes.io/service-account-token",
            annotations={"kubernetes.io/service-account.uid": "1234"}),
        obj("Secret", "shop-tls", type="kubernetes.io/tls", annotations={"cert-manager.io/certificate-name": "x"}),
        obj("Role", "system:controller:x", api="rbac.authorization.k8s.io/v1"),
        obj("Role", "admin", api="rbac.authorization.k8s.io/v1",
            labels={"kubernetes.io/bootstrapping": "rbac-defaults"}),
        obj("ConfigMap", "leader", annotations={"control-plane.alpha.kubernetes.io/leader": "{}"}),
        obj("PersistentVolumeClaim", "data-db-0"), obj("Event", "e1"), obj("Lease", "l1", api="coordination.k8s.io/v1"),
        # look-alikes: orphans
        obj("ServiceAccount", "builder"), obj("ConfigMap", "default"), obj("Endpoints", "gone"),
        obj("ConfigMap", "web"),
        obj("Secret", "hand-token", type="kubernetes.io/service-account-token"),
        obj("Secret", "plain", type="Opaque"),
        obj("ConfigMap", "cert", annotations={"cert-manager.io/certificate-name": "x"}),
        obj("ConfigMap", "release", type="helm.sh/release.v1"),
        obj("Role", "app", api="rbac.authorization.k8s.io/v1"),
        obj("ConfigMap", "system:not-rbac"),
        obj("PersistentVolumeClaim", "data-db-x"), obj("PersistentVolumeClaim", "data-other-0"),
        obj("PersistentVolumeClaim", "data-db2-0"), obj("ConfigMap", "data-db-0"),
        obj("PersistentVolumeClaim", "data-db-0", ns="tools"),  # the StatefulSet is in shop
    ]
    got = find([*SHOP_DESIRED, sts, deploy_with_templates], live)
    assert set(got) == {
        "ServiceAccount/shop/builder", "ConfigMap/shop/default", "Endpoints/shop/gone", "ConfigMap/shop/web",
        "Secret/shop/hand-token", "Secret/shop/plain", "ConfigMap/shop/cert", "ConfigMap/shop/release",
        "Role/shop/app", "ConfigMap/shop/system:not-rbac", "PersistentVolumeClaim/shop/data-db-x",
        "PersistentVolumeClaim/shop/data-other-0", "PersistentVolumeClaim/shop/data-db2-0",
        "ConfigMap/shop/data-db-0", "PersistentVolumeClaim/tools/data-db-0",
    }
    assert all(v == (False, ()) for v in got.values())  # unmanaged: stale is False, no labels


def test_system_namespaces_only_as_namespaces() -> None:
    desired = [obj("Namespace", "shop", ns=""), obj("ConfigMap", "kept")]
    live = [*desired, obj("Namespace", "kube-system", ns="", labels={INSTANCE: "shop"}),
            obj("Namespace", "old", ns="", labels={INSTANCE: "shop"}),
            obj("ConfigMap", "kube-system", labels={INSTANCE: "shop"})]
    live[0]["metadata"]["labels"] = {INSTANCE: "shop"}
    assert find(desired, live) == {"Namespace/old": (True, ((INSTANCE, "shop"),)),
                                   "ConfigMap/shop/kube-system": (True, ((INSTANCE, "shop"),))}


def test_scope_is_the_namespaces_git_puts_objects_in_and_declares() -> None:
    desired = [obj("Namespace", "tools", ns=""), obj("ConfigMap", "kept")]
    live = [
        *desired,
        obj("ConfigMap", "x", ns="tools"),  # declared namespace, nothing of git's in it yet
        obj("ConfigMap", "y", ns="kept"),  # a namespace named like a desired ConfigMap: out of scope
        obj("ConfigMap", "z", ns="elsewhere"),
        obj("ClusterRole", "undeclared", ns="", api="rbac.authorization.k8s.io/v1"),
    ]
    assert set(find(desired, live)) == {"ConfigMap/tools/x"}


def test_every_skip_moves_on_to_the_next_object() -> None:
    # Objects that are skipped for each reason come first; the orphan last. Each skip must go on.
    desired = [obj("ConfigMap", "kept", labels={FLUX_NAME: "shop", FLUX_NS: "flux-system"})]
    owned = obj("ConfigMap", "owned")
    owned["metadata"]["ownerReferences"] = [{"kind": "X", "name": "y", "uid": "1"}]
    live = [
        obj("ConfigMap", "far", ns="elsewhere"),
        obj("ClusterRole", "undeclared", ns="", api="rbac.authorization.k8s.io/v1"),
        desired[0],
        owned,
        obj("ServiceAccount", "default"),
        obj("ConfigMap", "theirs", labels={FLUX_NAME: "billing", FLUX_NS: "flux-system"}),
        obj("Namespace", "team-x", ns=""),
        obj("ConfigMap", "hand"),
    ]
    assert find(desired, live) == {"ConfigMap/shop/hand": (False, ())}


def test_argo_tracking_app_is_the_part_before_the_first_colon() -> None:
    def tracked(kind: str, name: str, app: str, api: str = "v1") -> dict[str, Any]:
        group = api.rpartition("/")[0] if "/" in api else ""
        return obj(kind, name, api=api, annotations={ARGO_TRACKING: f"{app}:{group}/{kind}:shop/{name}"})

    desired = [obj("Deployment", "web", api="apps/v1")]
    live = [tracked("Deployment", "web", "shop", "apps/v1"), tracked("ConfigMap", "old", "shop"),
            tracked("ConfigMap", "theirs", "billing")]
    assert find(desired, live) == {"ConfigMap/shop/old": (True, ((ARGO_TRACKING, "shop"),))}


def test_extra_system_objects_by_glob() -> None:
    live = [obj("ConfigMap", "kept"), obj("ConfigMap", "generated-1"), obj("ConfigMap", "hand"),
            obj("ClusterRole", "cr", ns="", api="rbac.authorization.k8s.io/v1")]
    desired = [obj("ConfigMap", "kept"), obj("ClusterRole", "mine", ns="", api="rbac.authorization.k8s.io/v1")]
    assert set(find(desired, live, extra=("ConfigMap/shop/generated-*", "ClusterRole/c?"))) == {"ConfigMap/shop/hand"}
    assert set(find(desired, live)) == {"ConfigMap/shop/hand", "ConfigMap/shop/generated-1", "ClusterRole/cr"}
