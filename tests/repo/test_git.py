"""Git access over real repositories: open, clone/fetch, resolve, extract, and never run repo programs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from auditor.errors import SourceError, ToolError
from auditor.repo import git
from auditor.repo.options import SourceOptions

if TYPE_CHECKING:
    from tests.gitfixtures import GitHTTPServer, GitRepo


def test_open_local_repo_and_subdirectory(fleet_repo: GitRepo, source_options: SourceOptions) -> None:
    h = git.open_repo(str(fleet_repo.root), source_options)
    assert not h.remote
    assert h.work_dir == fleet_repo.root.resolve()
    assert h.git_dir == (fleet_repo.root / ".git").resolve()
    sub = git.open_repo(str(fleet_repo.root / "base"), source_options)
    assert sub.git_dir == h.git_dir
    assert git.describe_url(h) == str(fleet_repo.root.resolve())


def test_open_errors(tmp_path: Path, source_options: SourceOptions) -> None:
    with pytest.raises(SourceError, match="no such directory"):
        git.open_repo(str(tmp_path / "nope"), source_options)
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceError, match="not a git repository"):
        git.open_repo(str(tmp_path / "plain"), source_options)


def test_resolve_ref_branch_tag_short_sha_and_bad(fleet_repo: GitRepo, source_options: SourceOptions) -> None:
    first = fleet_repo.git("rev-parse", "HEAD")
    fleet_repo.git("tag", "-a", "v1.0", "-m", "release 1.0")  # annotated: must peel to the commit
    fleet_repo.git("tag", "light")
    second = fleet_repo.commit("second", {"base/extra.yaml": "a: 1\n"})
    fleet_repo.git("branch", "feature", first)
    h = git.open_repo(str(fleet_repo.root), source_options)
    assert git.resolve_ref(h, "main") == second
    assert git.resolve_ref(h, "HEAD") == second
    assert git.resolve_ref(h, "refs/heads/main") == second
    assert git.resolve_ref(h, "feature") == first
    assert git.resolve_ref(h, "v1.0") == first
    assert git.resolve_ref(h, "light") == first
    assert git.resolve_ref(h, first[:8]) == first
    assert git.resolve_ref(h, "HEAD~1") == first
    for bad in ("nope", "--output=/tmp/x", "", "0123456789abcdef", "main:base"):
        with pytest.raises(SourceError, match="resolve ref"):
            git.resolve_ref(h, bad)


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_materialize_ignores_uncommitted_changes(fleet_repo: GitRepo, source_options: SourceOptions,
                                                 tmp_path: Path) -> None:
    commit = fleet_repo.git("rev-parse", "HEAD")
    fleet_repo.write("base/deployment.yaml", "dirty: true\n")
    fleet_repo.write("untracked.yaml", "x: 1\n")
    before = _snapshot(fleet_repo.root / ".git")
    h = git.open_repo(str(fleet_repo.root), source_options)
    out = git.materialize(h, git.resolve_ref(h, "main"), tmp_path / "tree")
    git.tree_id(h, commit, "base")
    assert _snapshot(fleet_repo.root / ".git") == before  # nothing in .git was written, not even the index
    assert "nginx:1.25" in (out / "base/deployment.yaml").read_text()
    assert not (out / "untracked.yaml").exists()
    assert not (out / ".git").exists()
    # the local repository is untouched: the dirty file is still dirty, nothing staged
    assert (fleet_repo.root / "base/deployment.yaml").read_text() == "dirty: true\n"
    assert fleet_repo.git("status", "--porcelain") == "M base/deployment.yaml\n?? untracked.yaml"


def test_materialize_refuses_non_empty_destination(fleet_repo: GitRepo, source_options: SourceOptions,
                                                   tmp_path: Path) -> None:
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "x").write_text("x")
    h = git.open_repo(str(fleet_repo.root), source_options)
    with pytest.raises(SourceError, match="not empty"):
        git.materialize(h, "HEAD", dest)


def test_symlinks_inside_kept_escaping_refused(make_repo: Callable[..., GitRepo], source_options: SourceOptions,
                                               tmp_path: Path) -> None:
    repo = make_repo("links", {"base/real.yaml": "a: 1\n"})
    os.symlink("real.yaml", repo.root / "base/inside.yaml")
    os.symlink("../../../../../etc/passwd", repo.root / "base/escape.yaml")
    os.symlink("/etc/passwd", repo.root / "base/absolute.yaml")
    os.symlink("..", repo.root / "base/up")  # resolves to the repo root: inside
    os.symlink("up/..", repo.root / "base/chain")  # via another link, escapes only after resolution
    commit = repo.commit("links")
    h = git.open_repo(str(repo.root), source_options)
    ext = git.extract_tree(h, commit, tmp_path / "t")
    root = ext.root
    assert (root / "base/inside.yaml").read_text() == "a: 1\n"
    assert (root / "base/up").is_symlink()
    skipped = dict(ext.skipped)
    assert set(skipped) == {"base/escape.yaml", "base/absolute.yaml", "base/chain"}
    assert all("outside the repository" in why for why in skipped.values())
    for name in ("escape.yaml", "absolute.yaml", "chain"):
        assert not os.path.lexists(root / "base" / name)


def test_hooks_and_fsmonitor_never_run(fleet_repo: GitRepo, source_options: SourceOptions,
                                       tmp_path: Path) -> None:
    fleet_repo.commit("attributes", {".gitattributes": "* filter=evil\n"})
    marker = tmp_path / "pwned"
    hook = f"#!/bin/sh\necho ran >> {marker}\n"
    hooks = fleet_repo.root / ".git/hooks"
    for name in ("post-checkout", "pre-commit", "reference-transaction", "post-index-change", "fsmonitor-watchman"):
        (hooks / name).write_text(hook)
        (hooks / name).chmod(0o755)
    script = tmp_path / "evil.sh"
    script.write_text(hook)
    script.chmod(0o755)
    fleet_repo.git("config", "core.fsmonitor", str(script))
    fleet_repo.git("config", "core.hooksPath", str(hooks))
    fleet_repo.git("config", "filter.evil.smudge", str(script))
    fleet_repo.git("config", "filter.evil.process", str(script))
    fleet_repo.git("config", "core.pager", str(script))
    assert not marker.exists()

    h = git.open_repo(str(fleet_repo.root), source_options)
    commit = git.resolve_ref(h, "HEAD")
    out = git.materialize(h, commit, tmp_path / "tree")
    git.tree_id(h, commit, "base")
    assert (out / "base/kustomization.yaml").is_file()
    assert not marker.exists()
    # the same repository as a file:// remote: upload-pack runs in it, the cache clone is ours
    remote = git.open_repo(f"file://{fleet_repo.root}", source_options)
    git.materialize(remote, git.resolve_ref(remote, "main"), tmp_path / "tree2")
    git.open_repo(f"file://{fleet_repo.root}", source_options)
    assert not marker.exists()
    # sanity: the trap is armed, plain git does run it
    with contextlib.suppress(ToolError):
        fleet_repo.git("status")
    assert marker.exists()


def test_remote_file_url_clone_into_cache_and_fetch(fleet_repo: GitRepo, source_options: SourceOptions,
                                                    tmp_path: Path) -> None:
    url = f"file://{fleet_repo.root}"
    first = fleet_repo.git("rev-parse", "HEAD")
    h = git.open_repo(url, source_options)
    assert h.remote and h.work_dir is None
    assert h.git_dir.parent == Path(source_options.cache_dir)
    assert (h.git_dir / "HEAD").is_file() and not (h.git_dir / "index").exists()  # bare: no checkout
    assert git.resolve_ref(h, "main") == first
    assert git.resolve_ref(h, "HEAD") == first

    fleet_repo.git("tag", "v2")
    second = fleet_repo.commit("second", {"base/extra.yaml": "a: 1\n"})
    # before a new open the cache still has the old state
    with pytest.raises(SourceError):
        git.resolve_ref(h, "v2")
    h2 = git.open_repo(url, source_options)
    assert h2.git_dir == h.git_dir  # same cache entry: fetched, not cloned again
    assert git.resolve_ref(h2, "main") == second
    assert git.resolve_ref(h2, "HEAD") == second
    assert git.resolve_ref(h2, "v2") == first
    assert git.resolve_ref(h2, "origin/main") == second
    out = git.materialize(h2, second, tmp_path / "t")
    assert (out / "base/extra.yaml").read_text() == "a: 1\n"
    assert git.describe_url(h2) == url


def test_remote_credentials_never_shown_or_stored(tmp_path: Path, source_options: SourceOptions) -> None:
    url = "https://user:s3cr3t-token@127.0.0.1:9/org/fleet.git"
    with pytest.raises(SourceError) as err:
        git.open_repo(url, source_options)
    assert "s3cr3t" not in str(err.value)
    assert "127.0.0.1:9/org/fleet.git" in str(err.value)
    for p in Path(source_options.cache_dir).rglob("*"):
        if p.is_file():
            assert b"s3cr3t" not in p.read_bytes()
    h = git.RepoHandle(location=url + "?private_token=abc", git_dir=tmp_path, work_dir=None, remote=True)
    assert git.describe_url(h) == "https://127.0.0.1:9/org/fleet.git"
    ssh = git.RepoHandle(location="ssh://git:pw@example.com/org/x.git", git_dir=tmp_path, work_dir=None, remote=True)
    assert git.describe_url(ssh) == "ssh://git@example.com/org/x.git"
    assert git.strip_credentials("fatal: https://a:b@h/x and http://tok@h/y") == "fatal: https://h/x and http://h/y"


def test_is_remote_location(tmp_path: Path) -> None:
    assert git.is_remote_location("https://github.com/o/r.git")
    assert git.is_remote_location("ssh://git@github.com/o/r.git")
    assert git.is_remote_location("git@github.com:o/r.git")
    assert git.is_remote_location("file:///srv/repo")
    assert not git.is_remote_location(str(tmp_path))
    assert not git.is_remote_location("relative/path")


def test_tree_id(fleet_repo: GitRepo, source_options: SourceOptions) -> None:
    h = git.open_repo(str(fleet_repo.root), source_options)
    commit = git.resolve_ref(h, "HEAD")
    assert git.tree_id(h, commit) == fleet_repo.git("rev-parse", "HEAD^{tree}")
    assert git.tree_id(h, commit, "./base/") == fleet_repo.git("rev-parse", "HEAD:base")
    with pytest.raises(SourceError, match="no such path"):
        git.tree_id(h, commit, "nope")
    with pytest.raises(SourceError, match="not a directory"):
        git.tree_id(h, commit, "base/service.yaml")
    with pytest.raises(SourceError, match="leaves the repository"):
        git.tree_id(h, commit, "../x")


def test_remote_whose_head_names_a_missing_branch(make_repo: Callable[..., GitRepo], fleet_repo: GitRepo,
                                                  source_options: SourceOptions) -> None:
    bare = make_repo("bare.git", bare=True)
    bare.git("symbolic-ref", "HEAD", "refs/heads/master")
    fleet_repo.git("push", "-q", str(bare.root), "main")
    h = git.open_repo(f"file://{bare.root}", source_options)
    assert git.resolve_ref(h, "main") == fleet_repo.git("rev-parse", "HEAD")
    with pytest.raises(SourceError, match="resolve ref HEAD"):
        git.resolve_ref(h, "HEAD")


def test_remote_fetch_failure_is_one_line(tmp_path: Path, source_options: SourceOptions) -> None:
    with pytest.raises(SourceError) as err:
        git.open_repo(f"file://{tmp_path}/does-not-exist", source_options)
    msg = str(err.value)
    assert msg.startswith(f"fetch file://{tmp_path}/does-not-exist: ") and "\n" not in msg
    assert not any(p.name.startswith(".clone-") for p in Path(source_options.cache_dir).iterdir())


def test_concurrent_opens_share_one_cache_entry(fleet_repo: GitRepo, source_options: SourceOptions) -> None:
    from concurrent.futures import ThreadPoolExecutor

    url = f"file://{fleet_repo.root}"
    with ThreadPoolExecutor(max_workers=4) as pool:
        handles = list(pool.map(lambda _: git.open_repo(url, source_options), range(4)))
    assert len({h.git_dir for h in handles}) == 1
    entries = [p for p in Path(source_options.cache_dir).iterdir() if not p.name.endswith(".lock")]
    assert entries == [handles[0].git_dir]
    assert git.resolve_ref(handles[0], "main") == fleet_repo.git("rev-parse", "HEAD")


def test_http_remote_with_token(git_http: GitHTTPServer, fleet_repo: GitRepo, source_options: SourceOptions,
                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token in the URL authenticates, and is never shown, written to the cache or to a credential store."""
    fleet_repo.git("clone", "-q", "--bare", str(fleet_repo.root), str(git_http.root / "fleet.git"))
    home = tmp_path / "home"
    home.mkdir()
    store = home / "stored-credentials"
    (home / ".gitconfig").write_text(f"[credential]\n\thelper = store --file {store}\n")
    monkeypatch.setenv("HOME", str(home))

    h = git.open_repo(git_http.url("fleet.git"), source_options)
    assert git.resolve_ref(h, "main") == fleet_repo.git("rev-parse", "HEAD")
    assert git_http.authorized, "the server saw authenticated requests"
    assert git.describe_url(h) == f"http://127.0.0.1:{git_http.port}/fleet.git"
    h2 = git.open_repo(git_http.url("fleet.git"), source_options)  # fetch, same entry
    assert h2.git_dir == h.git_dir
    for p in [*Path(source_options.cache_dir).rglob("*"), *home.rglob("*")]:
        if p.is_file():
            assert b"s3cr3t-token" not in p.read_bytes(), p
    assert not store.exists()

    with pytest.raises(SourceError) as err:
        git.open_repo(git_http.url("fleet.git", token="wrong-token"), source_options)
    assert "wrong-token" not in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(f"fetch http://127.0.0.1:{git_http.port}/fleet.git: ")
