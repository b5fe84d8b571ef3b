"""The private copy of a repository that kustomize builds: extraction, working-tree copy, buildMetadata.

:func:`prepare_tree` extracts a commit (or copies the working tree) into a private directory and adds
``buildMetadata: [originAnnotations, transformerAnnotations]`` to every kustomization there, so the
objects kustomize prints carry the annotations :mod:`auditor.render.kustomize.attribution` reads.

buildMetadata was checked against kubectl 1.32 (kustomize v5.5.0): with components, config/secret
generators (also ``behavior: merge``), strategic-merge, JSON6902 and inline patches, replacements,
namePrefix/nameSuffix, namespace, labels, images and replicas, the output with both options is
identical to the output without them once the build annotations are removed (see
``tests/render/test_kustomize_build.py::test_build_metadata_does_not_change_output``). So both options are
added everywhere.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from auditor.errors import SourceError
from auditor.repo.git import RepoHandle, extract_tree, head_commit, resolve_ref
from auditor.repo.options import SourceOptions
from auditor.util import yamlio

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
"""File names kustomize accepts as a kustomization, in its lookup order."""

BUILD_METADATA = ("originAnnotations", "transformerAnnotations")
"""The buildMetadata options added to every kustomization of a prepared tree."""


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
        inject_build_metadata(path)
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


def inject_build_metadata(path: Path) -> None:
    """Add both buildMetadata options to one kustomization file, editing its text in place.

    The text is edited rather than re-serialised so the file means exactly what it meant (PyYAML
    speaks YAML 1.1, kustomize's parser differs in corners such as ``on``/``off`` and octal numbers).
    Files that do not parse, or that are not kustomizations, are left alone: kustomize reports them.
    """
    try:
        text = path.read_text(encoding="utf-8")
        nodes = yamlio.compose_all(text, str(path))
    except (OSError, UnicodeDecodeError, yamlio.YamlError):
        return
    if len(nodes) != 1:
        return
    node = nodes[0]
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
        try:
            data = yamlio.load_one(text, str(path))  # bounded: an alias bomb would expand in json.dumps
        except yamlio.YamlError:
            return
        if not isinstance(data, dict):
            return
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


def skipped_reason(tree: PreparedTree, path: str) -> str:
    """Why ``path`` (or a directory above it, e.g. a submodule) was not extracted; "" when it was."""
    skipped = dict(tree.skipped)
    probe = path
    while probe:
        if probe in skipped:
            return skipped[probe] if probe == path else f"{probe}: {skipped[probe]}"
        probe = posixpath.dirname(probe)
    return ""

