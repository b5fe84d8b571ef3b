"""Normalization quirks: each one a small named function saying why it exists.

The comparison in :mod:`auditor.diff.compare` is "desired subset": only fields that git sets are
compared, so server defaults that git leaves out never show up. What remains are the places where
git and the API server spell the same value differently; each is handled here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from auditor.util import secrets as _secrets

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

SERVER_ANNOTATIONS: frozenset[str] = frozenset(
    {
        # kubectl client-side apply's copy of the applied object: bookkeeping, and for Secrets it
        # holds the values in clear text.
        LAST_APPLIED,
        # Written by the Deployment controller on every rollout.
        "deployment.kubernetes.io/revision",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        # Written by the API server / controllers on PVCs and Services.
        "pv.kubernetes.io/bind-completed",
        "pv.kubernetes.io/bound-by-controller",
        "volume.beta.kubernetes.io/storage-provisioner",
        "volume.kubernetes.io/storage-provisioner",
        "volume.kubernetes.io/selected-node",
        "endpoints.kubernetes.io/last-change-trigger-time",
        # Not kustomize's build annotations (config.kubernetes.io/origin, …/transformations): desired state
        # has them only when the overlay's own buildMetadata asks for them, and then the controller applies
        # them like any annotation, so they are compared.
    }
)
"""Annotations the server or a controller writes; never compared and never "added out-of-band"."""

COMPARED_METADATA: frozenset[str] = frozenset({"labels", "annotations", "finalizers"})
"""Desired ``metadata`` keys that are compared. name/namespace are identity; everything else
(uid, resourceVersion, generation, creationTimestamp, managedFields, selfLink, ownerReferences
written by controllers…) is owned by the server."""

SKIPPED_TOP_LEVEL: frozenset[str] = frozenset({"apiVersion", "kind", "status"})
"""Top-level keys never compared: identity, and ``status`` which only controllers write."""

KEY_DEFAULTS: Mapping[str, Any] = {"protocol": "TCP"}
"""Defaults of merge-key fields that manifests usually omit. Container and Service ports are keyed
by (port, protocol) and the API server fills ``protocol: TCP``; without the default a port written
without protocol in git would never find its live twin."""

QUANTITY_PARENTS: frozenset[str] = frozenset(
    {
        "limits", "requests",                       # container/pod resources, PVC requests
        "hard",                                     # ResourceQuota
        "capacity", "overhead",                     # PersistentVolume, RuntimeClass/pod overhead
        "default", "defaultRequest", "max", "min",  # LimitRange items
        "maxLimitRequestRatio",
    }
)
"""Maps whose values are ``resource.Quantity`` (the API server canonicalizes them on write)."""
QUANTITY_KEYS: frozenset[str] = frozenset({"sizeLimit", "averageValue"})
"""Single quantity fields: emptyDir ``sizeLimit``, HPA metric ``target.averageValue``."""

_QUANTITY_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_SUFFIX = {
    None: Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def parse_quantity(value: Any) -> Decimal | None:
    """Exact value of a Kubernetes quantity (``500m``, ``1Gi``, ``1e3``, ``2``), or None if not one.

    Why: the API server canonicalizes quantities on write (``0.5`` → ``500m``, ``1024Mi`` → ``1Gi``),
    so git and live spell the same amount differently. Decimal keeps ``1000Mi`` ≠ ``1Gi`` exact.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if not isinstance(value, str):
        return None
    m = _QUANTITY_RE.match(value.strip())
    if not m:
        return None
    try:
        return Decimal(m.group(1)) * _SUFFIX[m.group(2)]
    except InvalidOperation:
        return None


def quantities_equal(desired: Any, live: Any) -> bool:
    """True when both sides are quantities of the same amount (``0.5`` == ``500m``)."""
    a = parse_quantity(desired)
    if a is None:
        return False
    b = parse_quantity(live)
    return b is not None and a == b


