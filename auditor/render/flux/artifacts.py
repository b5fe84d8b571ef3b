"""Build the content of an ``ExternalArtifact`` the way source-watcher's ``ArtifactGenerator`` does (Flux 2.7).

An ArtifactGenerator (``source.extensions.fluxcd.io/v1beta1``) names sources by alias and, per output
artifact, a list of copy operations ``from: "@alias/<pattern>"`` → ``to: "@artifact/<path>"``. The
semantics reproduced here are source-watcher's (``internal/builder``):

- a pattern without glob characters is a file or a directory: a file goes to ``to`` (or into it when
  ``to`` ends with ``/`` or is an existing directory), a directory is copied *as a subdirectory* of ``to``
  (``@src/dir/`` → ``to/dir/...``; ``@src/`` copies the source's content into ``to``);
- a glob is matched with Go's ``fs.Glob`` (``*``, ``?``, ``[...]`` within one path segment: ``**`` is
  not recursive there); every match is copied under ``to`` keeping its path, except that a pattern ending
  in ``/**`` strips that prefix (``@src/apps/**`` → the content of ``apps``); matched directories are
  copied recursively; no match is an error;
- ``exclude`` patterns (doublestar, ``**`` spans directories) are matched against the path relative to
  the source and relative to the pattern's literal prefix; a pattern without ``/`` also matches the file
  name at any depth;
- operations run in order, later ones overwrite files; ``strategy: Merge`` deep-merges a YAML file into
  an existing destination (maps merge, lists are replaced, as Helm merges values files);
  ``strategy: Extract`` (tarballs) is not supported here and is reported as not rendered.

Every copied file keeps a link to the tree path it came from, so provenance points at the original file.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor.util import yamlio

GENERATOR_GROUP = "source.extensions.fluxcd.io"
WORK_PREFIX = ".gitops-audit"
"""Entries of the prepared tree made by the auditor itself: never part of a source's content."""
_GLOB_CHARS = re.compile(r"[*?\[\]]")


class ArtifactError(Exception):
    """A copy operation source-watcher would fail on (the message is source-watcher's reason)."""


@dataclass
class Staged:
    """An artifact being built: its directory in the tree and where each file came from."""

    root: Path
    origins: dict[str, str] = field(default_factory=dict)
    """Artifact-relative path → tree-relative path of the file it was copied (or last merged) from."""


def _go_glob(root: Path, pattern: str) -> list[str]:
    """Go's ``fs.Glob`` over ``root``: per-segment matching, results sorted per directory."""
    if not _GLOB_CHARS.search(pattern):
        return [pattern] if (root / pattern).exists() else []
    head, _, tail = pattern.rpartition("/")
    dirs = _go_glob(root, head) if head and _GLOB_CHARS.search(head) else ([head] if head else [""])
    out: list[str] = []
    for d in dirs:
        base = root / d if d else root
        if not base.is_dir():
            continue
        for name in sorted(os.listdir(base)):
            if name.startswith(WORK_PREFIX):
                continue
            if _go_match(tail, name):
                out.append(f"{d}/{name}" if d else name)
    return out


def _go_match(pattern: str, name: str) -> bool:
    """Go ``path.Match`` for one segment (``[^x]`` negation, backslash escapes)."""
    rx = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            rx += "[^/]*"
        elif c == "?":
            rx += "[^/]"
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            rx += re.escape(pattern[i])
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                return False
            body = pattern[i + 1:j]
            neg = body.startswith("^")
            body = body[1:] if neg else body
            rx += "[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]"
            i = j
        else:
            rx += re.escape(c)
        i += 1
    return re.fullmatch(rx, name) is not None


def _doublestar(pattern: str, path: str) -> bool:
    """Doublestar ``Match``: ``**`` spans any number of segments, other wildcards stay within one."""
    rx = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            rx += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            rx += ".*"
            i += 2
            continue
        c = pattern[i]
        rx += "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)
        i += 1
    return re.fullmatch(rx, path) is not None


def _selection_root(pattern: str) -> str:
    parts = []
    for part in posixpath.normpath(pattern).split("/"):
        if _GLOB_CHARS.search(part):
            break
        parts.append(part)
    return "/".join(parts) or "."


def _excluded(path: str, base: str, patterns: list[str]) -> bool:
    def match(p: str) -> bool:
        name = posixpath.basename(p)
        return any(_doublestar(x, p) or ("/" not in x and _doublestar(x, name)) for x in patterns)

    if not patterns:
        return False
    if match(path):
        return True
    if base in ("", "."):
        return False
    rel = posixpath.relpath(path, base)
    return not rel.startswith("..") and rel not in (".", path) and match(rel)


