"""Other revisions a source reads: another branch, tag or commit of the audited repository, or another repository.

Flux ``GitRepository`` objects and Argo CD sources name a repository URL and a ref. When the URL is the
audited repository's, the ref is read from the same clone; another repository is cloned into the clone
cache only when ``source.allow_remote_repos`` allows its URL. Either way the commit's tree is extracted
(never checked out) into the prepared tree, under ``.gitops-audit-sources/``, so kustomize's default
load restrictor still applies and paths map back to the original repository for provenance.

A :class:`Mounts` is shared by the renders of one prepared tree (targets render concurrently): each
revision is extracted once, under a lock.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import SourceError
from auditor.model import SourceRevision
from auditor.render.kustomize.graph import remote_allowed
from auditor.render.kustomize.tree import KUSTOMIZATION_FILES, PreparedTree, inject_build_metadata
from auditor.render.semver import SemverError, highest, looks_like_constraint
from auditor.repo.git import (
    RepoHandle,
    describe_location,
    describe_url,
    extract_tree,
    list_tags,
    open_repo,
    resolve_ref,
)
from auditor.repo.options import SourceOptions

MOUNT_DIR = ".gitops-audit-sources"
"""Directory of the prepared tree that holds other revisions (never scanned as repository content)."""


class Unavailable(Exception):
    """A revision that cannot be read (not allowed, no such ref, fetch failed): a reason, not a failure."""


def norm_url(url: str) -> str:
    """``ssh://git@host/org/repo.git``, ``git@host:org/repo`` and ``https://host/org/repo`` compare equal."""
    u = url.strip().lower()
    u = re.sub(r"^[a-z+]+://", "", u)
    u = re.sub(r"^[^@/]+@", "", u)
    u = re.sub(r"^([^/:]+):(?!\d)", r"\1/", u)  # scp-like git@host:org/repo
    u = re.sub(r":\d+/", "/", u)
    return u.removesuffix("/").removesuffix(".git")


@dataclass(frozen=True)
class Mount:
    """Where a revision's files are in the prepared tree."""

    rel: str
    """Tree-relative directory ("" for the audited commit)."""
    revision: SourceRevision | None = None
    """None when the revision is the audited commit."""

    def original(self, tree_path: str) -> tuple[str, str] | None:
        """(path in its repository, ``FileProvenance.repo``) of a tree path under this mount; None outside it."""
        if not self.rel:
            return tree_path, ""
        if tree_path == self.rel or tree_path.startswith(self.rel + "/"):
            return tree_path[len(self.rel):].lstrip("/"), self.revision.label if self.revision else ""
        return None


@dataclass(frozen=True)
class RefSpec:
    """A ref as a source names it (Flux ``spec.ref`` fields; Argo CD's ``targetRevision`` goes to ``name``)."""

    branch: str = ""
    tag: str = ""
    semver: str = ""
    commit: str = ""
    name: str = ""

    @classmethod
    def from_flux(cls, ref: Mapping[str, Any] | None) -> RefSpec:
        """``GitRepository.spec.ref``; no ref at all means branch ``master`` (source-controller's default)."""
        ref = ref or {}
        spec = cls(branch=str(ref.get("branch") or ""), tag=str(ref.get("tag") or ""),
                   semver=str(ref.get("semver") or ""), commit=str(ref.get("commit") or ""),
                   name=str(ref.get("name") or ""))
        return spec if spec != cls() else cls(branch="master")

    @property
    def shown(self) -> str:
        """The ref as written, in source-controller's precedence: commit, name, semver, tag, branch."""
        return self.commit or self.name or self.semver or self.tag or self.branch or "HEAD"


def _resolve(handle: RepoHandle, spec: RefSpec) -> str:
    """The commit ``spec`` selects (raises Unavailable)."""
    try:
        if spec.commit:
            return resolve_ref(handle, spec.commit)
        if spec.name:
            return resolve_ref(handle, spec.name)
        if spec.semver:
            tag = highest((t for t, _ in list_tags(handle)), spec.semver)
            if tag is None:
                raise Unavailable(f"no tag of {describe_url(handle)} matches semver {spec.semver!r}")
            return resolve_ref(handle, f"refs/tags/{tag}")
        if spec.tag:
            return resolve_ref(handle, f"refs/tags/{spec.tag}")
        return resolve_ref(handle, f"refs/heads/{spec.branch}" if spec.branch else "HEAD")
    except SemverError as exc:
        raise Unavailable(str(exc)) from None
    except SourceError as exc:
        raise Unavailable(str(exc)) from None