def is_quantity_field(parent: str, key: str) -> bool:
    """True for fields the API server stores as ``resource.Quantity`` (resources, quotas, PVC sizes)."""
    return parent in QUANTITY_PARENTS or key in QUANTITY_KEYS or (key == "value" and parent == "target")


def numbers_equal(desired: Any, live: Any) -> bool:
    """``3`` == ``"3"`` where the API accepts both (IntOrString fields like ``targetPort``, ``maxSurge``).

    Why: YAML authors quote numbers inconsistently and IntOrString fields keep the JSON type of
    the input; the value the controller acts on is the same.
    """
    if isinstance(desired, bool) or isinstance(live, bool):
        return False
    if isinstance(desired, int | float) and isinstance(live, str):
        return str(desired) == live
    if isinstance(live, int | float) and isinstance(desired, str):
        return str(live) == desired
    return False


def is_unset(value: Any) -> bool:
    """Desired values that mean "not set": ``null``, ``{}``, ``[]`` and ``""``.

    Why: kustomize and helm emit ``creationTimestamp: null`` and empty maps; the API server drops
    them (``omitempty``) or fills a default, so comparing them would flag every in-sync object.
    """
    return value is None or value == "" or value == {} or value == []


def is_ignored_annotation(key: str, gitops_annotations: frozenset[str]) -> bool:
    """Annotations written by the server, a controller or the GitOps applier itself."""
    return key in SERVER_ANNOTATIONS or key in gitops_annotations


def secret_values_hashed(body: Mapping[str, Any]) -> bool:
    """True when a Secret's ``data`` values already are keyed hashes (the cluster stage hashes them)."""
    data = body.get("data")
    if not isinstance(data, Mapping) or not data:
        return False
    return all(isinstance(v, str) and v.startswith(_secrets.HASH_PREFIX) for v in data.values())


def normalize_secret(body: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """Secret with ``stringData`` folded into ``data`` and every value replaced by its keyed hash.

    Why: the API server turns ``stringData`` into base64 ``data`` on write, and values must never
    be kept or printed; comparing keyed hashes answers "changed or not" without either.
    """
    if secret_values_hashed(body) and not body.get("stringData"):
        # Already hashed by the cluster stage: keep its hashes, still drop the clear-text copy
        # that the last-applied annotation may hold.
        rest = {k: v for k, v in body.items() if k != "data"}
        return _secrets.hash_secret_object(rest, key) | {"data": dict(body["data"])}
    return _secrets.hash_secret_object(body, key)


def key_value_text(value: Any) -> str:
    """Canonical text of a merge-key value inside a path segment (``80``, ``TCP``, ``true``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def list_item_segment(item: Any, keys: tuple[str, ...]) -> str:
    """Path segment naming a keyed list item, keys sorted: ``[containerPort=80,protocol=TCP]``.

    Sorted so the same item gets the same segment from the desired walk and from managedFields
    (``k:{...}`` keys come in map order there).
    """
    if type(item) is not dict:
        return "[" + key_value_text(item) + "]"
    if len(keys) == 1:  # the common case (name, mountPath, uid…): no sorting, no join
        v = item.get(keys[0])
        if v is None:
            v = KEY_DEFAULTS.get(keys[0])
        return f"[{keys[0]}={v if type(v) is str else key_value_text(v)}]"
    parts = []
    for k in _sorted_keys(keys):
        v = item.get(k)
        if v is None:
            v = KEY_DEFAULTS.get(k)
        # key_value_text of the usual key values (names, port numbers) without the call
        t = type(v)
        parts.append(f"{k}={v if t is str else str(v) if t is int else key_value_text(v)}")
    return "[" + ",".join(parts) + "]"


@functools.lru_cache(maxsize=1024)
def _sorted_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """Merge keys in segment order; the few key tuples of the schemas recur for every list item."""
    return tuple(sorted(keys))
