"""The secret values a repository holds in clear text, to mask them in render and tool errors.

kustomize (and helm) echo what they were processing when they fail: a Secret's node contents, a
generator's literal sources, a fetched body. Render errors are stored in every report format, so
before one is kept it is masked with every value this scan finds (and their base64 forms):

* ``data`` and ``stringData`` values of Secrets (SOPS-encrypted values included: harmless to mask);
* ``secretGenerator`` literals, and the contents of its ``files``/``envs``/``env`` sources;
* Flux ``postBuild.substitute`` values of variables that a Secret references (``${DB_PASSWORD}``).

The scan runs only when a render fails, once per prepared tree, over the files whose text mentions a
Secret, a secretGenerator or postBuild (a cheap text test first).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from auditor.util import yamlio
from auditor.util.redact import SecretValues

_SUFFIXES = (".yaml", ".yml", ".json")
_MARKERS = ("Secret", "secretGenerator", "postBuild")
_MAX_FILE = 4 * 1024 * 1024
_MAX_FILES = 20_000
_VAR_RE = re.compile(r"\$\{([_a-zA-Z][_a-zA-Z0-9]*)")

_cache: dict[str, SecretValues] = {}
_lock = threading.Lock()


def _files(root: Path) -> Iterator[Path]:
    """YAML/JSON files of the tree.

    Other renders of the same tree may be adding and removing their own scratch directories
    (``.gitops-audit-*``) meanwhile: those are skipped, and vanished entries ignored.
    """
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, onerror=lambda _e: None):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".gitops-audit"))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.suffix.lower() in _SUFFIXES and not path.is_symlink():
                count += 1
                if count > _MAX_FILES:
                    return
                yield path


def _strings(mapping: Any) -> Iterator[str]:
    if isinstance(mapping, Mapping):
        for v in mapping.values():
            if isinstance(v, str):
                yield v


def _generator_values(gen: Mapping[str, Any], base: Path, root: Path) -> Iterator[str]:
    for lit in gen.get("literals") or ():
        if isinstance(lit, str) and "=" in lit:
            yield lit.split("=", 1)[1].strip("\"'")
    sources: list[str] = []
    for f in gen.get("files") or ():
        if isinstance(f, str):
            sources.append(f.split("=", 1)[1] if "=" in f else f)
    envs = list(gen.get("envs") or ())
    if isinstance(gen.get("env"), str):
        envs.append(gen["env"])
    for rel in sources + [e for e in envs if isinstance(e, str)]:
        text = _read_inside(base / rel, root)
        if text is None:
            continue
        if rel in envs:
            for line in text.splitlines():
                if "=" in line and not line.lstrip().startswith("#"):
                    yield line.split("=", 1)[1].strip()
        else:
            yield text
            yield text.strip()


def _read_inside(path: Path, root: Path) -> str | None:
    try:
        resolved = path.resolve()
        if not resolved.is_relative_to(root.resolve()) or resolved.stat().st_size > _MAX_FILE:
            return None
        return resolved.read_text(encoding="utf-8", errors="replace")
    except (OSError, ValueError):
        return None


def scan(root: Path) -> SecretValues:
    """Every clear-text secret value in the tree at ``root`` (see the module docstring)."""
    values: list[str] = []
    secret_vars: set[str] = set()
    substitutes: dict[str, str] = {}
    for path in _files(root):
        try:
            if path.stat().st_size > _MAX_FILE:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if not any(m in text for m in _MARKERS):
            continue
        try:
            docs = yamlio.load_all(text, str(path))
        except yamlio.YamlError:
            # Unparseable (kustomize will say so): still mask what looks like Secret values in it.
            values.extend(m.group(1) for m in re.finditer(r"^\s+[\w.-]+:\s*['\"]?([^'\"\s#]{8,})", text, re.M)
                          if "Secret" in text)
            continue
        for doc in docs:
            for obj in yamlio.iter_items(doc):
                kind = obj.get("kind")
                if kind == "Secret":
                    for field in ("data", "stringData"):
                        for v in _strings(obj.get(field)):
                            values.append(v)
                            secret_vars.update(_VAR_RE.findall(v))
                gens = obj.get("secretGenerator")
                if isinstance(gens, list):
                    for gen in gens:
                        if isinstance(gen, Mapping):
                            values.extend(_generator_values(gen, path.parent, root))
                post = (obj.get("spec") or {}).get("postBuild") if isinstance(obj.get("spec"), Mapping) else None
                if isinstance(post, Mapping) and isinstance(post.get("substitute"), Mapping):
                    substitutes.update({str(k): str(v) for k, v in post["substitute"].items()})
    values.extend(v for k, v in substitutes.items() if k in secret_vars)
    return SecretValues(values)


def secret_values(root: Path) -> SecretValues:
    """:func:`scan` of a prepared tree, computed once per tree directory."""
    key = str(root)
    with _lock:
        found = _cache.get(key)
    if found is None:
        found = scan(root)
        with _lock:
            _cache[key] = found
            while len(_cache) > 64:
                _cache.pop(next(iter(_cache)))
    return found


def forget(root: Path) -> None:
    """Drop the cached scan of a tree (its directory is about to be removed)."""
    with _lock:
        _cache.pop(str(root), None)
