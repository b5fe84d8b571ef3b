"""Facts about built-in Kubernetes kinds that every stage needs (scope, plural names)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Built-in cluster-scoped kinds, keyed by (group, kind). Custom resources are resolved through
# discovery or CRD schemas; a kind absent here is treated as namespaced, which is the API's default.
CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("networking.k8s.io", "IngressClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    }
)


def is_namespaced(
    group: str, kind: str, extra_cluster_scoped: frozenset[tuple[str, str]] = frozenset()
) -> bool:
    """True unless the kind is a known cluster-scoped kind (built-in or given)."""
    key = (group, kind)
    return key not in CLUSTER_SCOPED and key not in extra_cluster_scoped


_IRREGULAR_PLURALS = {
    "Endpoints": "endpoints",
    "NetworkPolicy": "networkpolicies",
    "PodSecurityPolicy": "podsecuritypolicies",
    "PriorityClass": "priorityclasses",
    "StorageClass": "storageclasses",
    "IngressClass": "ingressclasses",
    "RuntimeClass": "runtimeclasses",
}


def guess_plural(kind: str) -> str:
    """Resource name for a kind when discovery is not available (snapshots, RBAC docs)."""
    if kind in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[kind]
    lower = kind.lower()
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def pod_spec(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec inside a workload (Pod, Deployment-like templates, CronJob job templates), if any."""
    kind = body.get("kind")
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        return None
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template") if isinstance(spec, Mapping) else None
    inner = template.get("spec") if isinstance(template, Mapping) else None
    return inner if isinstance(inner, Mapping) else None


def container_images(body: Mapping[str, Any]) -> dict[str, str]:
    """Container name → image for every (init) container of a workload; empty for other kinds."""
    spec = pod_spec(body)
    if spec is None:
        return {}
    out: dict[str, str] = {}
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or ():
            if isinstance(c, Mapping) and c.get("name"):
                out[str(c["name"])] = str(c.get("image") or "")
    return out
