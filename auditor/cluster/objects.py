"""Turning raw API objects into live manifests: identity, scope filtering, Secret handling."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from auditor.cluster.options import LiveScope
from auditor.model import Manifest, ObjectRef, split_api_version
from auditor.util.secrets import hash_secret_object

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

REASON_FORBIDDEN = "forbidden"
REASON_NOT_SERVED = "kind not served by the cluster"
REASON_NOT_IN_SNAPSHOT = "not in snapshot"


def group_kind(group: str, kind: str) -> str:
    """``Kind.group`` (``Kind`` for the core group), the form used in coverage gaps."""
    return f"{kind}.{group}" if group else kind


def wanted_versions(scope: LiveScope) -> dict[tuple[str, str], tuple[str, ...]]:
    """(group, kind) → requested versions in scope order (duplicates removed)."""
    out: dict[tuple[str, str], list[str]] = {}
    for group, version, kind in scope.kinds:
        versions = out.setdefault((group, kind), [])
        if version not in versions:
            versions.append(version)
    return {k: tuple(v) for k, v in out.items()}


def is_core_secret(group: str, kind: str) -> bool:
    """True for core/v1 Secrets (the only kind whose values we refuse to keep)."""
    return group == "" and kind == "Secret"


def secret_metadata_only(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The Secret as a metadata-only read returns it, minus the last-applied annotation (it holds values)."""
    meta = dict(obj.get("metadata") or {})
    ann = dict(meta.get("annotations") or {})
    if LAST_APPLIED in ann:
        del ann[LAST_APPLIED]
        if ann:
            meta["annotations"] = ann
        else:
            meta.pop("annotations", None)
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta}


def protect_secret(obj: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """Metadata-only Secret (no key) or values replaced by keyed hashes (key given); values never kept."""
    if key:
        return hash_secret_object(obj, key)
    return secret_metadata_only(obj)


def object_ref(obj: Mapping[str, Any]) -> ObjectRef | None:
    """Identity of a raw object, or None when it lacks apiVersion, kind or metadata.name."""
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    meta = obj.get("metadata")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not isinstance(meta, Mapping):
        return None
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        return None
    group, _ = split_api_version(api_version)
    namespace = meta.get("namespace") or ""
    return ObjectRef(group, kind, str(namespace), name)


def to_manifest(obj: Mapping[str, Any], key: bytes) -> Manifest:
    """A live manifest from a raw object (Secrets protected); the caller checked :func:`object_ref`."""
    ref = object_ref(obj)
    assert ref is not None
    if is_core_secret(ref.group, ref.kind):
        obj = protect_secret(obj, key)
    return Manifest(ref=ref, api_version=str(obj["apiVersion"]), body=obj)


def sorted_manifests(items: Iterable[Manifest]) -> tuple[Manifest, ...]:
    """Deterministic order (by identity), so two reads of the same state compare equal."""
    return tuple(sorted(items, key=lambda m: m.ref))
