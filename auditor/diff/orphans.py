"""Orphans: live objects in the target's scope that git does not hold.

Scope is the namespaces the target puts objects in (plus Namespaces it declares) and the
cluster-scoped kinds it declares. Objects with ownerReferences (made by a controller) and
well-known system objects are never orphans. The rest is "stale" when it carries this target's
GitOps labels (it was applied from git, then removed from git and not pruned) and "unmanaged"
otherwise (created by hand). Objects carrying *another* GitOps unit's labels belong to that unit.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

from auditor.model import Manifest, ObjectRef

WEAK_GITOPS_LABELS = frozenset({"app.kubernetes.io/instance"})
"""Labels users and Helm also set by hand: they can make an orphan "stale" when their value is
this target's, but never mark an object as belonging to another GitOps unit."""

_PUBLISHED_CONFIGMAPS = frozenset({"kube-root-ca.crt", "istio-ca-root-cert", "openshift-service-ca.crt"})

SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})

_ALWAYS_SYSTEM_KINDS = frozenset(
    {
        ("", "Event"),
        ("events.k8s.io", "Event"),
        ("coordination.k8s.io", "Lease"),
        ("apps", "ControllerRevision"),
        ("discovery.k8s.io", "EndpointSlice"),
        ("", "ComponentStatus"),
        ("", "Node"),
        ("metrics.k8s.io", "PodMetrics"),
        ("authorization.k8s.io", "SelfSubjectAccessReview"),
    }
)


@dataclass(frozen=True)
class Orphan:
    """A live object not in git, classified."""

    manifest: Manifest
    ref: ObjectRef
    stale: bool
    labels: tuple[tuple[str, str], ...]
    """The GitOps label pairs that made it stale."""


ARGO_TRACKING = "argocd.argoproj.io/tracking-id"
"""Argo CD annotation tracking (``<app>:<group>/<Kind>:<namespace>/<name>``): its app is a GitOps unit."""


def gitops_pairs(m: Manifest, keys: Sequence[str]) -> set[tuple[str, str]]:
    """GitOps unit markers on an object: (label, value) pairs, plus Argo CD's tracked app name."""
    # Manifest.labels/.annotations spelled out: this runs on every matched object of a target.
    meta = m.body.get("metadata") or {}
    labels = meta.get("labels") or {}
    pairs = {(k, str(labels[k])) for k in keys if k in labels} if labels else set()
    tracking = (meta.get("annotations") or {}).get(ARGO_TRACKING)
    if isinstance(tracking, str) and ":" in tracking:
        pairs.add((ARGO_TRACKING, tracking.split(":", 1)[0]))
    return pairs


def find_orphans(
    desired_keys: Set[tuple[str, str, str, str]],
    live: Mapping[tuple[str, str, str, str], Manifest],
    matched: Iterable[tuple[str, str, str, str]],
    gitops_labels: Sequence[str],
    extra_system: Sequence[str] = (),
    target_pairs: set[tuple[str, str]] | None = None,
) -> list[Orphan]:
    """Orphans among ``live``, keyed like ``desired_keys`` by (group, kind, namespace, name).

    Each live Manifest's ``ref`` must be its identity (namespace defaulted). ``target_pairs``: the
    :func:`gitops_pairs` of the ``matched`` objects, when the caller gathered them already.
    """
    namespaces = {k[2] for k in desired_keys if k[2]}
    namespaces |= {k[3] for k in desired_keys if k[0] == "" and k[1] == "Namespace"}
    cluster_kinds = {(k[0], k[1]) for k in desired_keys if not k[2]}
    if target_pairs is None:
        target_pairs = set()
        for key in matched:
            m = live.get(key)
            if m is not None:
                target_pairs |= gitops_pairs(m, gitops_labels)
    strong = [*(k for k in gitops_labels if k not in WEAK_GITOPS_LABELS), ARGO_TRACKING]

    services = {(k[2], k[3]) for keys in (desired_keys, live) for k in keys if k[1] == "Service" and k[0] == ""}
    sts_prefixes = _statefulset_claim_prefixes(live.values())

    out: list[Orphan] = []
    for key, m in live.items():
        if key in desired_keys:
            continue  # nearly every live object of a target: one set lookup, before the scope checks
        group, kind, namespace, _ = key
        is_ns = kind == "Namespace" and group == ""
        if namespace:
            if namespace not in namespaces:
                continue
        elif not is_ns and (group, kind) not in cluster_kinds:
            continue
        ref = m.ref
        meta = m.body.get("metadata") or {}
        if meta.get("ownerReferences"):
            continue
        if is_system_object(ref, m, services, sts_prefixes) or _extra_system(ref, extra_system):
            continue
        pairs = gitops_pairs(m, gitops_labels)
        strong_pairs = {p for p in pairs if p[0] in strong}
        if strong_pairs:
            # Flux identifies its unit by name *and* namespace: all of them must be this target's.
            if not target_pairs or strong_pairs <= target_pairs:
                out.append(Orphan(m, ref, True, tuple(sorted(strong_pairs))))
            # else: applied by another GitOps unit (another Kustomization/Application)
            continue
        weak_pairs = pairs & target_pairs
        if weak_pairs:
            out.append(Orphan(m, ref, True, tuple(sorted(weak_pairs))))
            continue
        if is_ns:
            continue  # a namespace not in git is reported only when it is this target's (stale)
        out.append(Orphan(m, ref, False, ()))
    out.sort(key=lambda o: (o.ref.group, o.ref.kind, o.ref.namespace, o.ref.name))
    return out


