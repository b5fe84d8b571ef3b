"""The demo fleet's scripted git history: load ``history.yaml`` and lay out the tree at any commit.

``fleet.py`` replays the history into a real git repository; ``regenerate.py`` replays it into
scratch directories to learn when each live object was created and last applied. Both read the
same file, so the repository and the snapshots can never disagree about what happened when.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import UsageError
from auditor.util import yamlio

PACKAGE_DIR = Path(__file__).resolve().parent
TREE_DIR = PACKAGE_DIR / "tree"
"""Final content of every file (repository paths, with a leading ``.`` stored as ``dot-``)."""
VERSIONS_DIR = PACKAGE_DIR / "versions"
"""Earlier contents, as ``versions/<label>/<path>``."""
HISTORY_FILE = PACKAGE_DIR / "history.yaml"
SNAPSHOTS_DIR = PACKAGE_DIR / "snapshots"
DRIFT_FILE = PACKAGE_DIR / "drift.yaml"
FINAL = "final"


@dataclass(frozen=True)
class Person:
    """A git identity."""

    name: str
    email: str


@dataclass(frozen=True)
class Commit:
    """One scripted commit: who, when, why, and which file versions it writes or deletes."""

    id: str
    author: Person
    committer: Person
    date: str
    """ISO-8601 with offset, used for both author and committer dates."""
    message: str
    files: tuple[tuple[str, str], ...]
    """(repository path, version label) pairs; label ``final`` means ``tree/``."""
    delete: tuple[str, ...] = ()
    branch: str = ""
    """Made on this side branch (created from ``main`` at its first commit) instead of ``main``."""
    merge: str = ""
    """A merge commit (``--no-ff``) of this branch into ``main``; writes no files itself."""

    @property
    def when(self) -> _dt.datetime:
        """The commit date as an aware datetime."""
        return _dt.datetime.fromisoformat(self.date)

    @property
    def touched(self) -> tuple[str, ...]:
        """Repository paths written or deleted by this commit."""
        return tuple(p for p, _ in self.files) + self.delete


def template_name(repo_path: str) -> str:
    """Repository path → package-data path: a leading dot in a component is stored as ``dot-``.

    Packaging tools skip dotfiles, so ``.github/CODEOWNERS`` ships as ``dot-github/CODEOWNERS``.
    """
    parts = [("dot-" + p[1:]) if p.startswith(".") else p for p in repo_path.split("/")]
    return "/".join(parts)


def repo_name(template_path: str) -> str:
    """Package-data path → repository path (inverse of :func:`template_name`)."""
    parts = [("." + p[4:]) if p.startswith("dot-") else p for p in template_path.split("/")]
    return "/".join(parts)


def source_file(repo_path: str, label: str) -> Path:
    """The package file holding ``repo_path`` at version ``label``."""
    base = TREE_DIR if label == FINAL else VERSIONS_DIR / label
    return base / template_name(repo_path)


def _person(people: Mapping[str, Person], key: Any, where: str) -> Person:
    if not isinstance(key, str) or key not in people:
        raise UsageError(f"load demo history {where}: unknown author {key!r}")
    return people[key]


def load_history(path: Path = HISTORY_FILE) -> tuple[Commit, ...]:
    """Parse ``history.yaml`` into commits, oldest first."""
    doc = yamlio.load_one(path.read_text(encoding="utf-8"), str(path))
    people = {k: Person(str(v["name"]), str(v["email"])) for k, v in doc["authors"].items()}
    commits: list[Commit] = []
    for raw in doc["commits"]:
        cid = str(raw["id"])
        author = _person(people, raw["author"], cid)
        committer = _person(people, raw.get("committer", raw["author"]), cid)
        files = tuple((str(p), str(label)) for p, label in (raw.get("files") or {}).items())
        commits.append(
            Commit(
                id=cid,
                author=author,
                committer=committer,
                date=str(raw["date"]),
                message=str(raw["message"]).rstrip("\n") + "\n",
                files=files,
                delete=tuple(str(p) for p in raw.get("delete") or ()),
                branch=str(raw.get("branch", "")),
                merge=str(raw.get("merge", "")),
            )
        )
    _check_branches(commits)
    return tuple(commits)


def _check_branches(commits: list[Commit]) -> None:
    """A branch's commits must be contiguous and end in its merge.

    That keeps "apply every commit's files in order" (:func:`materialize`) equal to what git
    holds on ``main`` after each merge, without modelling a real three-way merge.
    """
    open_branch = ""
    for c in commits:
        if c.merge:
            if c.merge != open_branch or c.files or c.delete:
                raise UsageError(f"load demo history {c.id}: merge of {c.merge!r} must directly follow its commits")
            open_branch = ""
        elif c.branch:
            if open_branch not in ("", c.branch):
                raise UsageError(f"load demo history {c.id}: branch {open_branch!r} is not merged yet")
            open_branch = c.branch
        elif open_branch:
            raise UsageError(f"load demo history {c.id}: branch {open_branch!r} is not merged yet")
    if open_branch:
        raise UsageError(f"load demo history: branch {open_branch!r} is never merged")


def apply_commit(root: Path, commit: Commit) -> None:
    """Write and delete the files of one commit under ``root`` (the working tree)."""
    for repo_path, label in commit.files:
        src = source_file(repo_path, label)
        dest = root / repo_path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
    for repo_path in commit.delete:
        target = root / repo_path
        target.unlink()
        # Drop directories the deletion left empty; git does not track them either.
        parent = target.parent
        while parent != root and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def materialize(root: Path, commits: tuple[Commit, ...], upto: str | None = None) -> None:
    """Lay out the tree as of commit ``upto`` (the last commit when ``None``) under an empty ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for commit in commits:
        apply_commit(root, commit)
        if commit.id == upto:
            return
    if upto is not None:
        raise UsageError(f"materialize demo tree: unknown commit id {upto!r}")


def final_tree_files() -> dict[str, Path]:
    """Every file of the final tree, keyed by repository path."""
    out: dict[str, Path] = {}
    for p in sorted(TREE_DIR.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            out[repo_name(p.relative_to(TREE_DIR).as_posix())] = p
    return out