def _merge_map(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """source-watcher's mergeMap: maps merge recursively, anything else (lists included) is replaced."""
    out = dict(base)
    for k, v in overlay.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge_map(out[k], v)
        else:
            out[k] = v
    return out


def _load_merged(path: Path) -> dict[str, Any]:
    """Every document of a YAML file merged into one map (as source-watcher reads both sides of a merge)."""
    out: dict[str, Any] = {}
    for doc in yamlio.load_all(path.read_bytes(), str(path)):
        if isinstance(doc, dict):
            out = _merge_map(out, doc)
    return out


def build_artifact(artifact: Mapping[str, Any], sources: Mapping[str, str], tree_root: Path, dest: Path,
                   inside: Callable[[Path], bool]) -> Staged:
    """Apply one output artifact's copy operations; ``sources`` maps alias → tree-relative root.

    ``dest`` (inside the tree) receives the artifact. Raises :class:`ArtifactError` with the reason when an
    operation fails as it would in source-watcher (unknown alias, no match, bad pattern, unsupported strategy).
    """
    staged = Staged(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for op in artifact.get("copy") or []:
        if not isinstance(op, dict):
            raise ArtifactError("copy operation is not a mapping")
        _copy(op, sources, tree_root, staged, inside)
    return staged


def _copy(op: Mapping[str, Any], sources: Mapping[str, str], tree_root: Path, staged: Staged,
          inside: Callable[[Path], bool]) -> None:
    src, to = str(op.get("from") or ""), str(op.get("to") or "")
    where = f"copy from {src!r} to {to!r}"
    if not src.startswith("@") or "/" not in src:
        raise ArtifactError(f"{where}: source must read '@alias/pattern'")
    if not to.startswith("@artifact/"):
        raise ArtifactError(f"{where}: destination must start with '@artifact/'")
    alias, pattern = src[1:].split("/", 1)
    if alias not in sources:
        raise ArtifactError(f"{where}: source alias {alias!r} not found")
    strategy = str(op.get("strategy") or "Overwrite")
    if strategy == "Extract":
        raise ArtifactError(f"{where}: strategy Extract (tarballs) is not supported by the audit")
    if strategy not in ("Overwrite", "Merge"):
        raise ArtifactError(f"{where}: unknown strategy {strategy!r}")
    excludes = [str(x) for x in op.get("exclude") or []]
    dest = posixpath.normpath(to[len("@artifact/"):]) if to[len("@artifact/"):] else ""
    dest = "" if dest == "." else dest
    if dest == ".." or dest.startswith("../") or dest.startswith("/"):
        raise ArtifactError(f"{where}: destination leaves the artifact")
    root_rel = sources[alias]
    src_root = tree_root.joinpath(*root_rel.split("/")) if root_rel else tree_root
    merge = strategy == "Merge"

    def put(rel_src: str, rel_dest: str) -> None:
        path = src_root.joinpath(*rel_src.split("/")) if rel_src not in ("", ".") else src_root
        if not inside(path):
            raise ArtifactError(f"{where}: {rel_src} points outside the source")
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                here = Path(dirpath)
                dirnames[:] = sorted(d for d in dirnames if not d.startswith(WORK_PREFIX)
                                     and not _excluded(_rel(here / d, src_root), base, excludes))
                for f in sorted(filenames):
                    file_rel = _rel(here / f, src_root)
                    if _excluded(file_rel, base, excludes):
                        continue
                    sub = _rel(here / f, path)
                    _place(here / f, posixpath.join(rel_dest, sub) if rel_dest else sub, merge=False)
            return
        _place(path, rel_dest, merge=merge)

    def _place(path: Path, rel_dest: str, *, merge: bool) -> None:
        if not inside(path) or not path.is_file():
            return
        target = staged.root.joinpath(*rel_dest.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        origin = _rel(path, tree_root)
        if merge and target.is_file():
            try:
                merged = _merge_map(_load_merged(target), _load_merged(path))
            except (OSError, yamlio.YamlError) as exc:
                raise ArtifactError(f"{where}: merge {rel_dest}: {exc}") from None
            target.write_text(yaml.safe_dump(merged, sort_keys=True), encoding="utf-8")
        else:
            if target.is_dir():
                raise ArtifactError(f"{where}: {rel_dest} is a directory")
            shutil.copyfile(path, target)
        staged.origins[rel_dest] = origin

    if not _GLOB_CHARS.search(pattern):
        clean = posixpath.normpath(pattern) if pattern else "."
        if clean == ".." or clean.startswith("../"):
            raise ArtifactError(f"{where}: source path leaves the source")
        path = src_root.joinpath(*clean.split("/")) if clean != "." else src_root
        base = clean
        if not path.exists():
            raise ArtifactError(f"{where}: source {clean!r} does not exist")
        if path.is_dir():
            name = posixpath.basename(clean) if clean != "." else ""
            put(clean, posixpath.join(dest, name) if name else dest)
            return
        if to.endswith("/") or (dest and staged.root.joinpath(*dest.split("/")).is_dir()):
            put(clean, posixpath.join(dest, posixpath.basename(clean)) if dest else posixpath.basename(clean))
        else:
            put(clean, dest)
        return
    matches = _go_glob(src_root, pattern)
    if not matches:
        raise ArtifactError(f"{where}: no files match pattern {pattern!r} in source {alias!r}")
    base = _selection_root(pattern)
    matches = [m for m in matches if m not in (".", "..") and not _excluded(m, base, excludes)]
    if not matches:
        raise ArtifactError(f"{where}: all files matching pattern {pattern!r} in source {alias!r} were excluded")
    prefix = pattern[:-3] if pattern.endswith("/**") else None
    for m in matches:
        rest = m[len(prefix) + 1:] if prefix is not None and m.startswith(prefix + "/") else m
        put(m, posixpath.join(dest, rest) if dest else rest)


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
