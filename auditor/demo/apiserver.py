"""A small simulation of what a Kubernetes API server (v1.30) stores when an object is applied.

Used only to produce the demo's offline snapshots. It covers the kinds the demo ships and the
behaviours a drift engine must cope with: defaulted fields, canonical quantities, allocated
ClusterIPs, server-owned metadata, status written by controllers, and ``metadata.managedFields``
in ``FieldsV1`` form with ownership moving between managers the way server-side apply moves it.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

FLUX_MANAGER = "kustomize-controller"
CONTROLLER_MANAGER = "kube-controller-manager"
FLUX_LABELS = {
    "kustomize.toolkit.fluxcd.io/name": "apps",
    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
}
_UID_NAMESPACE = uuid.UUID("6f1d3c36-0c0e-5b8c-9d55-1f3a0b7d2e41")

Obj = dict[str, Any]


# --------------------------------------------------------------------------------------- time/ids


def k8s_time(when: _dt.datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix and whole seconds, as the API server writes times."""
    return when.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> _dt.datetime:
    """Parse an RFC 3339 / ISO-8601 time (``Z`` allowed)."""
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def stable_int(*parts: object, modulo: int) -> int:
    """A deterministic integer in ``[0, modulo)`` derived from ``parts``."""
    raw = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(raw[:8], "big") % modulo


def object_uid(*identity: object) -> str:
    """A deterministic UID (uuid5) for an object identity; real clusters use random v4 UIDs."""
    return str(uuid.uuid5(_UID_NAMESPACE, "/".join(str(p) for p in identity)))


_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of k8s "safe encoded" strings


def safe_hash(value: object, length: int = 10) -> str:
    """A short hash in the API machinery's vowel-free alphabet (pod-template-hash style)."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
    return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in digest[:length])


# -------------------------------------------------------------------------------------- quantities

_QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+)([a-zA-Z]*)$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4}


def canonical_quantity(value: object) -> str:
    """The form the API server returns a quantity in (``0.5`` → ``500m``, ``2048Mi`` → ``2Gi``).

    Covers the plain-decimal, milli and binary-suffix forms the demo uses; other strings pass through.
    """
    text = str(value)
    m = _QUANTITY_RE.match(text)
    if not m:
        return text
    number, suffix = m.groups()
    try:
        num = Decimal(number)
    except InvalidOperation:
        return text
    if suffix == "":
        if num == num.to_integral_value():
            return str(int(num))
        milli = num * 1000
        if milli == milli.to_integral_value():
            return f"{int(milli)}m"
        return text
    if suffix == "m":
        if num % 1000 == 0:
            return str(int(num / 1000))
        return f"{int(num)}m"
    if suffix in _BINARY and num == num.to_integral_value():
        n, level = int(num), _BINARY[suffix]
        names = {v: k for k, v in _BINARY.items()}
        while level < 4 and n % 1024 == 0 and n:
            n, level = n // 1024, level + 1
        return f"{n}{names[level]}"
    return text


def _canonical_resources(resources: Obj) -> None:
    for section in ("requests", "limits"):
        values = resources.get(section)
        if isinstance(values, dict):
            for key in list(values):
                values[key] = canonical_quantity(values[key])


# --------------------------------------------------------------------------------------- defaults


def _default_probe(probe: Obj) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("scheme", "HTTP")


def _image_pull_policy(image: str) -> str:
    # Defaulting rule of core/v1: Always for ":latest" or an untagged image, else IfNotPresent.
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def default_container(c: Obj) -> None:
    """Apply core/v1 container defaults in place."""
    c.setdefault("imagePullPolicy", _image_pull_policy(str(c.get("image", ""))))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    _canonical_resources(c["resources"])
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(c.get(name), dict):
            _default_probe(c[name])


def default_pod_spec(spec: Obj) -> None:
    """Apply core/v1 PodSpec defaults in place."""
    for c in spec.get("initContainers") or []:
        default_container(c)
    for c in spec.get("containers") or []:
        default_container(c)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    if "serviceAccountName" in spec:
        # The deprecated alias is still filled in by the API server.
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
    for vol in spec.get("volumes") or []:
        for source in ("configMap", "secret"):
            if isinstance(vol.get(source), dict):
                vol[source].setdefault("defaultMode", 420)


def default_deployment(obj: Obj) -> None:
    """Apply apps/v1 Deployment defaults in place."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxSurge", "25%")
        rolling.setdefault("maxUnavailable", "25%")
    template = spec.setdefault("template", {})
    # The pod template's metadata is an ObjectMeta; its zero creationTimestamp serializes as null.
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    default_pod_spec(template.setdefault("spec", {}))


def default_service(obj: Obj, cluster_ip: str) -> None:
    """Apply core/v1 Service defaults in place, with ``cluster_ip`` as the allocated address."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("clusterIP", cluster_ip)
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    obj["status"] = {"loadBalancer": {}}


def default_namespace(obj: Obj) -> None:
    """Apply core/v1 Namespace defaults (immutable name label, finalizer, phase) in place."""
    meta = obj.setdefault("metadata", {})
    meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj["status"] = {"phase": "Active"}


def default_object(obj: Obj, *, cluster_ip: str = "") -> None:
    """Apply the defaults the API server would for the object's kind, in place."""
    kind = obj.get("kind")
    if kind == "Deployment":
        default_deployment(obj)
    elif kind == "Service":
        default_service(obj, cluster_ip)
    elif kind == "Namespace":
        default_namespace(obj)


