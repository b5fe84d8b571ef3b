"""Severity of each drift, from one documented table (README.md § Severity).

The first matching row wins. Paths are matched on their map keys only (list-item segments such
as ``[name=web]`` are skipped), so ``spec.template.spec.containers[name=web].image`` matches the
``image`` row.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor.model import DriftKind, ObjectRef, Severity

RBAC_GROUP = "rbac.authorization.k8s.io"

_SECURITY_KEYS = frozenset(
    {
        "securityContext",
        "privileged",
        "allowPrivilegeEscalation",
        "capabilities",
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "hostUsers",
        "hostPath",
        "runAsUser",
        "runAsNonRoot",
    }
)
_RBAC_FIELDS = frozenset({"rules", "subjects", "roleRef", "aggregationRule"})
_CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})
_ORPHAN_CRITICAL = frozenset(
    {
        (RBAC_GROUP, "Role"),
        (RBAC_GROUP, "ClusterRole"),
        (RBAC_GROUP, "RoleBinding"),
        (RBAC_GROUP, "ClusterRoleBinding"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    }
)

SEVERITY_TABLE: tuple[tuple[str, Severity], ...] = (
    ("RBAC rules, subjects, roleRef, aggregationRule", Severity.CRITICAL),
    ("securityContext, privileged, capabilities, host namespaces, hostPath, runAs*", Severity.CRITICAL),
    ("a whole container added or removed", Severity.HIGH),
    ("image", Severity.HIGH),
    ("serviceAccountName, automountServiceAccountToken", Severity.HIGH),
    ("NetworkPolicy spec", Severity.HIGH),
    ("Secret data", Severity.HIGH),
    ("resources (requests/limits), replicas", Severity.MEDIUM),
    ("labels, annotations (object and pod template)", Severity.LOW),
    ("any other field", Severity.MEDIUM),
)
"""Field drift (modified or added): rows in order, first match wins. Documentation of field_severity."""

OBJECT_SEVERITY: tuple[tuple[str, Severity], ...] = (
    ("missing object", Severity.HIGH),
    ("orphaned RBAC object or admission webhook configuration", Severity.CRITICAL),
    ("orphaned object (stale or unmanaged)", Severity.MEDIUM),
)


def field_severity(ref: ObjectRef, path: Sequence[str]) -> Severity:
    """Severity of a field-level drift at ``path`` on ``ref`` (see SEVERITY_TABLE)."""
    keys = [s for s in path if not s.startswith("[")]
    if ref.group == RBAC_GROUP and keys and keys[0] in _RBAC_FIELDS:
        return Severity.CRITICAL
    if any(k in _SECURITY_KEYS for k in keys):
        return Severity.CRITICAL
    if path and path[-1].startswith("[") and len(path) > 1 and path[-2] in _CONTAINER_LISTS:
        return Severity.HIGH
    last = keys[-1] if keys else ""
    if last == "image":
        return Severity.HIGH
    if last in ("serviceAccountName", "serviceAccount", "automountServiceAccountToken"):
        return Severity.HIGH
    if ref.kind == "NetworkPolicy" and keys and keys[0] == "spec":
        return Severity.HIGH
    if ref.kind == "Secret" and ref.group == "" and keys and keys[0] in ("data", "stringData"):
        return Severity.HIGH
    if "resources" in keys or last == "replicas":
        return Severity.MEDIUM
    if "labels" in keys or "annotations" in keys:
        return Severity.LOW
    return Severity.MEDIUM


def object_severity(ref: ObjectRef, kind: DriftKind) -> Severity:
    """Severity of a whole-object drift (missing or orphaned)."""
    if kind == DriftKind.MISSING:
        return Severity.HIGH
    if (ref.group, ref.kind) in _ORPHAN_CRITICAL:
        return Severity.CRITICAL
    return Severity.MEDIUM
