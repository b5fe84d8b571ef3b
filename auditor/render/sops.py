"""SOPS-encrypted Secrets in git: compare what can be compared, say what cannot.

Flux's kustomize-controller (``spec.decryption``) and tools like ksops decrypt Secrets that SOPS encrypted
in the repository: the cluster holds the clear values, and neither the ``sops:`` metadata nor the
``ENC[AES256_GCM,data:…,type:str]`` ciphertexts ever reach it. The auditor holds no decryption key (and
should not), so for such a Secret the desired side keeps what SOPS left in clear text (metadata, type,
values SOPS did not encrypt, e.g. keys matching ``unencrypted_suffix``) and drops the ``sops:`` block and
the encrypted values. Without this, every encrypted value and the ``sops`` field itself were drift.

When the run compares Secret values (``cluster.secrets: hash``), each such Secret gets a coverage note
naming the keys whose values could not be compared; with metadata-only reads no Secret value is
compared anyway, so nothing more is said. The note is informational, not a gap that makes the target
partial: the limit is by design (the auditor must not hold the key) and permanent, so a partial exit on
every run of every SOPS user would only teach them to ignore exit 3; everything else about the Secret
is still compared, and the note names exactly what was not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from auditor.model import CoverageGap, Manifest, RenderedSet

_ENC_RE = re.compile(r"^ENC\[[A-Za-z0-9_]+,data:.*\]$", re.S)
_SOPS_KEYS = ("mac", "lastmodified", "version")


def is_sops_encrypted(body: Mapping[str, Any]) -> bool:
    """True for an object carrying SOPS metadata (a top-level ``sops`` mapping with mac/lastmodified/version)."""
    meta = body.get("sops")
    return isinstance(meta, Mapping) and any(k in meta for k in _SOPS_KEYS)


def _strip(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    out = {k: v for k, v in body.items() if k != "sops"}
    encrypted: list[str] = []
    for field in ("data", "stringData"):
        values = out.get(field)
        if not isinstance(values, Mapping):
            continue
        kept = {}
        for key, value in values.items():
            if isinstance(value, str) and _ENC_RE.match(value):
                encrypted.append(str(key))
            else:
                kept[key] = value
        if kept:
            out[field] = kept
        else:
            out.pop(field, None)
    return out, sorted(set(encrypted))


def prepare(rs: RenderedSet, *, values_compared: bool) -> RenderedSet:
    """``rs`` with SOPS-encrypted Secrets reduced to what can be compared (see the module docstring)."""
    if not any(m.ref.kind == "Secret" and not m.ref.group and is_sops_encrypted(m.body) for m in rs.objects):
        return rs
    objects: list[Manifest] = []
    gaps: list[CoverageGap] = []
    for m in rs.objects:
        if m.ref.kind == "Secret" and not m.ref.group and is_sops_encrypted(m.body):
            body, encrypted = _strip(m.body)
            m = replace(m, body=body)
            if values_compared and encrypted:
                gaps.append(CoverageGap(
                    "Secret", m.ref.namespace,
                    f"Secret/{m.ref.namespace}/{m.ref.name} is SOPS-encrypted in git: the values of "
                    f"{', '.join(encrypted)} cannot be compared (only the GitOps controller can decrypt them)",
                    name=m.ref.name, informational=True,
                ))
        objects.append(m)
    return replace(rs, objects=tuple(objects), gaps=(*rs.gaps, *gaps))
