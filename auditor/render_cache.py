"""Renders kept across runs, keyed by what determines them (wiring-level: render stage data ↔ files).

Key = render format version + kustomize/helm version + the commit's root tree id + overlay path +
default namespace + renderer options, including every security-relevant one (remote-base allow-list,
plugins/exec/Helm, load restrictor, network): a permissive run never serves a strict one. The root
tree id covers every file of the repository, so a hit is always exact: an unchanged repository (the
nightly common case) skips kustomize entirely, and any change anywhere renders again. Working-tree
renders, and renders that read remote content, are never cached.

Secret values are never written: a cached desired Secret keeps its keys, its values become ``***``
and the entry is marked. Runs that compare Secret values (``cluster.secrets: hash``) treat such an
entry as a miss and render again; the default metadata-only runs never compare values, so the
stripped entry gives the same findings.
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
from auditor.render.flux.options import FluxOptions
from auditor.repo.options import SourceOptions
from auditor.util.fs import atomic_write
from auditor.util.secrets import is_secret, mask_secret_values

log = logging.getLogger("gitops_audit")

FORMAT = "3"
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


def security_settings(source: SourceOptions, flux: FluxOptions) -> str:
    """Everything that decides what a render may read or run, as one key part."""
    settings = {
        "allow_remote_bases": sorted(source.allow_remote_bases),
        "kustomize_helm": flux.kustomize_helm,
        "plugins": False,
        "exec": False,
        "load_restrictor": "LoadRestrictionsRootOnly",
        "network": "isolated",
        "tool_memory_mb": source.tool_memory_mb,
    }
    return json.dumps(settings, sort_keys=True)


def _strip_secret(body: Any) -> tuple[Any, bool]:
    """A desired Secret body with its values replaced by ``***`` (keys kept); True when a value was dropped."""
    if not isinstance(body, dict) or not is_secret(body):
        return body, False
    stripped = any(isinstance(body.get(f), dict) and body[f] for f in ("data", "stringData"))
    return mask_secret_values(body), stripped


def _dump(rs: RenderedSet) -> str:
    objects = []
    stripped_any = False
    for m in rs.objects:
        body, stripped = _strip_secret(m.body)
        stripped_any = stripped_any or stripped
        objects.append({
            "ref": [m.ref.group, m.ref.kind, m.ref.namespace, m.ref.name],
            "api_version": m.api_version,
            "body": body,
            "files": [[f.path, f.role, f.line, f.repo] for f in m.provenance.files],
        })
    gaps = [[g.group_kind, g.namespace, g.reason, g.name, g.informational] for g in rs.gaps]
    sources = [[s.url, s.ref, s.commit, s.git_dir] for s in rs.sources]
    doc = {"path": rs.path, "commit": rs.commit, "tree_hash": rs.tree_hash, "objects": objects, "gaps": gaps,
           "sources": sources, "secret_values": "stripped" if stripped_any else "none"}
    return json.dumps(doc, separators=(",", ":"))


def _load(text: str, need_secret_values: bool = False) -> RenderedSet | None:
    doc: dict[str, Any] = json.loads(text)
    if need_secret_values and doc.get("secret_values") != "none":
        return None
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


def load(directory: Path, key: str, *, need_secret_values: bool = False) -> RenderedSet | None:
    """The cached render for ``key``, or None (a damaged entry is a miss, never an error).

    ``need_secret_values``: the run compares Secret values, so an entry whose values were stripped is a miss.
    """
    if not key:
        return None
    path = directory / f"{key}.json"
    try:
        text = path.read_text(encoding="utf-8")
        rs = _load(text, need_secret_values)
        if rs is not None:
            os.utime(path)  # keeps entries in use from expiring
        return rs
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
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
