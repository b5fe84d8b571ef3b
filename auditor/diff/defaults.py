"""Server defaults and server-assigned values: never "added out-of-band".

Why this exists: for ``Update`` operations (``kubectl create``, client-side ``kubectl apply``,
Helm) the API server records in ``managedFields`` every field of the object *after defaulting*.
An object created by hand and later adopted by the GitOps applier therefore shows its creator
owning ``imagePullPolicy``, ``dnsPolicy``, ``revisionHistoryLimit``… — fields git never set, whose
values are the API's own defaults. Reporting them would be the classic "OutOfSync with an empty
diff". A live value equal to the API default (or assigned by the server, like a ``clusterIP``) is
not drift; any other value in the same field still is.

Rules are keyed by the end of the field path (map keys only) and optionally by kind; values come
from the Kubernetes API defaulting functions (``pkg/apis/*/v1/defaults.go``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

ANY = object()
"""Marker: the server assigns this field (allocated IPs/ports, generated names); any value is its own."""

_POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod",
                       "PodTemplate", "ReplicationController")

# (kinds or () for any kind, path suffix of map keys, default value)
_RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], Any], ...] = (
    # Pod spec (any pod template)
    (_POD_TEMPLATE_KINDS, ("dnsPolicy",), "ClusterFirst"),
    (_POD_TEMPLATE_KINDS, ("restartPolicy",), "Always"),
    (_POD_TEMPLATE_KINDS, ("schedulerName",), "default-scheduler"),
    (_POD_TEMPLATE_KINDS, ("terminationGracePeriodSeconds",), 30),
    (_POD_TEMPLATE_KINDS, ("spec", "securityContext"), {}),
    (_POD_TEMPLATE_KINDS, ("enableServiceLinks",), True),
    (_POD_TEMPLATE_KINDS, ("priority",), 0),
    (_POD_TEMPLATE_KINDS, ("preemptionPolicy",), "PreemptLowerPriority"),
    (_POD_TEMPLATE_KINDS, ("template", "metadata", "creationTimestamp"), None),
    (_POD_TEMPLATE_KINDS, ("jobTemplate", "metadata", "creationTimestamp"), None),
    # Containers
    (_POD_TEMPLATE_KINDS, ("terminationMessagePath",), "/dev/termination-log"),
    (_POD_TEMPLATE_KINDS, ("terminationMessagePolicy",), "File"),
    (_POD_TEMPLATE_KINDS, ("resources",), {}),
    (_POD_TEMPLATE_KINDS, ("timeoutSeconds",), 1),
    (_POD_TEMPLATE_KINDS, ("periodSeconds",), 10),
    (_POD_TEMPLATE_KINDS, ("successThreshold",), 1),
    (_POD_TEMPLATE_KINDS, ("failureThreshold",), 3),
    (_POD_TEMPLATE_KINDS, ("httpGet", "scheme"), "HTTP"),
    (_POD_TEMPLATE_KINDS, ("fieldRef", "apiVersion"), "v1"),
    (_POD_TEMPLATE_KINDS, ("configMap", "defaultMode"), 420),
    (_POD_TEMPLATE_KINDS, ("secret", "defaultMode"), 420),
    (_POD_TEMPLATE_KINDS, ("projected", "defaultMode"), 420),
    (_POD_TEMPLATE_KINDS, ("downwardAPI", "defaultMode"), 420),
    (_POD_TEMPLATE_KINDS, ("hostPath", "type"), ""),
    (_POD_TEMPLATE_KINDS, ("ports", "protocol"), "TCP"),
    # Workloads
    (("Deployment",), ("progressDeadlineSeconds",), 600),
    (("Deployment", "StatefulSet", "DaemonSet"), ("revisionHistoryLimit",), 10),
    (("Deployment",), ("strategy", "type"), "RollingUpdate"),
    (("Deployment",), ("strategy", "rollingUpdate", "maxSurge"), "25%"),
    (("Deployment",), ("strategy", "rollingUpdate", "maxUnavailable"), "25%"),
    (("Deployment", "StatefulSet"), ("spec", "replicas"), 1),
    (("DaemonSet", "StatefulSet"), ("updateStrategy", "type"), "RollingUpdate"),
    (("DaemonSet",), ("updateStrategy", "rollingUpdate", "maxUnavailable"), 1),
    (("DaemonSet",), ("updateStrategy", "rollingUpdate", "maxSurge"), 0),
    (("StatefulSet",), ("updateStrategy", "rollingUpdate", "partition"), 0),
    (("StatefulSet",), ("podManagementPolicy",), "OrderedReady"),
    (("StatefulSet",), ("persistentVolumeClaimRetentionPolicy", "whenDeleted"), "Retain"),
    (("StatefulSet",), ("persistentVolumeClaimRetentionPolicy", "whenScaled"), "Retain"),
    (("Job", "CronJob"), ("completions",), 1),
    (("Job", "CronJob"), ("parallelism",), 1),
    (("Job", "CronJob"), ("backoffLimit",), 6),
    (("Job", "CronJob"), ("completionMode",), "NonIndexed"),
    (("Job", "CronJob"), ("podReplacementPolicy",), "TerminatingOrFailed"),
    (("Job", "CronJob"), ("manualSelector",), False),
    (("Job", "CronJob"), ("suspend",), False),
    (("CronJob",), ("concurrencyPolicy",), "Allow"),
    (("CronJob",), ("failedJobsHistoryLimit",), 1),
    (("CronJob",), ("successfulJobsHistoryLimit",), 3),
    # Job controller: generated selector and pod-template labels
    (("Job",), ("spec", "selector"), ANY),
    (("Job",), ("labels", "controller-uid"), ANY),
    (("Job",), ("labels", "job-name"), ANY),
    (("Job",), ("labels", "batch.kubernetes.io/controller-uid"), ANY),
    (("Job",), ("labels", "batch.kubernetes.io/job-name"), ANY),
    # Services
    (("Service",), ("spec", "type"), "ClusterIP"),
    (("Service",), ("sessionAffinity",), "None"),
    (("Service",), ("internalTrafficPolicy",), "Cluster"),
    (("Service",), ("externalTrafficPolicy",), "Cluster"),
    (("Service",), ("ipFamilyPolicy",), "SingleStack"),
    (("Service",), ("allocateLoadBalancerNodePorts",), True),
    (("Service",), ("clusterIP",), ANY),
    (("Service",), ("clusterIPs",), ANY),
    (("Service",), ("ipFamilies",), ANY),
    (("Service",), ("nodePort",), ANY),
    (("Service",), ("healthCheckNodePort",), ANY),
    (("Service",), ("ports", "protocol"), "TCP"),
    # Endpoints written by hand (a Service without selector): ports are an atomic list, defaulted inside
    (("Endpoints",), ("ports", "protocol"), "TCP"),
    # StatefulSet volumeClaimTemplates: the server defaults each template as a PersistentVolumeClaim
    # (apiVersion/kind, volumeMode, an empty status) inside the atomic list
    (("StatefulSet",), ("volumeClaimTemplates", "apiVersion"), "v1"),
    (("StatefulSet",), ("volumeClaimTemplates", "kind"), "PersistentVolumeClaim"),
    (("StatefulSet",), ("volumeClaimTemplates", "status"), ANY),
    (("StatefulSet",), ("volumeClaimTemplates", "metadata", "creationTimestamp"), None),
    (("StatefulSet",), ("volumeClaimTemplates", "spec", "volumeMode"), "Filesystem"),
    # Pods: the DefaultTolerationSeconds admission plugin appends these two tolerations
    (("Pod",), ("tolerations",), {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                  "effect": "NoExecute", "tolerationSeconds": 300}),
    (("Pod",), ("tolerations",), {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                  "effect": "NoExecute", "tolerationSeconds": 300}),
    # Storage, namespaces, secrets, policies
    (("PersistentVolumeClaim",), ("volumeMode",), "Filesystem"),
    (("PersistentVolumeClaim",), ("volumeName",), ANY),
    (("PersistentVolumeClaim",), ("storageClassName",), ANY),
    (("Namespace",), ("spec", "finalizers"), ["kubernetes"]),
    (("Namespace",), ("labels", "kubernetes.io/metadata.name"), ANY),
    (("Secret",), ("type",), "Opaque"),
    (("NetworkPolicy",), ("policyTypes",), ANY),
    (("Ingress",), ("pathType",), "ImplementationSpecific"),
)

_BY_SUFFIX: dict[tuple[str, ...], list[tuple[tuple[str, ...], Any]]] = {}
for _kinds, _suffix, _value in _RULES:
    _BY_SUFFIX.setdefault(_suffix, []).append((_kinds, _value))
_MAX = max(len(s) for s in _BY_SUFFIX)


def _image_pull_policy_default(container: Mapping[str, Any]) -> str:
    """``Always`` for ``:latest`` or untagged images, else ``IfNotPresent`` (core/v1 defaults)."""
    image = str(container.get("image", ""))
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        return "IfNotPresent"
    tag = name.rsplit(":", 1)[1] if ":" in name else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


@functools.lru_cache(maxsize=4096)
def _defaults_for(kind: str, keys: tuple[str, ...]) -> tuple[Any, ...]:
    """Defaults that apply to a field (by kind and path suffix); cached, the table is static."""
    out: list[Any] = []
    for n in range(min(_MAX, len(keys)), 0, -1):
        for kinds, default in _BY_SUFFIX.get(keys[-n:], ()):
            if not kinds or kind in kinds:
                out.append(default)
    return tuple(out)


_SIBLING_RULES = frozenset({"imagePullPolicy", "serviceAccount", "targetPort", "apiGroup"})
_Plan = tuple[str, tuple[str, ...], bool, tuple[Any, ...]]
_PLANS: dict[tuple[str, tuple[str, ...]], _Plan] = {}
_PLANS_MAX = 8192


def _plan(kind: str, path: tuple[str, ...]) -> _Plan:
    """(sibling rule, map keys, server-assigned, default values) of a field, for :func:`is_server_default`.

    It runs on every field an out-of-band manager owns and git does not set, and the same paths
    recur in every object of a kind: the plan depends on (kind, path) only, so it is kept, in a
    table cleared when full (paths hold list item names, so their number has no static bound).
    """
    plan = _PLANS.get((kind, path))
    if plan is None:
        keys = tuple(s for s in path if s[:1] != "[")
        last = keys[-1] if keys else ""
        defaults = _defaults_for(kind, keys) if keys else ()
        plan = (last if last in _SIBLING_RULES else "", keys, any(d is ANY for d in defaults),
                tuple(d for d in defaults if d is not ANY))
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        _PLANS[(kind, path)] = plan
    return plan


def is_server_default(kind: str, path: tuple[str, ...], value: Any, parent: Any) -> bool:
    """True when ``value`` at ``path`` is what the API server would have put there by itself.

    ``parent`` is the live map holding the field (for defaults that depend on a sibling).
    """
    sibling, keys, assigned, defaults = _plan(kind, path)
    if not keys:
        return False
    if sibling and isinstance(parent, Mapping):
        if sibling == "imagePullPolicy":
            return bool(value == _image_pull_policy_default(parent))
        if sibling == "serviceAccount":  # deprecated alias the server keeps in sync
            return bool(value == parent.get("serviceAccountName"))
        if sibling == "targetPort" and kind == "Service":
            return bool(value == parent.get("port"))
        if sibling == "apiGroup" and kind in ("RoleBinding", "ClusterRoleBinding") and "subjects" in keys:
            # rbac/v1 SetDefaults_Subject: "" for a ServiceAccount, rbac.authorization.k8s.io otherwise
            return bool(value == ("" if parent.get("kind") == "ServiceAccount" else "rbac.authorization.k8s.io"))
    return assigned or value in defaults