# --------------------------------------------------------------------------------- managedFields

# Associative lists: list field name → key fields (from the Kubernetes OpenAPI list-map keys).
# ``ports`` depends on its parent: container ports are keyed by containerPort, Service ports by port.
_LIST_KEYS: Mapping[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "imagePullSecrets": ("name",),
    "conditions": ("type",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "ownerReferences": ("uid",),
}
_ATOMIC_MAPS = frozenset({"roleRef", "selector"})
"""Maps owned as a whole (``x-kubernetes-map-type: atomic``): Service and label selectors, roleRef."""
_TOP_LEVEL = frozenset({"metadata", "spec", "status"})
_SET_LISTS = frozenset({"finalizers"})
"""Lists of scalars with set semantics: members are recorded as ``v:<json>``."""


def list_keys(field: str, parents: Sequence[str]) -> tuple[str, ...] | None:
    """Key fields of an associative list, or ``None`` for an atomic list."""
    if field == "ports":
        in_container = any(p in ("containers", "initContainers", "ephemeralContainers") for p in parents)
        return ("containerPort", "protocol") if in_container else ("port", "protocol")
    return _LIST_KEYS.get(field)


_KEY_DEFAULTS: Mapping[str, Any] = {"protocol": "TCP"}
"""Key fields the API server defaults before it computes the key (a port's protocol)."""


def item_key(item: Mapping[str, Any], keys: Sequence[str]) -> str:
    """``k:{...}`` member name for a list item, keys in sorted order as the API server writes them."""
    values = {k: item.get(k, _KEY_DEFAULTS.get(k)) for k in sorted(keys)}
    return "k:" + json.dumps({k: v for k, v in values.items() if v is not None}, separators=(",", ":"))


def fields_v1(value: Any, parents: tuple[str, ...] = (), *, dots: bool = False) -> Obj:
    """The FieldsV1 set of everything in ``value`` (a map), as one manager writing it would own.

    ``dots`` adds the ``.`` member to maps below ``metadata``/``spec``/``status``, which Update
    operations record for maps they created; Apply operations record ``.`` only for list items.
    Callers pass only what the manager wrote (e.g. just ``status``).
    """
    out: Obj = {}
    if not isinstance(value, Mapping):
        return out
    for key, child in value.items():
        name = f"f:{key}"
        if key in _ATOMIC_MAPS:
            out[name] = {}
        elif isinstance(child, Mapping) and child:
            sub = fields_v1(child, (*parents, key), dots=dots)
            # Update operations record "." for maps they created; the top-level sections
            # always exist (as empty structs), so they never get one.
            if dots and not (not parents and key in _TOP_LEVEL):
                sub = {".": {}, **sub}
            out[name] = sub
        elif isinstance(child, list) and child:
            keys = list_keys(key, parents)
            if key in _SET_LISTS:
                out[name] = {f"v:{json.dumps(v)}": {} for v in child}
            elif keys and all(isinstance(i, Mapping) for i in child):
                members: Obj = {".": {}} if dots else {}
                for item in child:
                    members[item_key(item, keys)] = {".": {}, **fields_v1(item, (*parents, key), dots=dots)}
                out[name] = members
            else:
                out[name] = {}
        else:
            out[name] = {}
    return out


def applied_fields(obj: Mapping[str, Any]) -> Obj:
    """FieldsV1 of a server-side Apply of ``obj``: all its fields but identity and type."""
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k in ("labels", "annotations")}
    if meta:
        body["metadata"] = meta
    else:
        body.pop("metadata", None)
    return fields_v1(body)


def remove_field(fields: Obj, path: Sequence[str]) -> bool:
    """Remove one owned field (FieldsV1 member path) from a set; prune emptied parents.

    Returns True when something was removed. This is how an Update taking over a field applied
    by another manager shows up: the field leaves the applier's set.
    """
    if not path:
        return False
    head, rest = path[0], path[1:]
    if head not in fields:
        return False
    if not rest:
        del fields[head]
        return True
    child = fields[head]
    removed = remove_field(child, rest)
    if removed and (not child or set(child) == {"."}) and head.startswith("f:"):
        del fields[head]
    return removed


def managed_entry(
    manager: str,
    operation: str,
    time: str,
    fields: Obj,
    *,
    api_version: str,
    subresource: str = "",
) -> Obj:
    """One ``metadata.managedFields`` entry."""
    entry: Obj = {
        "apiVersion": api_version,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        "manager": manager,
        "operation": operation,
    }
    if subresource:
        entry["subresource"] = subresource
    entry["time"] = time
    return entry


def deep(value: Any) -> Any:
    """A deep copy (objects are built incrementally and must not share sub-trees)."""
    return copy.deepcopy(value)


def merge_labels(obj: Obj, labels: Mapping[str, str]) -> None:
    """Add labels to ``metadata.labels`` in place."""
    obj.setdefault("metadata", {}).setdefault("labels", {}).update(labels)

