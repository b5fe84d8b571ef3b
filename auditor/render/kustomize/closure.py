"""What a kustomize build reads from the repository (its closure), and a digest of it for the render cache.

An overlay's build reads its kustomization, every file and kustomization that kustomization names
(resources, bases, components, patches, JSON6902 patches, strategic-merge patch files, generator
``files``/``envs``/``env``, replacement files, ``configurations``, ``crds``, ``openapi.path``), and so on
down the graph. :func:`compute` lists those files from the scanned graph
(:mod:`~auditor.render.kustomize.graph`); :func:`digest` hashes their git blob ids, so an overlay's
cached render stays valid across commits that do not touch what it reads.

Where the entries of a kustomization are not enumerated here (generator/transformer/validator plugin
configs, which can name more files), the closure takes that kustomization's whole directory: kustomize's
default load restrictor confines what a kustomization loads to its own directory. Where even that is not
enough the closure is unknown and the caller keys the render by the repository's root tree instead
(:attr:`Closure.fallback` says why): Helm charts (``chartHome`` may leave the directory), symlinks on the
way (their targets are outside the key), paths leaving the repository. A remote base is part of the key
only when its URL pins a commit; any other remote makes the render uncacheable (:attr:`Closure.uncacheable`).

``tests/render/test_closure.py`` proves the closure against kustomize itself: for every kustomization of
every fleet the test suite builds, a copy holding only the closure builds byte for byte like the full tree.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from auditor.render.kustomize.graph import Graph
from auditor.render.kustomize.tree import KUSTOMIZATION_FILES, PreparedTree

CLOSURE_VERSION = "closure-v1"
"""Part of every digest: bumped when what a closure covers changes."""

_FILE_FIELDS = frozenset({
    "resources", "bases", "components", "crds", "configurations", "patchesStrategicMerge", "patches",
    "patchesJson6902", "replacements", "configMapGenerator", "secretGenerator", "openapi",
})
"""Ref fields whose entries are files or kustomization directories the graph resolves."""

_PLUGIN_FIELDS = ("generators", "transformers", "validators")
"""Fields whose file entries are plugin configs that may name further files: the directory is read whole."""

_ROOT_FIELDS = ("helmCharts", "helmChartInflationGenerator", "helmGlobals")
"""Fields that read outside a kustomization's directory (``chartHome``): the closure is unknown."""

_KNOWN = frozenset({
    *_FILE_FIELDS, *_PLUGIN_FIELDS, *_ROOT_FIELDS, "apiVersion", "kind", "metadata", "namespace", "namePrefix",
    "nameSuffix", "commonLabels", "labels", "commonAnnotations", "images", "imageTags", "replicas",
    "generatorOptions", "vars", "sortOptions", "buildMetadata",
})

_PINNED_REF = re.compile(r"[?&](?:ref|version)=([0-9a-f]{40})(?:&|$)")


@dataclass(frozen=True)
class Closure:
    """The repository paths one build reads."""

    files: tuple[str, ...] = ()
    """Files read (kustomization files included), repository-relative, sorted."""
    dirs: tuple[str, ...] = ()
    """Directories read whole (a kustomization with plugin configs), repository-relative, sorted."""
    missing: tuple[str, ...] = ()
    """Paths named but absent: creating one changes the build, so their absence is part of the key."""
    remote: tuple[str, ...] = ()
    """Remote entries pinned to a commit (part of the key as written)."""
    fallback: str = ""
    """Non-empty: the closure is unknown (why); key the render by the repository's root tree."""
    uncacheable: str = ""
    """Non-empty: even the root tree does not determine the render (why): never cache it."""


