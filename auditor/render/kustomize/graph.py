"""The kustomization graph of an overlay: what it references, where (file:line), and which directories.

:func:`scan` walks the graph before kustomize runs, refusing remote bases that are not allow-listed and
entries the tree preparation refused (symlinks leaving the repository, submodules). The graph is then
what provenance attribution and failure explanations consult, and its set of directories is the render
cache key.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import RenderError
from auditor.render.kustomize.tree import KUSTOMIZATION_FILES, PreparedTree, skipped_reason
from auditor.repo.git import strip_credentials
from auditor.repo.options import SourceOptions
from auditor.util import yamlio


@dataclass
class Ref:
    """One path-like entry of a kustomization (``resources``, ``patches[].path``, generator files...)."""

    field: str
    value: str
    line: int | None
    resolved: str | None
    """Repository-relative path the entry points at (None for inline content and remote URLs)."""


@dataclass
class KFile:
    """One kustomization file reached from the overlay, parsed with its line numbers."""

    path: str
    """Repository-relative path of the kustomization file."""
    data: dict[str, Any]
    lines: dict[tuple[str | int, ...], int]
    refs: list[Ref] = field(default_factory=list)
    error: str = ""
    root: Path | None = None
    """Root of the prepared tree, to read patch files."""

    def read(self, rel: str) -> str | None:
        """Text of the repository-relative file ``rel`` in the prepared tree; None when unreadable."""
        if self.root is None:
            return None
        try:
            return self.root.joinpath(*rel.split("/")).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None


@dataclass
class Graph:
    """The kustomizations reached from one overlay, with caches filled while its objects are attributed."""

    root: Path
    overlay: str
    kfiles: dict[str, KFile] = field(default_factory=dict)
    """Kustomization directory → its file."""
    remote: list[str] = field(default_factory=list)
    """Allow-listed remote entries the build fetches (their content is not pinned by our tree ids)."""
    object_lines: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    """Resource file → (kind, name, line) of its objects, filled on demand."""

    def by_path(self, path: str) -> KFile | None:
        """The scanned kustomization stored at ``path`` (repository-relative file path)."""
        kf = self.kfiles.get(posixpath.dirname(path))
        return kf if kf is not None and kf.path == path else None

    def objects_in(self, path: str) -> list[tuple[str, str, int]]:
        """(kind, name, line) of the objects in a repository file, parsed once per render."""
        index = self.object_lines.get(path)
        if index is None:
            index = self.object_lines[path] = _index_objects(self.root, path)
        return index


_DIR_FIELDS = ("resources", "bases", "components", "generators", "transformers", "validators")
_FILE_LIST_FIELDS = ("crds", "configurations", "patchesStrategicMerge")
_REMOTE_RE = re.compile(
    r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|git@|git::|gh:|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}(?::\d+)?/)"
)


def remote_allowed(value: str, prefixes: Iterable[str]) -> bool:
    """True when a remote kustomize entry is covered by one of the allow-listed URL prefixes.

    A prefix matches at a boundary only (``https://github.com/org`` does not allow
    ``https://github.com/org-evil/x`` nor ``https://github.com/org@evil.example/x``'s host), URL
    hosts must be equal, and entries with ``..`` path segments are never allowed.
    """
    if any(seg == ".." for seg in re.split(r"[/?]", value)):
        return False
    for prefix in prefixes:
        if not prefix or not value.startswith(prefix):
            continue
        if len(value) > len(prefix) and prefix[-1] not in "/:" and value[len(prefix)] not in "/:?":
            continue
        if "://" in prefix:
            want, got = urllib.parse.urlsplit(prefix), urllib.parse.urlsplit(value)
            if (want.scheme, want.netloc) != (got.scheme, got.netloc):
                continue
        return True
    return False


def find_kustomization(root: Path, rel_dir: str) -> str | None:
    """Repository-relative path of the kustomization file in ``rel_dir``, in kustomize's lookup order."""
    base = root.joinpath(*rel_dir.split("/")) if rel_dir else root
    for name in KUSTOMIZATION_FILES:
        if (base / name).is_file():
            return f"{rel_dir}/{name}" if rel_dir else name
    return None


def join_path(base_dir: str, value: str) -> str | None:
    """Repository-relative normalised path of ``value`` relative to ``base_dir``; None when it leaves the tree."""
    if value.startswith("/"):
        return None
    p = posixpath.normpath(posixpath.join(base_dir, value)) if base_dir else posixpath.normpath(value)
    if p == ".":
        return ""
    if p == ".." or p.startswith("../"):
        return None
    return p


_HELM_FIELDS = ("helmCharts", "helmChartInflationGenerator", "helmGlobals")


def scan(tree: PreparedTree, overlay: str, options: SourceOptions, action: str, *, helm: bool = False) -> Graph:
    """Walk the kustomization graph from ``overlay``; refuse remote entries not allowed and refused links.

    ``helm``: kustomize runs with ``--enable-helm`` (otherwise chart repositories are never contacted and
    kustomize itself refuses the charts).
    """
    graph = Graph(root=tree.root, overlay=overlay)
    pending = [overlay]
    while pending:
        kdir = pending.pop()
        if kdir in graph.kfiles:
            continue
        kpath = find_kustomization(tree.root, kdir)
        if kpath is None:
            continue
        try:
            text = tree.root.joinpath(*kpath.split("/")).read_text(encoding="utf-8")
            data, lines = yamlio.load_with_lines(text, kpath)
        except (OSError, UnicodeDecodeError, yamlio.YamlError) as exc:
            graph.kfiles[kdir] = KFile(kpath, {}, {}, error=str(exc), root=tree.root)
            continue
        kf = KFile(kpath, data if isinstance(data, dict) else {}, lines, root=tree.root)
        graph.kfiles[kdir] = kf
        for ref in _refs(kf, kdir):
            kf.refs.append(ref)
            # Every field kustomize resolves as a path or URL (patches, generator files, replacements,
            # crds, openapi, helmCharts repos…), not only resources: kustomize fetches http(s) URLs
            # in all of them, and a fetched body ends up in the reports.
            if _is_remote(ref.value, tree.root, kdir) and (helm or ref.field not in _HELM_FIELDS):
                ref.resolved = None
                if not remote_allowed(ref.value, options.allow_remote_bases):
                    where = f"{kpath}:{ref.line}" if ref.line else kpath
                    raise RenderError(
                        f"{action}: remote {ref.field} entry {shorten(ref.value)} in {where} is not allowed "
                        "(list its URL prefix in source.allow_remote_bases to allow it)"
                    )
                graph.remote.append(ref.value)
                continue
            reason = skipped_reason(tree, ref.resolved) if ref.resolved is not None else ""
            if reason:
                where = f"{kpath}:{ref.line}" if ref.line else kpath
                raise RenderError(f"{action}: {ref.resolved} (referenced in {where}) is refused: {reason}")
            if ref.resolved is not None and ref.field in _DIR_FIELDS:
                target = tree.root.joinpath(*ref.resolved.split("/")) if ref.resolved else tree.root
                if target.is_dir():
                    pending.append(ref.resolved)
    return graph


def shorten(text: str) -> str:
    """``text`` (a remote URL) without credentials, cut to 200 characters for messages."""
    text = strip_credentials(text)
    return text if len(text) <= 200 else text[:200] + "…"


def _is_remote(value: str, root: Path, kdir: str) -> bool:
    if "\n" in value:
        return False
    local = join_path(kdir, value)
    if local is not None and root.joinpath(*local.split("/")).exists():
        return False
    return bool(_REMOTE_RE.match(value))


def _refs(kf: KFile, kdir: str) -> Iterator[Ref]:
    """Every path-like entry of a kustomization, with its line."""
    data = kf.data

    def ref(fld: str, value: Any, key: tuple[str | int, ...]) -> Ref | None:
        if not isinstance(value, str) or not value or "\n" in value:
            return None
        resolved = None if _REMOTE_RE.match(value) and "://" in value else join_path(kdir, value)
        return Ref(fld, value, kf.lines.get(key), resolved)

    for fld in (*_DIR_FIELDS, *_FILE_LIST_FIELDS):
        items = data.get(fld)
        if isinstance(items, list):
            for i, v in enumerate(items):
                r = ref(fld, v, (fld, i))
                if r:
                    yield r
    for fld in ("patches", "patchesJson6902", "replacements"):
        items = data.get(fld)
        if isinstance(items, list):
            for i, v in enumerate(items):
                if isinstance(v, dict):
                    r = ref(fld, v.get("path"), (fld, i, "path"))
                    if r:
                        yield r
    for fld in ("configMapGenerator", "secretGenerator"):
        items = data.get(fld)
        if isinstance(items, list):
            for i, gen in enumerate(items):
                if isinstance(gen, dict):
                    for src, key in generator_sources(gen):
                        r = ref(fld, src, (fld, i, *key))
                        if r:
                            yield r
    openapi = data.get("openapi")
    if isinstance(openapi, dict):
        r = ref("openapi", openapi.get("path"), ("openapi", "path"))
        if r:
            yield r
    for fld, keys in (("helmCharts", ("repo", "valuesFile")),
                      ("helmChartInflationGenerator", ("chartRepoUrl", "values", "valuesLocal"))):
        items = data.get(fld)
        if isinstance(items, list):
            for i, chart in enumerate(items):
                if not isinstance(chart, dict):
                    continue
                for chart_key in keys:
                    r = ref(fld, chart.get(chart_key), (fld, i, chart_key))
                    if r:
                        yield r
                extra = chart.get("additionalValuesFiles")
                if isinstance(extra, list):
                    for j, v in enumerate(extra):
                        r = ref(fld, v, (fld, i, "additionalValuesFiles", j))
                        if r:
                            yield r
    globals_ = data.get("helmGlobals")
    if isinstance(globals_, dict):
        r = ref("helmGlobals", globals_.get("chartHome"), ("helmGlobals", "chartHome"))
        if r:
            yield r


def generator_sources(gen: Mapping[str, Any]) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    """File paths a config/secret generator reads: ``files`` (``key=path`` or path), ``envs``, ``env``."""
    files = gen.get("files")
    if isinstance(files, list):
        for j, f in enumerate(files):
            if isinstance(f, str):
                yield f.split("=", 1)[1] if "=" in f else f, ("files", j)
    envs = gen.get("envs")
    if isinstance(envs, list):
        for j, e in enumerate(envs):
            if isinstance(e, str):
                yield e, ("envs", j)
    env = gen.get("env")
    if isinstance(env, str):
        yield env, ("env",)


def _index_objects(root: Path, path: str) -> list[tuple[str, str, int]]:
    """(kind, name, line) of every object in a YAML file, ``kind: List`` items included."""
    try:
        text = root.joinpath(*path.split("/")).read_text(encoding="utf-8")
        docs = yamlio.compose_all(text, path)
    except (OSError, UnicodeDecodeError, yamlio.YamlError):
        return []
    out: list[tuple[str, str, int]] = []

    def child(node: yaml.Node | None, key: str) -> yaml.Node | None:
        if not isinstance(node, yaml.MappingNode):
            return None
        return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)

    def scalar(node: yaml.Node | None, *keys: str) -> str:
        for key in keys:
            node = child(node, key)
        return str(node.value) if isinstance(node, yaml.ScalarNode) else ""

    def visit(node: yaml.Node) -> None:
        kind = scalar(node, "kind")
        items = child(node, "items")
        if kind.endswith("List") and isinstance(items, yaml.SequenceNode):
            for item in items.value:
                visit(item)
            return
        if kind:
            out.append((kind, scalar(node, "metadata", "name"), node.start_mark.line + 1))

    for doc in docs:
        if doc is not None:
            visit(doc)
    return out
