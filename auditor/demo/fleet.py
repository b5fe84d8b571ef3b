"""Create the demo fleet: a real git repository with a scripted multi-author history, plus snapshots.

The repository is built with the real ``git`` binary so every downstream stage (provenance,
CODEOWNERS, change control) sees exactly what it would see in a user's repository. Identities,
dates and config are fixed on the command line and in the environment, so the commit SHAs are the
same on every machine and nothing depends on the user's git configuration, hooks or signing setup.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from auditor.demo.history import SNAPSHOTS_DIR, Commit, apply_commit, load_history
from auditor.errors import UsageError
from auditor.util.proc import run

CONFIG_NAME = "gitops-audit.yaml"
BRANCH = "main"

# Options that make git ignore whatever the user (or CI image) configured: hooks, signing,
# templates, line-ending conversion, and the default branch name.
_GIT_OPTIONS = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "commit.gpgsign=false",
    "-c", "tag.gpgsign=false",
    "-c", "core.autocrlf=false",
    "-c", "core.fileMode=true",
    "-c", "init.defaultBranch=main",
    "-c", "init.templateDir=",
    "-c", "user.useConfigOnly=false",
)  # fmt: skip

# Global and system config files are switched off entirely (git >= 2.32 honours these).
_GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_SYSTEM": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "TZ": "UTC",
    "LC_ALL": "C",
}


@dataclass(frozen=True)
class DemoFleet:
    """A created demo fleet."""

    root: Path
    """The git repository (working tree) of the fleet."""
    config: Path
    """``root / "gitops-audit.yaml"``: the audit config, committed in the repository."""


def _git(
    root: Path, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None, home: str = ""
) -> str:
    full_env = dict(_GIT_ENV)
    if home:
        # An empty HOME/XDG_CONFIG_HOME also hides ~/.gitconfig from gits older than 2.32,
        # which ignore GIT_CONFIG_GLOBAL.
        full_env.update(HOME=home, XDG_CONFIG_HOME=home)
    if env:
        full_env.update(env)
    result = run(
        ["git", *_GIT_OPTIONS, *args],
        action=f"create demo fleet {root}: git {args[0]}",
        cwd=root,
        env=full_env,
        input_bytes=stdin,
    )
    return result.stdout.decode("utf-8", "replace").strip()


def _commit_env(commit: Commit) -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": commit.author.name,
        "GIT_AUTHOR_EMAIL": commit.author.email,
        "GIT_AUTHOR_DATE": commit.date,
        "GIT_COMMITTER_NAME": commit.committer.name,
        "GIT_COMMITTER_EMAIL": commit.committer.email,
        "GIT_COMMITTER_DATE": commit.date,
    }


def _looks_like_demo(dest: Path) -> bool:
    """True when ``dest`` holds a fleet this module created (safe to replace with ``force``)."""
    return (
        (dest / ".git").is_dir()
        and (dest / CONFIG_NAME).is_file()
        and (dest / "overlays").is_dir()
        and (dest / "base").is_dir()
    )


def _prepare(dest: Path, force: bool) -> None:
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise UsageError(f"create demo fleet {dest}: path exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()):
        if not force:
            raise UsageError(
                f"create demo fleet {dest}: directory is not empty (use --force to replace an "
                "existing demo fleet, or choose another --dir)"
            )
        # --force replaces an earlier demo only: never wipe a directory we did not create.
        if not _looks_like_demo(dest):
            raise UsageError(
                f"create demo fleet {dest}: directory is not empty and does not hold a demo fleet; "
                "refusing to replace it even with --force"
            )
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)


def _copy_snapshots(root: Path) -> None:
    """Copy the pre-generated cluster snapshots (ignored by git, as real captures would be)."""
    for src in sorted(SNAPSHOTS_DIR.rglob("*")):
        if src.is_file() and "__pycache__" not in src.parts:
            out = root / "snapshots" / src.relative_to(SNAPSHOTS_DIR)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(src.read_bytes())


def create_demo(dest: Path, *, force: bool = False) -> DemoFleet:
    """Create the demo fleet repository at ``dest`` and return where it and its config are.

    Refuses a non-empty ``dest`` unless ``force`` is given and ``dest`` holds an earlier demo
    fleet. Raises :class:`UsageError` for a bad destination and :class:`ToolError` when git fails.
    """
    dest = Path(dest).expanduser().absolute()
    _prepare(dest, force)
    try:
        with tempfile.TemporaryDirectory(prefix="gitops-audit-demo-home-") as home:
            _build_repo(dest, home)
        _copy_snapshots(dest)
    except BaseException:
        # A half-built repository would be refused by the next run without --force; remove it.
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return DemoFleet(root=dest, config=dest / CONFIG_NAME)


def _build_repo(dest: Path, home: str) -> None:
    """Replay the scripted history as real commits (and one merged pull request) in ``dest``."""
    _git(dest, "init", "-q", home=home)
    # Not `init -b` (git >= 2.28): naming the unborn branch works with every git.
    _git(dest, "symbolic-ref", "HEAD", f"refs/heads/{BRANCH}", home=home)
    on_branch = BRANCH
    for commit in load_history():
        if commit.merge:
            _git(dest, "checkout", "-q", BRANCH, home=home)
            on_branch = BRANCH
            # A pull request merged on the hosting service: a real two-parent merge commit.
            _git(
                dest,
                "merge", "-q", "--no-ff", "--no-verify", "--no-edit", "--cleanup=strip",
                "-m", commit.message, commit.merge,
                env=_commit_env(commit), home=home,
            )  # fmt: skip
            _git(dest, "branch", "-q", "-d", commit.merge, home=home)  # deleted after merge, as on GitHub
            continue
        if commit.branch and on_branch != commit.branch:
            _git(dest, "checkout", "-q", "-b", commit.branch, home=home)
            on_branch = commit.branch
        apply_commit(dest, commit)
        _git(dest, "add", "--all", "--", ".", home=home)
        _git(
            dest,
            "commit", "-q", "--no-verify", "--allow-empty", "--cleanup=strip", "-F", "-",
            env=_commit_env(commit), stdin=commit.message.encode("utf-8"), home=home,
        )  # fmt: skip


def head_commit(root: Path) -> str:
    """The full SHA of ``HEAD`` in a demo fleet (for messages and tests)."""
    with tempfile.TemporaryDirectory(prefix="gitops-audit-demo-home-") as home:
        return _git(root, "rev-parse", "HEAD", home=home)
