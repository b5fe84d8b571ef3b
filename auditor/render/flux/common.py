"""Shared pieces of the Flux renderer: the Kustomization record, render state and small helpers."""

from __future__ import annotations

import base64
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.errors import RenderError
from auditor.model import (
    CoverageGap,
    FileProvenance,
    Manifest,
    ObjectRef,
    Provenance,
    split_api_version,
)
from auditor.util.kinds import is_namespaced


@dataclass
class FluxKs:
    """One Flux Kustomization found in the cluster."""

    namespace: str
    name: str
    spec: Mapping[str, Any]
    files: tuple[FileProvenance, ...] = ()
    """Where the Kustomization object itself is defined."""
    parent: str = ""

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


@dataclass
class RenderState:
    """What one cluster render has produced so far."""

    objects: list[Manifest] = field(default_factory=list)
    index: dict[ObjectRef, int] = field(default_factory=dict)
    owner: dict[ObjectRef, str] = field(default_factory=dict)
    gaps: list[CoverageGap] = field(default_factory=list)
    values: dict[tuple[str, str, str], Mapping[str, Any]] = field(default_factory=dict)
    """(kind, namespace, name) of rendered ConfigMaps/Secrets → body (for substituteFrom/valuesFrom)."""
    sources: dict[tuple[str, str, str], Mapping[str, Any]] = field(default_factory=dict)
    releases: list[tuple[ObjectRef, str]] = field(default_factory=list)
    """HelmReleases found, with the Kustomization that applied them."""
    generators: dict[tuple[str, str], tuple[Mapping[str, Any], Mapping[str, Any]]] = field(default_factory=dict)
    """(namespace, ExternalArtifact name) → (ArtifactGenerator body, its output artifact spec)."""


def norm_path(path: Any) -> str:
    """A Flux ``spec.path`` as a normalised relative POSIX path ("" for the root); RenderError when it leaves."""
    p = str(path or "").replace("\\", "/").strip()
    norm = posixpath.normpath(p.lstrip("/")) if p.strip("./") else "."
    if norm == ".." or norm.startswith("../"):
        raise RenderError(f"path {p!r} leaves the source")
    return "" if norm == "." else norm


def is_kind(m: Manifest, group: str, kind: str) -> bool:
    """True when ``m`` is of this group and kind."""
    return m.ref.group == group and m.ref.kind == kind


class NotRendered(Exception):
    """A Kustomization whose source is not available: a gap, not a failure."""


def data_of(kind: str, body: Mapping[str, Any]) -> dict[str, str]:
    """Key → text of a ConfigMap (data) or Secret (data decoded, stringData)."""
    out: dict[str, str] = {}
    if kind == "Secret":
        for k, v in (body.get("data") or {}).items():
            try:
                out[str(k)] = base64.b64decode(str(v)).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                continue
        out.update({str(k): str(v) for k, v in (body.get("stringData") or {}).items()})
    else:
        out.update({str(k): str(v) for k, v in (body.get("data") or {}).items()})
    return out


def manifest_of(body: Mapping[str, Any], files: tuple[FileProvenance, ...], default_ns: str) -> Manifest:
    """A Manifest for a body (namespaced kinds without namespace get ``default_ns``)."""
    api_version = str(body.get("apiVersion") or "")
    kind = str(body.get("kind") or "")
    meta = body.get("metadata") or {}
    group, _ = split_api_version(api_version)
    ns = str(meta.get("namespace") or "")
    if not ns and is_namespaced(group, kind):
        ns = default_ns
    return Manifest(ObjectRef(group, kind, ns, str(meta.get("name") or "")), api_version, body,
                    Provenance(files=files))


def remake(m: Manifest, body: Mapping[str, Any], files: tuple[FileProvenance, ...], default_ns: str) -> Manifest:
    """A Manifest with a new body (identity recomputed: substitution may change names/namespaces)."""
    meta = body.get("metadata") or {}
    ns = str(meta.get("namespace") or "") or m.ref.namespace
    name = str(meta.get("name") or m.ref.name)
    api_version = str(body.get("apiVersion") or m.api_version)
    group, _ = split_api_version(api_version)
    ref = ObjectRef(group, str(body.get("kind") or m.ref.kind), ns, name)
    return Manifest(ref, api_version, body, Provenance(files=files))
