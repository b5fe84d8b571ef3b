"""Render a kustomize overlay at a commit into desired objects with file provenance.

Flow: :func:`prepare_tree` extracts the commit into a private directory and adds
``buildMetadata: [originAnnotations, transformerAnnotations]`` to every kustomization there;
:func:`render_overlay` scans the overlay's kustomization graph (remote bases, escaping symlinks),
runs the real kustomize, turns each object into a :class:`~auditor.model.Manifest` whose provenance
comes from the annotations kustomize wrote, and strips those annotations from the body.

buildMetadata was checked against kubectl 1.32 (kustomize v5.5.0): with components, config/secret
generators (also ``behavior: merge``), strategic-merge, JSON6902 and inline patches, replacements,
namePrefix/nameSuffix, namespace, labels, images and replicas, the output with both options is
identical to the output without them once the build annotations are removed (see
``tests/source/test_render.py::test_build_metadata_does_not_change_output``). So both options are
added everywhere. What transformerAnnotations does *not* say is which patch file changed an object
(it lists every PatchTransformer of a kustomization on every object it processed), so patch files are
matched to objects here from the kustomization's ``patches`` targets.

Render cache key (``RenderedSet.tree_hash``): the overlay directory alone is not enough (overlays read
``../../base``). With kustomize's default load restrictor every file a kustomization reads lies in or
below that kustomization's directory, so the set of kustomization directories reached from the overlay
covers every local input. The key is a SHA-256 over those directories' git tree ids, the kustomize
version, the default namespace and this module's output version. It stays the same when unrelated
parts of the repository change. Working-tree renders and overlays with (allow-listed) remote bases, whose
ref may move between runs, get an empty key: never cache those.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import RenderError, SourceError, ToolError
from auditor.model import (
    FileProvenance,
    Manifest,
    ObjectRef,
    Provenance,
    RenderedSet,
    split_api_version,
)
from auditor.source.git import RepoHandle, extract_tree, head_commit, resolve_ref, strip_credentials
from auditor.source.options import SourceOptions
from auditor.source.tools import KustomizeTool
from auditor.util import proc, yamlio
from auditor.util.kinds import is_namespaced

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
"""File names kustomize accepts as a kustomization, in its lookup order."""

BUILD_METADATA = ("originAnnotations", "transformerAnnotations")
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
TRANSFORMATIONS_ANNOTATION = "alpha.config.kubernetes.io/transformations"
_INTERNAL_PREFIX = "internal.config.kubernetes.io/"
"""Reserved by kustomize/kyaml for build bookkeeping (paths, indexes, previous names); never desired state."""
_RENDER_VERSION = "render-v1"
"""Bumped when the Manifests built from the same kustomize output change (part of the cache key)."""

_MAX_MESSAGE = 600
_PATCH_KINDS = frozenset({"PatchTransformer", "PatchStrategicMergeTransformer", "PatchJson6902Transformer"})
_GENERATOR_KINDS = frozenset({"ConfigMapGenerator", "SecretGenerator"})
_HASH_SUFFIX_RE = re.compile(r"-[a-z0-9]{10}$")

try:  # libyaml composes nodes (with line marks) several times faster
    from yaml import CSafeLoader as _NodeLoader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _NodeLoader  # type: ignore[assignment]


@dataclass(frozen=True)
class PreparedTree:
    """A private copy of the repository at one commit, ready for kustomize (buildMetadata added)."""

    root: Path
    commit: str
    skipped: tuple[tuple[str, str], ...] = ()
    """(repository-relative path, reason) of entries not extracted, e.g. symlinks leaving the repository."""
    dir_ids: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    """Repository-relative directory → git tree id at ``commit`` (empty for working-tree renders)."""
    worktree: bool = False
    """True when the files come from the working tree, not from ``commit``."""


def prepare_tree(repo: RepoHandle, commit: str, dest: Path, options: SourceOptions) -> PreparedTree:
    """Extract ``commit`` (or copy the working tree, with ``options.worktree``) into ``dest``.

    Then add buildMetadata to every kustomization file in the copy. ``dest`` must be empty or absent.
    """
    dest = Path(dest)
    if options.worktree:
        if repo.work_dir is None:
            raise SourceError(f"prepare working tree of {repo.location}: the repository has no working tree")
        skipped = _copy_worktree(repo.work_dir, dest)
        tree = PreparedTree(root=dest, commit=commit or head_commit(repo), skipped=skipped, worktree=True)
    else:
        commit = resolve_ref(repo, commit)  # a full sha resolves to itself; "HEAD"/"main" become one
        ext = extract_tree(repo, commit, dest, timeout=options.git_timeout)
        tree = PreparedTree(root=dest, commit=commit, skipped=ext.skipped, dir_ids=dict(ext.dir_ids))
    for path in _kustomization_files(dest):
        _inject_build_metadata(path)
    return tree


def _copy_worktree(src: Path, dest: Path) -> tuple[tuple[str, str], ...]:
    """Copy a working tree without ``.git``; symlinks are copied as links, then escaping ones removed."""
    if dest.exists() and any(dest.iterdir()):
        raise SourceError(f"prepare working tree: destination {dest} is not empty")
    if dest.exists():
        dest.rmdir()

    def ignore(directory: str, names: list[str]) -> set[str]:
        # .git is not content; FIFOs, sockets and devices would make the copy block or fail.
        out = {n for n in names if n == ".git"}
        for n in names:
            try:
                mode = os.lstat(os.path.join(directory, n)).st_mode
            except OSError:
                out.add(n)
                continue
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                out.add(n)
        return out

    shutil.copytree(src, dest, symlinks=True, ignore=ignore)
    root = os.path.realpath(dest)
    skipped: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            if p.is_symlink():
                real = os.path.realpath(p)
                if real != root and not real.startswith(root + os.sep):
                    rel = p.relative_to(dest).as_posix()
                    skipped.append((rel, f"symlink to {os.readlink(p)!r} points outside the repository"))
                    p.unlink()
    return tuple(sorted(skipped))


def _kustomization_files(root: Path) -> Iterator[Path]:
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in KUSTOMIZATION_FILES:
            if name in filenames:
                p = Path(dirpath, name)
                if not p.is_symlink():
                    yield p


def _inject_build_metadata(path: Path) -> None:
    """Add both buildMetadata options to one kustomization file, editing its text in place.

    The text is edited rather than re-serialised so the file means exactly what it meant (PyYAML
    speaks YAML 1.1, kustomize's parser differs in corners such as ``on``/``off`` and octal numbers).
    Files that do not parse, or that are not kustomizations, are left alone: kustomize reports them.
    """
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return
    if not isinstance(node, yaml.MappingNode):
        return
    keys = {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    api = keys.get("apiVersion")
    if api and isinstance(api[1], yaml.ScalarNode) and not str(api[1].value).startswith("kustomize.config.k8s.io"):
        return  # e.g. a Flux Kustomization object saved under this name: not ours to touch
    existing = keys.get("buildMetadata")
    if existing is not None:
        value = existing[1]
        if not isinstance(value, yaml.SequenceNode):
            return
        have = [str(v.value) for v in value.value if isinstance(v, yaml.ScalarNode)]
        merged = have + [o for o in BUILD_METADATA if o not in have]
        if merged == have:
            return
        start, end = value.start_mark.index, value.end_mark.index
        tail = "\n" if text[start:end].endswith("\n") else ""
        new = text[:start] + "[" + ", ".join(merged) + "]" + tail + text[end:]
    elif node.flow_style:
        data = yaml.safe_load(text)
        data["buildMetadata"] = list(BUILD_METADATA)
        new = json.dumps(data)
    else:
        idx = node.end_mark.index
        indent = " " * node.start_mark.column
        line = f"{indent}buildMetadata: [{', '.join(BUILD_METADATA)}]\n"
        before = text[:idx]
        if before and not before.endswith("\n"):
            line = "\n" + line
        new = before + line + text[idx:]
    if not os.access(path, os.W_OK):
        path.chmod(path.stat().st_mode | stat.S_IWUSR)  # a read-only file copied from the working tree
    path.write_text(new, encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# The overlay's kustomization graph: what it references, where (file:line), and which directories.


@dataclass
class _Ref:
    field: str
    value: str
    line: int | None
    resolved: str | None
    """Repository-relative path the entry points at (None for inline content and remote URLs)."""


@dataclass
class _KFile:
    path: str
    """Repository-relative path of the kustomization file."""
    data: dict[str, Any]
    lines: dict[tuple[str | int, ...], int]
    refs: list[_Ref] = field(default_factory=list)
    error: str = ""
    root: Path | None = None
    """Root of the prepared tree, to read patch files."""


@dataclass
class _Graph:
    root: Path
    overlay: str
    kfiles: dict[str, _KFile] = field(default_factory=dict)
    """Kustomization directory → its file."""
    remote: list[str] = field(default_factory=list)
    """Allow-listed remote entries the build fetches (their content is not pinned by our tree ids)."""
    object_lines: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    """Resource file → (kind, name, line) of its objects, filled on demand."""

    def by_path(self, path: str) -> _KFile | None:
        """The scanned kustomization stored at ``path`` (repository-relative file path)."""
        kf = self.kfiles.get(posixpath.dirname(path))
        return kf if kf is not None and kf.path == path else None


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


def _find_kustomization(root: Path, rel_dir: str) -> str | None:
    base = root.joinpath(*rel_dir.split("/")) if rel_dir else root
    for name in KUSTOMIZATION_FILES:
        if (base / name).is_file():
            return f"{rel_dir}/{name}" if rel_dir else name
    return None


def _join(base_dir: str, value: str) -> str | None:
    """Repository-relative normalised path of ``value`` relative to ``base_dir``; None when it leaves the tree."""
    if value.startswith("/"):
        return None
    p = posixpath.normpath(posixpath.join(base_dir, value)) if base_dir else posixpath.normpath(value)
    if p == ".":
        return ""
    if p == ".." or p.startswith("../"):
        return None
    return p


def _skipped_reason(tree: PreparedTree, path: str) -> str:
    """Why ``path`` (or a directory above it, e.g. a submodule) was not extracted; "" when it was."""
    skipped = dict(tree.skipped)
    probe = path
    while probe:
        if probe in skipped:
            return skipped[probe] if probe == path else f"{probe}: {skipped[probe]}"
        probe = posixpath.dirname(probe)
    return ""


def _scan(tree: PreparedTree, overlay: str, options: SourceOptions, action: str) -> _Graph:
    """Walk the kustomization graph from ``overlay``; refuse remote bases not allow-listed and refused links."""
    graph = _Graph(root=tree.root, overlay=overlay)
    pending = [overlay]
    while pending:
        kdir = pending.pop()
        if kdir in graph.kfiles:
            continue
        kpath = _find_kustomization(tree.root, kdir)
        if kpath is None:
            continue
        try:
            text = tree.root.joinpath(*kpath.split("/")).read_text(encoding="utf-8")
            data, lines = yamlio.load_with_lines(text, kpath)
        except (OSError, UnicodeDecodeError, yamlio.YamlError) as exc:
            graph.kfiles[kdir] = _KFile(kpath, {}, {}, error=str(exc), root=tree.root)
            continue
        kf = _KFile(kpath, data if isinstance(data, dict) else {}, lines, root=tree.root)
        graph.kfiles[kdir] = kf
        for ref in _refs(kf, kdir):
            kf.refs.append(ref)
            if ref.field in _DIR_FIELDS and _is_remote(ref.value, tree.root, kdir):
                ref.resolved = None
                if not remote_allowed(ref.value, options.allow_remote_bases):
                    where = f"{kpath}:{ref.line}" if ref.line else kpath
                    raise RenderError(
                        f"{action}: remote {ref.field} entry {_shorten(ref.value)} in {where} is not allowed "
                        "(list its URL prefix in source.allow_remote_bases to allow it)"
                    )
                graph.remote.append(ref.value)
                continue
            reason = _skipped_reason(tree, ref.resolved) if ref.resolved is not None else ""
            if reason:
                where = f"{kpath}:{ref.line}" if ref.line else kpath
                raise RenderError(f"{action}: {ref.resolved} (referenced in {where}) is refused: {reason}")
            if ref.resolved is not None and ref.field in _DIR_FIELDS:
                target = tree.root.joinpath(*ref.resolved.split("/")) if ref.resolved else tree.root
                if target.is_dir():
                    pending.append(ref.resolved)
    return graph


def _shorten(text: str) -> str:
    text = strip_credentials(text)
    return text if len(text) <= 200 else text[:200] + "…"


def _is_remote(value: str, root: Path, kdir: str) -> bool:
    if "\n" in value:
        return False
    local = _join(kdir, value)
    if local is not None and root.joinpath(*local.split("/")).exists():
        return False
    return bool(_REMOTE_RE.match(value))


def _refs(kf: _KFile, kdir: str) -> Iterator[_Ref]:
    """Every path-like entry of a kustomization, with its line."""
    data = kf.data

    def ref(fld: str, value: Any, key: tuple[str | int, ...]) -> _Ref | None:
        if not isinstance(value, str) or not value or "\n" in value:
            return None
        resolved = None if _REMOTE_RE.match(value) and "://" in value else _join(kdir, value)
        return _Ref(fld, value, kf.lines.get(key), resolved)

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
                    for src, key in _generator_sources(gen):
                        r = ref(fld, src, (fld, i, *key))
                        if r:
                            yield r
    openapi = data.get("openapi")
    if isinstance(openapi, dict):
        r = ref("openapi", openapi.get("path"), ("openapi", "path"))
        if r:
            yield r


def _generator_sources(gen: Mapping[str, Any]) -> Iterator[tuple[str, tuple[str | int, ...]]]:
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


# --------------------------------------------------------------------------------------------------
# Rendering.


def normalize_overlay(overlay: str) -> str:
    """Repository-relative POSIX overlay path ("" for the root); RenderError when it leaves the repository."""
    p = overlay.replace("\\", "/").strip()
    if p.startswith("/"):
        raise RenderError(f"render {overlay}: overlay path must be relative to the repository root")
    norm = posixpath.normpath(p) if p else "."
    if norm == ".." or norm.startswith("../"):
        raise RenderError(f"render {overlay}: overlay path leaves the repository")
    return "" if norm == "." else norm


def render_overlay(
    tool: KustomizeTool,
    tree: PreparedTree,
    overlay: str,
    *,
    default_namespace: str,
    options: SourceOptions,
) -> RenderedSet:
    """Build ``overlay`` with the real kustomize and return its objects with provenance.

    Raises :class:`RenderError` (one line, repository-relative paths) when the overlay cannot be built.
    """
    rel = normalize_overlay(overlay)
    shown = rel or "."
    action = f"render {shown}"
    overlay_dir = tree.root.joinpath(*rel.split("/")) if rel else tree.root
    reason = _skipped_reason(tree, rel) if rel else ""
    if reason:
        raise RenderError(f"{action}: refused: {reason}")
    if not overlay_dir.is_dir():
        raise RenderError(f"{action}: no such directory in the repository at {tree.commit[:12]}")
    if _find_kustomization(tree.root, rel) is None:
        raise RenderError(f"{action}: no kustomization.yaml in {shown}")
    graph = _scan(tree, rel, options, action)
    # "./" keeps a directory named like a flag (say "--enable-exec", from a Flux path in the repository)
    # from ever being parsed as one.
    argv = [*tool.argv, f"./{rel}" if rel else "."]
    try:
        res = proc.run(argv, action=action, cwd=tree.root, timeout=options.render_timeout, check=False)
    except ToolError as exc:
        raise RenderError(_rewrite_paths(str(exc), tree.root)) from None
    if res.returncode != 0:
        raise RenderError(f"{action}: kustomize: {explain_failure(res.stderr, graph, tree)}")
    try:
        docs = yamlio.load_all(res.stdout, f"kustomize output of {shown}")
    except yamlio.YamlError as exc:
        raise RenderError(f"{action}: {exc}") from None
    items = [obj for doc in docs for obj in yamlio.iter_items(doc)]
    cluster_scoped = _cluster_scoped_crds(items)
    objects = [_manifest(obj, graph, default_namespace, action, cluster_scoped) for obj in items]
    return RenderedSet(
        path=rel,
        commit=tree.commit,
        objects=tuple(objects),
        tree_hash=_tree_hash(graph, tree, tool, default_namespace),
    )


def _tree_hash(graph: _Graph, tree: PreparedTree, tool: KustomizeTool, default_namespace: str) -> str:
    if tree.worktree or not tree.dir_ids or graph.remote:
        # No stable key: uncommitted files, or remote bases whose ref may move between runs.
        return ""
    parts = [_RENDER_VERSION, tool.info.version, default_namespace]
    for kdir in sorted(graph.kfiles):
        oid = tree.dir_ids.get(kdir)
        if oid is None:
            return ""
        parts.append(f"{kdir or '.'}\0{oid}")
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def _cluster_scoped_crds(items: list[dict[str, Any]]) -> frozenset[tuple[str, str]]:
    """(group, kind) of custom resources the overlay itself defines as cluster-scoped."""
    out: set[tuple[str, str]] = set()
    for obj in items:
        if obj.get("kind") == "CustomResourceDefinition" and str(obj.get("apiVersion", "")).startswith(
                "apiextensions.k8s.io/"):
            spec = obj.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind") if isinstance(spec, dict) else None
            if isinstance(spec, dict) and spec.get("scope") == "Cluster" and kind:
                out.add((str(spec.get("group") or ""), str(kind)))
    return frozenset(out)


def _manifest(obj: dict[str, Any], graph: _Graph, default_namespace: str, action: str,
              cluster_scoped: frozenset[tuple[str, str]] = frozenset()) -> Manifest:
    api_version = str(obj.get("apiVersion") or "")
    kind = str(obj.get("kind") or "")
    meta = obj.get("metadata")
    if not api_version or not kind or not isinstance(meta, dict) or not meta.get("name"):
        ident = f"{kind or '?'}/{(meta or {}).get('name', '?') if isinstance(meta, dict) else '?'}"
        raise RenderError(f"{action}: rendered object {ident} lacks apiVersion, kind or metadata.name")
    group, _ = split_api_version(api_version)
    annotations = meta.get("annotations")
    origin_raw = transforms_raw = None
    body = obj
    if isinstance(annotations, dict):
        origin_raw = annotations.get(ORIGIN_ANNOTATION)
        transforms_raw = annotations.get(TRANSFORMATIONS_ANNOTATION)
        kept = {
            k: v
            for k, v in annotations.items()
            if k not in (ORIGIN_ANNOTATION, TRANSFORMATIONS_ANNOTATION) and not k.startswith(_INTERNAL_PREFIX)
        }
        new_meta = {k: v for k, v in meta.items() if k != "annotations"}
        if kept:
            new_meta["annotations"] = kept
        body = {**obj, "metadata": new_meta}
    namespace = str(meta.get("namespace") or "")
    if not namespace and is_namespaced(group, kind, cluster_scoped):
        namespace = default_namespace
    ref = ObjectRef(group=group, kind=kind, namespace=namespace, name=str(meta["name"]))
    files = _provenance(body, origin_raw, transforms_raw, graph)
    return Manifest(ref=ref, api_version=api_version, body=body, provenance=Provenance(files=files))


# --------------------------------------------------------------------------------------------------
# Provenance from the build annotations.


@functools.lru_cache(maxsize=4096)
def _load_annotation(raw: Any) -> Any:
    """Parse a build annotation (cached: every object of an overlay carries the same transformations list).

    The result is shared between objects and must be treated as read-only.
    """
    if not isinstance(raw, str):
        return None
    try:
        return yamlio.load_one(raw, "build annotation")
    except yamlio.YamlError:
        return None


def _provenance(body: Mapping[str, Any], origin_raw: Any, transforms_raw: Any,
                graph: _Graph) -> tuple[FileProvenance, ...]:
    files: list[FileProvenance] = []

    def add(path: str, role: str, line: int | None = None) -> None:
        if not any(f.path == path for f in files):
            files.append(FileProvenance(path=path, role=role, line=line))

    origin = _load_annotation(origin_raw)
    transforms = _load_annotation(transforms_raw)
    entries: list[tuple[str, str]] = []  # (repository path of configuredIn, transformer kind)
    if isinstance(transforms, list):
        for t in transforms:
            if isinstance(t, dict) and t.get("configuredIn"):
                kind = str((t.get("configuredBy") or {}).get("kind") or "")
                path = _origin_path({"path": t["configuredIn"], "repo": t.get("repo")}, graph)
                entries.append((path, kind))
    origin_k = origin_kind = ""
    if isinstance(origin, dict) and not origin.get("path") and origin.get("configuredIn"):
        origin_k = _origin_path({"path": origin["configuredIn"], "repo": origin.get("repo")}, graph)
        origin_kind = str((origin.get("configuredBy") or {}).get("kind") or "")
    # Every kustomization the object passed through: their namePrefix/nameSuffix explain its name.
    chain: list[_KFile] = []
    for path in [origin_k, *(p for p, _ in entries)]:
        kf = graph.by_path(path) if path else None
        if kf is not None and kf not in chain:
            chain.append(kf)
    names = _name_candidates(body, chain)

    if isinstance(origin, dict) and origin.get("path"):
        path = _origin_path(origin, graph)
        add(path, "resource", None if origin.get("repo") else _object_line(graph, path, body, names))
    elif origin_k and origin_kind in _GENERATOR_KINDS:
        add(origin_k, "generator")
        kf = graph.by_path(origin_k)
        if kf is not None:
            for src in _generator_files(kf, origin_kind, names):
                add(src, "generator")
    elif origin_k:
        # A patch replaced the whole metadata.annotations map, origin annotation included, and kustomize
        # then recorded the patching transformer as the origin. Recover the resource file by identity.
        found = _find_resource_file(graph, body, names)
        if found:
            add(found, "resource", _object_line(graph, found, body, names))
        add(origin_k, "kustomization")
    # A generator with ``behavior: merge|replace`` in a later kustomization rewrites the generated object
    # without leaving a trace in the annotations.
    if origin_k and origin_kind in _GENERATOR_KINDS:
        fld = "secretGenerator" if origin_kind == "SecretGenerator" else "configMapGenerator"
        all_names = _strip_names(str((body.get("metadata") or {}).get("name") or ""), graph.kfiles.values())
        for kf in graph.kfiles.values():
            if kf.path == origin_k:
                continue
            for gen in kf.data.get(fld) or []:
                if (isinstance(gen, dict) and gen.get("behavior") in ("merge", "replace")
                        and str(gen.get("name") or "") in all_names):
                    add(kf.path, "generator")
                    kdir = posixpath.dirname(kf.path)
                    for src, _ in _generator_sources(gen):
                        joined = _join(kdir, src)
                        if joined is not None:
                            add(joined, "generator")
    by_file: dict[str, list[str]] = {}
    for path, kind in entries:
        by_file.setdefault(path, []).append(kind)
    for path, kinds in by_file.items():
        kf = graph.by_path(path)
        if kf is None:
            # A transformer config file (``transformers: [my-labels.yaml]``) or a remote kustomization.
            add(path, "config" if posixpath.basename(path) not in KUSTOMIZATION_FILES else "kustomization")
            continue
        patch_files, inline_hit = _matching_patches(kf, body, names)
        if inline_hit or any(_transformer_applies(k, kf, body, names) for k in kinds):
            add(path, "kustomization")
        for pf in patch_files:
            add(pf, "patch")
        if "ReplacementTransformer" in kinds:
            for rf in _replacement_files(kf, body, names):
                add(rf, "config")
    return tuple(files)


def _replacement_files(kf: _KFile, body: Mapping[str, Any], names: set[str]) -> Iterator[str]:
    """Replacement files (``replacements: [{path: f}]``) whose targets select the object."""
    kdir = posixpath.dirname(kf.path)
    for rep in kf.data.get("replacements") or []:
        if not isinstance(rep, dict) or not isinstance(rep.get("path"), str):
            continue
        joined = _join(kdir, rep["path"])
        text = _read_text(kf, joined) if joined is not None else None
        try:
            docs = yamlio.load_all(text, joined or "") if text else []
        except yamlio.YamlError:
            docs = []
        for doc in docs:
            for item in doc if isinstance(doc, list) else [doc]:
                targets = item.get("targets") if isinstance(item, dict) else None
                for tgt in targets or []:
                    sel = tgt.get("select") if isinstance(tgt, dict) else None
                    if isinstance(sel, dict) and _selector_matches(sel, body, names) and joined:
                        yield joined
                        break


# kustomize lists every transformer of a kustomization on every object that passed through it, whether
# or not it changed the object. These kinds act on selected objects only; check the selection so the
# kustomization is not named as a source of objects it did not touch.
def _transformer_applies(kind: str, kf: _KFile, body: Mapping[str, Any], names: set[str]) -> bool:
    if kind in _PATCH_KINDS:
        return False  # handled by _matching_patches (file or inline patch)
    if kind == "ImageTagTransformer":
        # the final image carries newName when one was set, else the matched name
        wanted = {str(i.get(k)) for i in kf.data.get("images") or [] if isinstance(i, dict)
                  for k in ("name", "newName") if i.get(k)}
        return any(_image_name(img) in wanted for img in _images(body))
    if kind == "ReplicaCountTransformer":
        wanted = {str(r.get("name")) for r in kf.data.get("replicas") or [] if isinstance(r, dict)}
        return bool(wanted & names)
    if kind == "ReplacementTransformer":
        for rep in kf.data.get("replacements") or []:
            if not isinstance(rep, dict):
                return True
            if "path" in rep:
                continue  # a replacements file: named itself (role "config") when it selects the object
            for tgt in rep.get("targets") or []:
                sel = tgt.get("select") if isinstance(tgt, dict) else None
                if isinstance(sel, dict) and _selector_matches(sel, body, names):
                    return True
        return False
    return True


def _images(body: Mapping[str, Any]) -> Iterator[str]:
    """Container images anywhere in the object (pod templates, cron jobs, pods, custom resources)."""
    stack: list[Any] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "image" and isinstance(v, str):
                    yield v
                else:
                    stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)


def _image_name(image: str) -> str:
    """``registry/repo:tag@digest`` → ``registry/repo`` (the name kustomize's ``images`` matches)."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _object_line(graph: _Graph, path: str, body: Mapping[str, Any], names: set[str]) -> int | None:
    """1-based line where the object (same kind, one of its build-time names) starts in ``path``."""
    kind = str(body.get("kind") or "")
    for k, name, line in _objects_in(graph, path):
        if k == kind and name in names:
            return line
    return None


def _objects_in(graph: _Graph, path: str) -> list[tuple[str, str, int]]:
    """(kind, name, line) of the objects in a repository file, parsed once per render."""
    index = graph.object_lines.get(path)
    if index is None:
        index = graph.object_lines[path] = _index_objects(graph.root, path)
    return index


def _index_objects(root: Path, path: str) -> list[tuple[str, str, int]]:
    """(kind, name, line) of every object in a YAML file, ``kind: List`` items included."""
    try:
        text = root.joinpath(*path.split("/")).read_text(encoding="utf-8")
        if len(text) > yamlio.MAX_DOCUMENT_BYTES:
            return []
        docs = list(yaml.compose_all(text, Loader=_NodeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
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


def _find_resource_file(graph: _Graph, body: Mapping[str, Any], names: set[str]) -> str:
    """The resource file (reached from the overlay) that declares an object of this kind and name."""
    kind = body.get("kind")
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if ref.field not in ("resources", "bases", "crds") or not ref.resolved or kf.root is None:
                continue
            p = kf.root.joinpath(*ref.resolved.split("/"))
            if not p.is_file():
                continue
            try:
                docs = yamlio.load_all(p.read_bytes(), ref.resolved)
            except (OSError, yamlio.YamlError):
                continue
            for doc in docs:
                for obj in yamlio.iter_items(doc):
                    if obj.get("kind") == kind and str((obj.get("metadata") or {}).get("name")) in names:
                        return ref.resolved
    return ""


def _origin_path(origin: Mapping[str, Any], graph: _Graph) -> str:
    """Repository-relative path of an origin/transformer entry (paths are relative to the overlay)."""
    path = str(origin.get("path") or "")
    repo = origin.get("repo")
    if repo:
        ref = origin.get("ref")
        return _shorten(f"{repo}//{path}" + (f"?ref={ref}" if ref else ""))
    joined = _join(graph.overlay, path)
    return joined if joined is not None else path


def _generator_files(kf: _KFile, kind: str, candidates: set[str]) -> Iterator[str]:
    """Data files of the generator entry that made this object (``files``/``envs``/``env``)."""
    fld = "secretGenerator" if kind == "SecretGenerator" else "configMapGenerator"
    gens = kf.data.get(fld)
    if not isinstance(gens, list):
        return
    kdir = posixpath.dirname(kf.path)
    for gen in gens:
        if isinstance(gen, dict) and str(gen.get("name") or "") in candidates:
            for src, _ in _generator_sources(gen):
                p = _join(kdir, src)
                if p is not None:
                    yield p
            return


def _strip_names(name: str, chain: Iterable[_KFile]) -> set[str]:
    """The names an object may have had earlier in the build: without hash suffix, prefixes and suffixes."""
    prefixes = {str(k.data.get("namePrefix")) for k in chain if k.data.get("namePrefix")}
    suffixes = {str(k.data.get("nameSuffix")) for k in chain if k.data.get("nameSuffix")}
    out = {name}
    m = _HASH_SUFFIX_RE.search(name)
    if m:
        out.add(name[: m.start()])
    frontier = set(out)
    for _ in range(8):  # bounded: each round strips one more prefix/suffix
        nxt: set[str] = set()
        for n in frontier:
            for p in prefixes:
                if n.startswith(p) and len(n) > len(p):
                    nxt.add(n[len(p):])
            for s in suffixes:
                if n.endswith(s) and len(n) > len(s):
                    nxt.add(n[: -len(s)])
        nxt -= out
        if not nxt:
            break
        out |= nxt
        frontier = nxt
    return out


def _name_candidates(body: Mapping[str, Any], chain: list[_KFile]) -> set[str]:
    return _strip_names(str((body.get("metadata") or {}).get("name") or ""), chain)


def _matching_patches(kf: _KFile, body: Mapping[str, Any], names: set[str]) -> tuple[list[str], bool]:
    """Patch files of ``kf`` whose target matches the object, and whether an inline patch matched.

    Matching follows kustomize's selectors (group/version/kind, name and namespace as anchored
    regular expressions, label/annotation selectors) against the object's final labels and every name
    it may have had during the build. It can over-report when a later layer renamed an object to a
    name another object had, which is rare and errs on the side of showing a file.
    """
    kdir = posixpath.dirname(kf.path)
    files: list[str] = []
    inline = False

    def record(path: Any, content: Any, target: Any) -> None:
        nonlocal inline
        if isinstance(path, str) and path:
            joined = _join(kdir, path)
            if joined is None:
                return
            if target is None:
                content = _read_text(kf, joined)
            if _patch_matches(target, content, body, names):
                files.append(joined)
        elif isinstance(content, str) and _patch_matches(target, content, body, names):
            inline = True

    for fld in ("patches", "patchesJson6902"):
        items = kf.data.get(fld)
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    record(item.get("path"), item.get("patch"), item.get("target"))
    smp = kf.data.get("patchesStrategicMerge")
    if isinstance(smp, list):
        for item in smp:
            if isinstance(item, str) and "\n" not in item:
                record(item, None, None)
            elif isinstance(item, str):
                record(None, item, None)
    return files, inline


def _read_text(kf: _KFile, rel: str) -> str | None:
    if kf.root is None:
        return None
    try:
        return kf.root.joinpath(*rel.split("/")).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _patch_matches(target: Any, content: Any, body: Mapping[str, Any], names: set[str]) -> bool:
    if isinstance(target, dict):
        return _selector_matches(target, body, names)
    if not isinstance(content, str):
        return False
    try:
        docs = yamlio.load_all(content, "patch")
    except yamlio.YamlError:
        return False
    for doc in docs:
        if not isinstance(doc, dict):
            continue  # a JSON6902 list without target matches nothing
        meta = doc.get("metadata") or {}
        sel = {"kind": doc.get("kind"), "name": meta.get("name")}
        if doc.get("apiVersion"):
            g, v = split_api_version(str(doc["apiVersion"]))
            sel.update(group=g, version=v)
        if _selector_matches(sel, body, names, regex=False):
            return True
    return False


def _selector_matches(sel: Mapping[str, Any], body: Mapping[str, Any], names: set[str], *,
                      regex: bool = True) -> bool:
    """Whether a kustomize selector (patch target, replacement select) may pick the object.

    ``namespace`` is not compared: the object's namespace at the selector's layer may have been
    changed by a later ``namespace:``, and naming a file too many is safer for an audit than one too few.
    """
    api_version = str(body.get("apiVersion") or "")
    group, version = split_api_version(api_version)
    meta = body.get("metadata") or {}

    def eq(pattern: Any, value: str) -> bool:
        if pattern in (None, ""):
            return True
        pat = str(pattern)
        if not regex:
            return pat == value
        try:
            return re.fullmatch(pat, value) is not None
        except re.error:
            return pat == value

    if not eq(sel.get("kind"), str(body.get("kind") or "")):
        return False
    if sel.get("group") not in (None, "") and not eq(sel.get("group"), group):
        return False
    if sel.get("version") not in (None, "") and not eq(sel.get("version"), version):
        return False
    if sel.get("name") not in (None, "") and not any(eq(sel.get("name"), n) for n in names):
        return False
    if sel.get("labelSelector") and not _label_selector(str(sel["labelSelector"]), meta.get("labels") or {}):
        return False
    return not (
        sel.get("annotationSelector")
        and not _label_selector(str(sel["annotationSelector"]), meta.get("annotations") or {})
    )


_SET_RE = re.compile(r"^\s*(!?)([^\s!=]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")


def _label_selector(selector: str, labels: Mapping[str, Any]) -> bool:
    """Kubernetes label selector (``a=b,c!=d,e in (x,y),!f,g``) against a label map."""
    for term in re.split(r",(?![^(]*\))", selector):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            k, v = (s.strip() for s in term.split("!=", 1))
            if str(labels.get(k)) == v:
                return False
            continue
        if "=" in term:
            k, v = (s.strip() for s in term.split("==" if "==" in term else "=", 1))
            if k not in labels or str(labels[k]) != v:
                return False
            continue
        m = _SET_RE.match(term)
        if not m:
            return False
        neg, key, op, values = m.groups()
        vals = {v.strip() for v in (values or "").split(",") if v.strip()}
        if op == "in" and str(labels.get(key)) not in vals:
            return False
        if op == "notin" and key in labels and str(labels[key]) in vals:
            return False
        if not op and bool(neg) == (key in labels):
            return False
    return True


# --------------------------------------------------------------------------------------------------
# Failure messages: one line, repository-relative, naming the broken file.


def _rewrite_paths(text: str, root: Path) -> str:
    """Replace the private copy's absolute path with repository-relative paths."""
    for r in {str(root), os.path.realpath(root)}:
        text = text.replace(r + os.sep, "").replace(r, ".")
    return text


def _kustomize_error(stderr: str) -> str:
    """The error text of ``kubectl kustomize`` (klog ``err="…"``) or ``kustomize build`` (``Error: …``)."""
    m = re.search(r'err="((?:[^"\\]|\\.)*)"', stderr)
    if m:
        try:
            return str(json.loads('"' + m.group(1) + '"'))
        except ValueError:
            return m.group(1).replace('\\"', '"').replace("\\\\", "\\")
    m = re.search(r"err=<\n(.*?)\n\s*>", stderr, re.S)
    if m:
        return "\n".join(ln.strip() for ln in m.group(1).splitlines())
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if ln.startswith("Error: "):
            return "\n".join([ln[len("Error: "):], *lines[i + 1:]])
    return "\n".join(lines[-3:])


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def explain_failure(stderr: str, graph: _Graph, tree: PreparedTree) -> str:
    """Turn kustomize's stderr into ``<cause> in <file>[:line]``-style text (one line, no temp paths)."""
    raw = _rewrite_paths(_kustomize_error(stderr), tree.root)
    for explain in _EXPLAINERS:
        msg = explain(raw, graph, tree)
        if msg:
            return _one_line(msg)
    return _one_line(raw) or "failed without a message"


def _referenced(graph: _Graph, path: str) -> str:
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if ref.resolved == path:
                return f"{kf.path}:{ref.line}" if ref.line else kf.path
    return ""


def _explain_yaml(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    m = re.search(r"MalformedYAMLError: (?:yaml: )?(.*?) in File: (\S+)", raw, re.S)
    if not m:
        return ""
    cause, name = m.group(1).strip(), m.group(2).strip().rstrip("'\"")
    candidates = [r.resolved for kf in graph.kfiles.values() for r in kf.refs
                  if r.resolved and r.field in ("resources", "bases", "crds") and r.value == name]
    for path in candidates:
        try:
            data = tree.root.joinpath(*path.split("/")).read_bytes()
            yamlio.load_all(data, path)
        except yamlio.YamlError:
            return f"invalid YAML in {path}: {cause}"
        except OSError:
            continue
    return f"invalid YAML in {candidates[0] if candidates else name}: {cause}"


def _explain_kustomization(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    m = re.search(r"invalid Kustomization: (.*)", raw, re.S)
    if not m:
        return ""
    cause = m.group(1).strip().removeprefix("yaml: ")
    broken = [kf for kf in graph.kfiles.values() if kf.error]
    if broken:
        return f"invalid YAML in {broken[0].path}: {cause}"  # kustomize's cause carries the line
    unknown = re.search(r'unknown field "([^"]+)"', cause)
    if unknown:
        key = unknown.group(1)
        for kf in graph.kfiles.values():
            if key in kf.data:
                line = kf.lines.get((key,))
                return f"invalid kustomization {kf.path}{f':{line}' if line else ''}: unknown field \"{key}\""
    wrong = re.search(r"cannot unmarshal (\w+) into Go struct field [\w]+\.([\w.]+) of type (\S+)", cause)
    if wrong:
        found = _find_wrong_type(graph, wrong.group(2).split("."), wrong.group(3))
        if found:
            return f"invalid kustomization {found}: {wrong.group(2)} must be a {_go_type(wrong.group(3))}"
    return f"invalid kustomization: {cause}"


def _go_type(go: str) -> str:
    if go.startswith("[]"):
        return "list"
    if go.startswith("map["):
        return "mapping"
    if go in ("string",):
        return "string"
    if go.startswith(("int", "uint", "float")):
        return "number"
    if go == "bool":
        return "boolean"
    return go


def _type_ok(value: Any, go: str) -> bool:
    kind = _go_type(go)
    checks: dict[str, Callable[[Any], bool]] = {
        "list": lambda v: isinstance(v, list),
        "mapping": lambda v: isinstance(v, dict),
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    check = checks.get(kind)
    return True if check is None else check(value)


def _find_wrong_type(graph: _Graph, fields: list[str], go: str) -> str:
    """``file:line`` of the first kustomization value at ``fields`` (lists traversed) of the wrong type."""
    for kf in graph.kfiles.values():
        stack: list[tuple[Any, tuple[str | int, ...], int]] = [(kf.data, (), 0)]
        while stack:
            node, key, depth = stack.pop()
            if isinstance(node, list) and depth > 0:
                stack.extend((v, (*key, i), depth) for i, v in enumerate(node))
                continue
            if depth == len(fields):
                if not _type_ok(node, go):
                    line = kf.lines.get(key)
                    return f"{kf.path}:{line}" if line else kf.path
                continue
            if isinstance(node, dict) and fields[depth] in node:
                stack.append((node[fields[depth]], (*key, fields[depth]), depth + 1))
    return ""


def _explain_missing(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    m = re.search(r"evalsymlink failure on '([^']*)'", raw) or re.search(r"lstat ([^:\s]+): no such file", raw)
    if not m:
        return ""
    path = m.group(1)
    where = _referenced(graph, path)
    ref_txt = f" (referenced in {where})" if where else ""
    reason = _skipped_reason(tree, path)
    if reason:
        return f"{path}{ref_txt} is refused: {reason}"
    return f"missing file or directory {path}{ref_txt}"


def _explain_patch_target(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    m = re.search(r'no resource matches strategic merge patch "([^"]+)"', raw) or re.search(
        r"failed to find unique target for patch (\S+)", raw)
    if not m:
        return ""
    ident = m.group(1)  # Kind.version.group/name.[namespace]
    gvk, _, rest = ident.partition("/")
    kind, _, gv = gvk.partition(".")
    version, _, group = gv.partition(".")
    name = rest.rsplit(".[", 1)[0]
    api_version = f"{group}/{version}" if group else version
    target = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}
    for kf in graph.kfiles.values():
        files, inline = _matching_patches(kf, target, {name})
        if files:
            return f"patch {files[0]} matches no object {kind}/{name}"
        if inline:
            return f"inline patch in {kf.path} matches no object {kind}/{name}"
    return f"a patch matches no object {kind}/{name}"


def _explain_restrictor(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    m = re.search(r"security; file '([^']*)' is not in or below '([^']*)'", raw)
    if not m:
        return ""
    where = _referenced(graph, m.group(1))
    ref_txt = f" (referenced in {where})" if where else ""
    return (f"{m.group(1)}{ref_txt} is outside {m.group(2)}: a kustomization may only read files in or below "
            "its own directory (reference the other directory's kustomization instead)")


def _explain_json_patch(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    m = re.search(r"(\w+) operation does not apply: doc is missing path: (\S+?):", raw)
    if not m:
        return ""
    op_path = m.group(2)
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if ref.field in ("patches", "patchesJson6902") and ref.resolved:
                try:
                    text = tree.root.joinpath(*ref.resolved.split("/")).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                if op_path in text:
                    return f"JSON patch {ref.resolved}: {m.group(1)} operation does not apply: missing path {op_path}"
    return ""


def _explain_helm(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    if "must specify --enable-helm" not in raw:
        return ""
    for kf in graph.kfiles.values():
        if kf.data.get("helmCharts") or kf.data.get("helmChartInflationGenerator"):
            line = kf.lines.get(("helmCharts",))
            return (f"helmCharts in {kf.path}{f':{line}' if line else ''} are not rendered: Helm is disabled "
                    "(kustomize would need --enable-helm)")
    return "a Helm chart generator needs --enable-helm, which is disabled"


def _explain_plugin(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    m = re.search(r"unable to load external plugin '([^']+)'", raw)
    if not m:
        return ""
    kind = m.group(1)
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if ref.field in ("generators", "transformers", "validators") and ref.resolved:
                text = _read_text(kf, ref.resolved) or ""
                if re.search(rf"^kind:\s*{re.escape(kind)}\s*$", text, re.M):
                    where = f"{kf.path}:{ref.line}" if ref.line else kf.path
                    return (f"{ref.field} entry {ref.resolved} ({where}) is an external plugin ({kind}); "
                            "plugins and exec functions are disabled")
    return f"external plugin {kind} is disabled (plugins and exec functions are never enabled)"


def _explain_patch_config(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    m = re.search(r"trouble configuring builtin (\w+) with config: `(.*?)`: (.*)", raw, re.S)
    if not m or not m.group(1).startswith("Patch"):
        return ""
    try:
        config = yaml.safe_load(m.group(2))
    except yaml.YAMLError:
        config = None
    path = config.get("path") if isinstance(config, dict) else None
    cause = m.group(3).strip()
    if not isinstance(path, str):
        return ""
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if ref.field in ("patches", "patchesJson6902", "patchesStrategicMerge") and ref.value == path:
                where = f"{kf.path}:{ref.line}" if ref.line else kf.path
                target = ref.resolved or path
                full = tree.root.joinpath(*target.split("/"))
                if not full.exists():
                    return f"missing patch file {target} (referenced in {where})"
                try:
                    yamlio.load_all(full.read_bytes(), target)
                except yamlio.YamlError as exc:
                    return f"invalid YAML in {exc.source}:{exc.line}: {exc.problem.removeprefix('invalid YAML: ')}" \
                        if exc.line else f"invalid YAML in {target}: {exc.problem}"
                except OSError:
                    pass
                return f"patch {target} (referenced in {where}): {cause}"
    return ""


def _explain_replacement(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    m = re.search(r"nothing selected by (\S+?)\.\[?[^/]*/([^.\s]+)\.\[?[^:]*:(\S+)", raw)
    if not m:
        return ""
    kind, name, fld = m.group(1), m.group(2), m.group(3)
    for kf in graph.kfiles.values():
        if kf.data.get("replacements"):
            line = kf.lines.get(("replacements",))
            return (f"replacements in {kf.path}{f':{line}' if line else ''}: source {kind}/{name} ({fld}) "
                    "matches no object")
    return f"replacement source {kind}/{name} ({fld}) matches no object"


_LFS_HEADER = b"version https://git-lfs.github.com/spec/"


def _explain_lfs(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    """A file the build read is a Git LFS pointer (the real content lives on an LFS server we never call)."""
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if not ref.resolved or (f"'{ref.value}'" not in raw and ref.resolved not in raw):
                continue
            try:
                with open(tree.root.joinpath(*ref.resolved.split("/")), "rb") as fh:
                    head = fh.read(len(_LFS_HEADER))
            except OSError:
                continue
            if head == _LFS_HEADER:
                where = f"{kf.path}:{ref.line}" if ref.line else kf.path
                return (f"{ref.resolved} (referenced in {where}) is a Git LFS pointer: LFS content is not "
                        "fetched, keep manifests out of LFS")
    return ""


def _explain_not_object(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    m = re.search(r"accumulating resources from '([^']+)': missing Resource metadata", raw)
    if not m:
        return ""
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if ref.value == m.group(1) and ref.resolved:
                where = f"{kf.path}:{ref.line}" if ref.line else kf.path
                return f"{ref.resolved} (referenced in {where}) is not a Kubernetes object (no metadata)"
    return f"{m.group(1)} is not a Kubernetes object (no metadata)"


def _explain_component(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    m = re.search(r"expected kind '(\w+)' for path '([^']*)' but got '(\w+)'", raw)
    if not m:
        return ""
    want, path, got = m.groups()
    where = _referenced(graph, path)
    ref_txt = f" (referenced in {where})" if where else ""
    return f"{path}{ref_txt} is a {got}, but is used where a {want} is expected"


def _explain_duplicate(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    m = re.search(r"already registered id: ([^'\s]+)", raw)
    if not m:
        return ""
    ident = m.group(1)  # Kind.version.group/name.[namespace]
    gvk, _, rest = ident.partition("/")
    kind = gvk.split(".", 1)[0]
    name = rest.rsplit(".[", 1)[0] if ".[" in rest else rest.rsplit(".", 1)[0]
    places: list[str] = []
    for kf in graph.kfiles.values():
        for ref in kf.refs:
            if ref.field in ("resources", "bases") and ref.resolved and \
                    tree.root.joinpath(*ref.resolved.split("/")).is_file():
                for k, n, line in _objects_in(graph, ref.resolved):
                    if k == kind and n == name:
                        places.append(f"{ref.resolved}:{line}")
    where = f": declared in {', '.join(sorted(set(places)))}" if places else ""
    return f"{kind}/{name} is declared more than once{where}"


def _explain_no_kustomization(raw: str, graph: _Graph, tree: PreparedTree) -> str:
    m = re.search(r"unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' "
                  r"in directory '([^']*)'", raw)
    if not m:
        return ""
    path = m.group(1)
    where = _referenced(graph, path)
    ref_txt = f" (referenced in {where})" if where else ""
    return f"directory {path}{ref_txt} has no kustomization.yaml (list its files instead, or add one)"


# Most specific first: the first explainer that recognises the message wins.
_EXPLAINERS: tuple[Callable[[str, _Graph, PreparedTree], str], ...] = (
    _explain_lfs,
    _explain_yaml,
    _explain_not_object,
    _explain_kustomization,
    _explain_helm,
    _explain_plugin,
    _explain_patch_config,
    _explain_missing,
    _explain_patch_target,
    _explain_restrictor,
    _explain_json_patch,
    _explain_replacement,
    _explain_component,
    _explain_duplicate,
    _explain_no_kustomization,
)