def compute(tree: PreparedTree, graph: Graph) -> Closure:
    """The closure of the build scanned in ``graph`` (``tree`` supplies the commit's file ids)."""
    if tree.worktree or not tree.dir_ids:
        return Closure(fallback="working-tree files have no ids")
    files: set[str] = set()
    dirs: set[str] = set()
    missing: set[str] = set()
    for kdir, kf in graph.kfiles.items():
        for name in KUSTOMIZATION_FILES:  # two of them in one directory is an error: their presence matters
            path = f"{kdir}/{name}" if kdir else name
            if path in tree.file_ids:
                files.add(path)
        if kf.error:
            return Closure(fallback=f"{kf.path} does not parse")
        unknown = sorted(k for k in kf.data if k not in _KNOWN)
        for fld in _ROOT_FIELDS:
            if kf.data.get(fld):
                return Closure(fallback=f"{kf.path} renders Helm charts ({fld})")
        if unknown or any(kf.data.get(f) for f in _PLUGIN_FIELDS):
            dirs.add(kdir)  # whatever it names lies in its directory (load restrictor)
        for ref in kf.refs:
            if ref.resolved is None:
                if "\n" in ref.value:
                    continue  # inline content, inside the kustomization file
                if ref.value in graph.remote:
                    if not _PINNED_REF.search(ref.value):
                        return Closure(uncacheable=f"{kf.path}: remote {ref.field} entry not pinned to a commit")
                    continue
                return Closure(fallback=f"{kf.path}: {ref.field} entry {ref.value!r} leaves the repository")
            if ref.field in _PLUGIN_FIELDS:
                continue  # covered by the directory added above
            if ref.field not in _FILE_FIELDS:
                return Closure(fallback=f"{kf.path}: {ref.field} entries are not modelled")
            if ref.resolved in tree.file_ids:
                files.add(ref.resolved)
            elif ref.resolved in tree.dir_ids:
                if ref.resolved not in graph.kfiles:
                    dirs.add(ref.resolved)  # not a kustomization: kustomize fails, still keyed by content
            else:
                missing.add(ref.resolved)
    closure = Closure(files=tuple(sorted(files)), dirs=tuple(sorted(dirs)), missing=tuple(sorted(missing)),
                      remote=tuple(sorted(set(graph.remote))))
    kfiles = [kf.path for kf in graph.kfiles.values()]
    through = _through_link(tree, (*closure.files, *closure.dirs, *closure.missing, *graph.kfiles, *kfiles))
    through = through or _links_inside(tree, closure.dirs)
    if through:
        return Closure(fallback=f"{through} is a symlink (the key would not follow it)")
    return closure


def _through_link(tree: PreparedTree, paths: Iterable[str]) -> str:
    """A symlink that one of ``paths`` is, lies under, or (for directories) contains; "" when none."""
    if not tree.links:
        return ""
    checked: set[str] = set()
    for path in paths:
        probe = path
        while probe and probe not in checked:
            if probe in tree.links:
                return probe
            checked.add(probe)
            probe = posixpath.dirname(probe)
    return ""


def _links_inside(tree: PreparedTree, dirs: Iterable[str]) -> str:
    for d in dirs:
        prefix = f"{d}/" if d else ""
        for link in tree.links:
            if link.startswith(prefix):
                return link
    return ""


def digest(tree: PreparedTree, closure: Closure) -> str:
    """SHA-256 over the closure's paths and git object ids ("" when the closure is unknown)."""
    if closure.fallback or closure.uncacheable:
        return ""
    h = hashlib.sha256(CLOSURE_VERSION.encode())
    for path in closure.files:
        h.update(f"\0f\0{path}\0{tree.file_ids[path]}".encode())
    for path in closure.dirs:
        h.update(f"\0d\0{path}\0{tree.dir_ids[path]}".encode())
    for path in closure.missing:
        h.update(f"\0m\0{path}".encode())
    for value in closure.remote:
        h.update(f"\0r\0{value}".encode())
    return h.hexdigest()


def overlay_digest(tree: PreparedTree, graph: Graph) -> tuple[str, str]:
    """(digest, why not) for the build scanned in ``graph``.

    ``("…", "")``: the closure's digest. ``("", why)``: the closure is unknown, key by the root tree.
    ``("-", why)``: nothing in the repository determines the build (an unpinned remote): never cache.
    """
    closure = compute(tree, graph)
    if closure.uncacheable:
        return "-", closure.uncacheable
    if closure.fallback:
        return "", closure.fallback
    return digest(tree, closure), ""
