"""Renders kept across runs, keyed by what determines them (wiring-level: render stage data ↔ files).

Key = render format version + kustomize/helm version + the commit's root tree id + overlay path +
default namespace + renderer options. The root tree id covers every file of the repository, so a
hit is always exact: an unchanged repository (the nightly common case) skips kustomize entirely,
and any change anywhere renders again. Working-tree renders are never cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.model import CoverageGap, FileProvenance, Manifest, ObjectRef, Provenance, RenderedSet, SourceRevision
from auditor.util.fs import atomic_write

log = logging.getLogger("gitops_audit")

FORMAT = "2"
MAX_AGE_SECONDS = 14 * 24 * 3600
"""Entries unused for this long are removed when a new one is stored."""


def default_dir() -> Path:
    """``$XDG_CACHE_HOME/gitops-audit/renders`` (``~/.cache/…`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitops-audit" / "renders"


def cache_key(parts: Sequence[str]) -> str:
    """Stable key from the strings that determine a render; empty when any part is unknown."""
    if any(not p for p in parts[:3]):
        return ""
    return hashlib.sha256("\0".join((FORMAT, *parts)).encode("utf-8")).hexdigest()


def _dump(rs: RenderedSet) -> str:
    objects = [
        {
            "ref": [m.ref.group, m.ref.kind, m.ref.namespace, m.ref.name],
            "api_version": m.api_version,
            "body": m.body,
            "files": [[f.path, f.role, f.line, f.repo] for f in m.provenance.files],
        }
        for m in rs.objects
    ]
    gaps = [[g.group_kind, g.namespace, g.reason, g.name, g.informational] for g in rs.gaps]
    sources = [[s.url, s.ref, s.commit, s.git_dir] for s in rs.sources]
    doc = {"path": rs.path, "commit": rs.commit, "tree_hash": rs.tree_hash, "objects": objects, "gaps": gaps,
           "sources": sources}
    return json.dumps(doc, separators=(",", ":"))


def _load(text: str) -> RenderedSet:
    doc: dict[str, Any] = json.loads(text)
    objects = tuple(
        Manifest(
            ref=ObjectRef(*o["ref"]),
            api_version=o["api_version"],
            body=o["body"],
            provenance=Provenance(files=tuple(FileProvenance(p, role=r, line=ln, repo=repo)
                                              for p, r, ln, repo in o["files"])),
        )
        for o in doc["objects"]
    )
    gaps = tuple(CoverageGap(*g) for g in doc["gaps"])
    sources = tuple(SourceRevision(*s) for s in doc.get("sources", ()))
    return RenderedSet(
        path=doc["path"], commit=doc["commit"], objects=objects, tree_hash=doc["tree_hash"], gaps=gaps,
        sources=sources,
    )


def load(directory: Path, key: str) -> RenderedSet | None:
    """The cached render for ``key``, or None (a damaged entry is a miss, never an error)."""
    if not key:
        return None
    path = directory / f"{key}.json"
    try:
        text = path.read_text(encoding="utf-8")
        rs = _load(text)
        os.utime(path)  # keeps entries in use from expiring
        return rs
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("render cache: ignoring damaged entry %s: %s", path.name, exc)
        return None


def store(directory: Path, key: str, rs: RenderedSet) -> None:
    """Keep ``rs`` under ``key``; failures only cost the next run a render."""
    if not key:
        return
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(directory / f"{key}.json", _dump(rs))
        _expire(directory)
    except OSError as exc:
        log.warning("render cache: cannot store in %s: %s", directory, exc.strerror or exc)


def _expire(directory: Path) -> None:
    cutoff = time.time() - MAX_AGE_SECONDS
    for entry in directory.glob("*.json"):
        try:
            if entry.stat().st_mtime < cutoff:
                entry.unlink()
        except OSError:
            continue