class Mounts:
    """Revisions extracted into one prepared tree (shared by the renders of a run; thread-safe)."""

    def __init__(self, tree: PreparedTree, handle: RepoHandle | None, url: str, aliases: Iterable[str],
                 options: SourceOptions) -> None:
        self.tree = tree
        self.handle = handle
        self.options = options
        self.own = {norm_url(u) for u in (url, *aliases) if u}
        self.lock = threading.Lock()
        self.mounted: dict[tuple[str, str], Mount] = {}
        self.remotes: dict[str, RepoHandle] = {}

    def is_own(self, url: str) -> bool:
        """True when ``url`` names the audited repository."""
        return bool(url) and norm_url(url) in self.own

    def resolve(self, url: str, spec: RefSpec) -> tuple[RepoHandle, str]:
        """(repository, commit) a source names; raises Unavailable with the reason."""
        handle = self._handle(url)
        return handle, _resolve(handle, spec)

    def mount(self, url: str, spec: RefSpec) -> Mount:
        """The revision's files in the tree ("" when it is the audited commit); raises Unavailable."""
        handle, commit = self.resolve(url, spec)
        if handle is self.handle and commit == self.tree.commit and not self.tree.worktree:
            return Mount("")
        key = (str(handle.git_dir), commit)
        with self.lock:
            found = self.mounted.get(key)
            if found is not None:
                return found
            digest = hashlib.sha256(f"{handle.git_dir}\0{commit}".encode()).hexdigest()[:10]
            rel = f"{MOUNT_DIR}/{commit[:12]}-{digest}"
            dest = self.tree.root.joinpath(*rel.split("/"))
            try:
                extract_tree(handle, commit, dest, timeout=self.options.git_timeout)
            except SourceError as exc:
                raise Unavailable(str(exc)) from None
            for path in dest.rglob("*"):
                if path.name in KUSTOMIZATION_FILES and path.is_file() and not path.is_symlink():
                    inject_build_metadata(path)
            shown = describe_url(handle) if handle.remote or handle is not self.handle else self._own_url()
            found = Mount(rel, SourceRevision(shown, spec.shown, commit, str(handle.git_dir)))
            self.mounted[key] = found
            return found

    def _own_url(self) -> str:
        return describe_url(self.handle) if self.handle is not None else ""

    def _handle(self, url: str) -> RepoHandle:
        if self.is_own(url):
            if self.handle is None:
                raise Unavailable("the audited repository cannot be read at another ref here")
            return self.handle
        shown = describe_location(url)
        # matched without credentials: the allow-list names repositories, not tokens
        if not remote_allowed(shown, self.options.allow_remote_repos):
            raise Unavailable(f"repository {shown} is not the audited repository and is not allowed by "
                              "source.allow_remote_repos")
        with self.lock:
            handle = self.remotes.get(url)
            if handle is None:
                try:
                    handle = open_repo(url, self.options)
                except SourceError as exc:
                    raise Unavailable(str(exc)) from None
                self.remotes[url] = handle
            return handle

    def original(self, tree_path: str) -> tuple[str, str]:
        """(path in its repository, repo label) of any tree path (mounted or the audited tree)."""
        for mount in self.mounted.values():
            found = mount.original(tree_path)
            if found is not None:
                return found
        return tree_path, ""

    def revisions(self) -> tuple[SourceRevision, ...]:
        """Every revision mounted so far, sorted."""
        revs = {m.revision for m in self.mounted.values() if m.revision is not None}
        return tuple(sorted(revs, key=lambda r: (r.url, r.ref, r.commit)))


_MOUNTS: dict[tuple[str, str], Mounts] = {}
_MOUNTS_LOCK = threading.Lock()


def mounts_for(tree: PreparedTree, handle: RepoHandle | None, url: str, aliases: Iterable[str],
               options: SourceOptions) -> Mounts:
    """The shared :class:`Mounts` of a prepared tree (one per tree and run)."""
    key = (str(tree.root), tree.commit)
    with _MOUNTS_LOCK:
        for gone in [k for k, v in _MOUNTS.items() if not v.tree.root.exists()]:
            del _MOUNTS[gone]  # trees of finished runs
        found = _MOUNTS.get(key)
        if found is None or not found.tree.root.exists():
            found = Mounts(tree, handle, url, aliases, options)
            _MOUNTS[key] = found
        return found


def revisions_current(revisions: Iterable[SourceRevision], options: SourceOptions) -> bool:
    """True when every recorded revision still resolves to the commit it had (a cached render is current)."""
    for rev in revisions:
        try:
            handle = RepoHandle(location=rev.git_dir, git_dir=Path(rev.git_dir), work_dir=None, remote=False)
            if rev.url and "://" in rev.url and not Path(rev.url).exists():
                # a cache clone: fetch first, the remote may have moved since the render
                if not remote_allowed(rev.url, options.allow_remote_repos):
                    return False
                handle = open_repo(rev.url, options)
            spec = RefSpec(semver=rev.ref) if looks_like_constraint(rev.ref) else RefSpec(name=rev.ref)
            if _resolve(handle, spec) != rev.commit:
                return False
        except (Unavailable, SourceError, OSError):
            return False
    return True

