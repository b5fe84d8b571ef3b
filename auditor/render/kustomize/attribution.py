"""Which repository files made a rendered object: its resource file, generators, patches and configs.

The origin and transformations annotations kustomize writes (``buildMetadata`` of the prepared tree) name
the resource file or generator an object came from and every kustomization it passed through.
transformerAnnotations does *not* say which patch file changed an object (it lists every
PatchTransformer of a kustomization on every object it processed), so patch files, replacement files
and selecting transformers are matched to objects with :mod:`auditor.render.kustomize.select`.

Changing what this module attributes changes the Manifests built from the same kustomize output: bump
``render._RENDER_VERSION`` so cached renders are not reused.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from auditor.model import FileProvenance
from auditor.render.kustomize.graph import Graph, KFile, generator_sources, join_path, shorten
from auditor.render.kustomize.select import matching_patches, replacement_files, transformer_applies
from auditor.render.kustomize.tree import KUSTOMIZATION_FILES
from auditor.util import yamlio

_GENERATOR_KINDS = frozenset({"ConfigMapGenerator", "SecretGenerator"})
_HASH_SUFFIX_RE = re.compile(r"-[a-z0-9]{10}$")


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


def file_provenance(body: Mapping[str, Any], origin_raw: Any, transforms_raw: Any,
                    graph: Graph) -> tuple[FileProvenance, ...]:
    """The files that made the rendered object ``body``, from its raw origin and transformations annotations."""
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
    chain: list[KFile] = []
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
                    for src, _ in generator_sources(gen):
                        joined = join_path(kdir, src)
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
        patch_files, inline_hit = matching_patches(kf, body, names)
        if inline_hit or any(transformer_applies(k, kf, body, names) for k in kinds):
            add(path, "kustomization")
        for pf in patch_files:
            add(pf, "patch")
        if "ReplacementTransformer" in kinds:
            for rf in replacement_files(kf, body, names):
                add(rf, "config")
    return tuple(files)


def _object_line(graph: Graph, path: str, body: Mapping[str, Any], names: set[str]) -> int | None:
    """1-based line where the object (same kind, one of its build-time names) starts in ``path``."""
    kind = str(body.get("kind") or "")
    for k, name, line in graph.objects_in(path):
        if k == kind and name in names:
            return line
    return None


def _find_resource_file(graph: Graph, body: Mapping[str, Any], names: set[str]) -> str:
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


def _origin_path(origin: Mapping[str, Any], graph: Graph) -> str:
    """Repository-relative path of an origin/transformer entry (paths are relative to the overlay)."""
    path = str(origin.get("path") or "")
    repo = origin.get("repo")
    if repo:
        ref = origin.get("ref")
        return shorten(f"{repo}//{path}" + (f"?ref={ref}" if ref else ""))
    joined = join_path(graph.overlay, path)
    return joined if joined is not None else path


def _generator_files(kf: KFile, kind: str, candidates: set[str]) -> Iterator[str]:
    """Data files of the generator entry that made this object (``files``/``envs``/``env``)."""
    fld = "secretGenerator" if kind == "SecretGenerator" else "configMapGenerator"
    gens = kf.data.get(fld)
    if not isinstance(gens, list):
        return
    kdir = posixpath.dirname(kf.path)
    for gen in gens:
        if isinstance(gen, dict) and str(gen.get("name") or "") in candidates:
            for src, _ in generator_sources(gen):
                p = join_path(kdir, src)
                if p is not None:
                    yield p
            return


def _strip_names(name: str, chain: Iterable[KFile]) -> set[str]:
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


def _name_candidates(body: Mapping[str, Any], chain: list[KFile]) -> set[str]:
    return _strip_names(str((body.get("metadata") or {}).get("name") or ""), chain)


