"""Keyed hashing of Secret values: compared, never kept, logged or reported."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

HASH_PREFIX = "hmac-sha256:"
MASK = "***"


def new_run_key() -> bytes:
    """A random key per run, so hashes in one report cannot be matched against another run's."""
    return secrets.token_bytes(32)


def keyed_hash(key: bytes, value: bytes) -> str:
    """HMAC-SHA256 of a secret value, as ``hmac-sha256:<hex>``."""
    return HASH_PREFIX + hmac.new(key, value, hashlib.sha256).hexdigest()


def decoded_secret_value(b64: Any) -> bytes:
    """Bytes of one ``data`` value; ``null`` is empty bytes.

    Server behaviour: ``data`` is ``map[string][]byte``; a value written as ``""`` is stored as
    empty bytes and read back as ``null`` (Go encodes an empty/nil byte slice as ``null``), so git's
    ``""`` and live ``null`` are the same value.
    """
    if b64 is None:
        return b""
    try:
        return base64.b64decode(str(b64), validate=False)
    except (ValueError, TypeError):
        return str(b64).encode()


def hash_secret_object(obj: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """Copy of a Secret with ``data``/``stringData`` values replaced by keyed hashes of the decoded bytes.

    ``stringData`` is folded into ``data`` first (the API server does the same on write), so a
    desired Secret written with ``stringData`` compares equal to the live one holding ``data``.
    The last-applied annotation can hold the whole Secret in clear text and is removed.
    """
    out = {k: v for k, v in obj.items() if k not in ("data", "stringData")}
    hashed: dict[str, str] = {}
    for name, b64 in (obj.get("data") or {}).items():
        hashed[name] = keyed_hash(key, decoded_secret_value(b64))
    for name, text in (obj.get("stringData") or {}).items():
        hashed[name] = keyed_hash(key, b"" if text is None else str(text).encode())
    if hashed:
        out["data"] = hashed
    meta = obj.get("metadata")
    if isinstance(meta, Mapping):
        meta = dict(meta)
        ann = dict(meta.get("annotations") or {})
        ann.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        if ann:
            meta["annotations"] = ann
        else:
            meta.pop("annotations", None)
        out["metadata"] = meta
    return out


def mask_secret_values(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` that shows no Secret value.

    For a core/v1 Secret, ``data``/``stringData`` values become ``***`` (keys kept) and the last-applied
    annotation (which holds them in clear text) is removed; other objects are returned as they are.
    """
    out = dict(obj)
    if not is_secret(obj):
        return out
    for field in ("data", "stringData"):
        values = out.get(field)
        if isinstance(values, Mapping):
            out[field] = {str(k): MASK for k in values}
    meta = out.get("metadata")
    if isinstance(meta, Mapping) and isinstance(meta.get("annotations"), Mapping):
        ann = {k: v for k, v in meta["annotations"].items() if k != "kubectl.kubernetes.io/last-applied-configuration"}
        out["metadata"] = {**meta, "annotations": ann}
    return out


def is_secret(obj: Mapping[str, Any]) -> bool:
    """True for core/v1 Secrets."""
    return obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1"