def is_system_object(
    ref: ObjectRef, m: Manifest, services: set[tuple[str, str]], sts_prefixes: set[tuple[str, str]]
) -> bool:
    """Well-known objects that Kubernetes or its controllers create in every namespace/cluster."""
    if (ref.group, ref.kind) in _ALWAYS_SYSTEM_KINDS:
        return True
    if ref.group == "" and ref.kind == "ConfigMap" and ref.name in _PUBLISHED_CONFIGMAPS:
        return True  # published into every namespace by a controller (root CA bundles)
    if ref.group == "" and ref.kind == "ServiceAccount" and ref.name == "default":
        return True  # created in every namespace by the serviceaccount controller
    if ref.group == "" and ref.kind == "Endpoints" and (ref.namespace, ref.name) in services:
        return True  # maintained by the endpoints controller for each Service
    if ref.group == "" and ref.kind == "Namespace" and ref.name in SYSTEM_NAMESPACES:
        return True
    if ref.group == "" and ref.kind == "Secret":
        stype = m.body.get("type", "")
        if stype == "helm.sh/release.v1":
            return True  # Helm's release storage
        if stype == "kubernetes.io/service-account-token" and "kubernetes.io/service-account.uid" in m.annotations:
            return True  # legacy token populated by the token controller
        if "cert-manager.io/certificate-name" in m.annotations:
            return True  # issued by cert-manager for a Certificate (the Certificate is what git holds)
    if ref.group == "rbac.authorization.k8s.io" and (
        ref.name.startswith("system:") or m.labels.get("kubernetes.io/bootstrapping") == "rbac-defaults"
    ):
        return True  # bootstrap RBAC of the API server
    if "control-plane.alpha.kubernetes.io/leader" in m.annotations:
        return True  # old-style leader election record
    if ref.group == "" and ref.kind == "PersistentVolumeClaim":
        for ns, prefix in sts_prefixes:
            if ns == ref.namespace and ref.name.startswith(prefix) and ref.name[len(prefix):].isdigit():
                return True  # created by a StatefulSet from its volumeClaimTemplates
    return False


def _statefulset_claim_prefixes(objects: Iterable[Manifest]) -> set[tuple[str, str]]:
    """(namespace, ``<template>-<statefulset>-``) for every StatefulSet volumeClaimTemplate."""
    out: set[tuple[str, str]] = set()
    for m in objects:
        if m.ref.group == "apps" and m.ref.kind == "StatefulSet":
            for tmpl in (m.body.get("spec") or {}).get("volumeClaimTemplates") or ():
                name = (tmpl.get("metadata") or {}).get("name")
                if name:
                    out.add((m.ref.namespace, f"{name}-{m.ref.name}-"))
    return out


def _extra_system(ref: ObjectRef, patterns: Sequence[str]) -> bool:
    subject = ref.subject
    return any(fnmatch.fnmatchcase(subject, p) for p in patterns)
