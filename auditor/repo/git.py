"""Git access shared by rendering and provenance: open (or clone) a repository, resolve refs, extract a commit's tree.

Safety rules (the repository is untrusted input):

* Every git command runs through :func:`auditor.util.proc.run` with configuration overrides that
  switch off every hook and repository-configured program we know of (``core.hooksPath``,
  ``core.fsmonitor``, ``protocol.ext.allow``…), a minimal environment, and no terminal prompt.
* Remote repositories are bare clones in a cache directory keyed by a hash of the URL; later runs
  ``git fetch``. Nothing is ever checked out and credentials are never written to the cache's config:
  the URL is passed on the command line of each fetch, and a token embedded in it is kept away from
  the user's credential helpers (which would store it).
* A local repository is only read (``rev-parse``, ``ls-tree``, ``cat-file``); nothing writes to it.
* A commit's tree is extracted from raw blobs (``git cat-file --batch``), not with ``git archive`` or
  a checkout, because those apply ``filter.*.smudge`` drivers from the repository's config. Paths
  are validated and symlinks that leave the tree are not created (they are listed in
  :attr:`Extraction.skipped`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import posixpath
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from auditor.errors import SourceError, ToolError
from auditor.repo.options import SourceOptions
from auditor.util import proc

# `-c` overrides beat the repository's own config. They neutralise the config keys that make git run a
# program or talk to an unexpected place: hooks, the fsmonitor daemon hook, the `ext::` transport
# (runs an arbitrary command), pagers, and automatic maintenance that a fetch would start.
_SAFE_CONFIG: tuple[str, ...] = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.untrackedCache=false",
    "core.pager=cat",
    "core.askPass=",
    "protocol.ext.allow=never",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "credential.interactive=false",
    "advice.detachedHead=false",
)

# Environment for every git child on top of proc.run's minimal one. The threat is the repository's own
# config, which the `-c` overrides beat; system and user config (proxies, CA bundles, credential helpers
# for https remotes) are the operator's and stay in effect. GIT_ALLOW_PROTOCOL is an allow-list that
# overrides every protocol.* setting, so `ext::`, `fd::` and unknown remote helpers can never run.
# GIT_OPTIONAL_LOCKS=0 stops read commands from refreshing a local repository's index.
_GIT_ENV: dict[str, str] = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PAGER": "cat",
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_NO_REPLACE_OBJECTS": "1",
    "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh",
    "LC_ALL": "C",
}

# Passed through only to commands that talk to a remote (ssh keys from the agent, user-chosen ssh wrapper).
_REMOTE_PASS_ENV = ("SSH_AUTH_SOCK", "GIT_SSH_COMMAND", "GIT_SSH", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                    "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "GIT_SSL_CAINFO")

_SHA_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP_RE = re.compile(r"^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!//)")
_CRED_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]*@")

_BATCH_BYTES = 32 * 1024 * 1024
"""Upper bound of blob bytes fetched per ``cat-file --batch`` call (bounds memory per call)."""
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Blobs larger than this are not extracted: no kustomize input is that big (yamlio refuses it too)."""


@dataclass(frozen=True)
class RepoHandle:
    """An opened repository: where it came from and where its objects are."""

    location: str
    """What the user gave (path or URL), credentials included: never print it, use :func:`describe_url`."""
    git_dir: Path
    """The git directory (``.git`` of a local repo, or the bare cache clone of a remote one)."""
    work_dir: Path | None
    """Working tree of a local non-bare repository; ``None`` for bare and remote repositories."""
    remote: bool
    """True when ``git_dir`` is a cache clone of a remote URL."""


@dataclass(frozen=True)
class Extraction:
    """What :func:`extract_tree` wrote, and what it refused to write."""

    root: Path
    files: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    """(repository-relative path, reason) of entries not extracted (escaping symlinks, submodules, bad paths)."""
    dir_ids: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    """Repository-relative directory ("" for the root) → git tree id at the commit."""


def strip_credentials(text: str) -> str:
    """Remove ``user:password@`` from every URL in ``text`` (error messages, URLs)."""
    return _CRED_RE.sub(lambda m: m.group("scheme"), text)


def is_remote_location(location: str) -> bool:
    """True for URLs (``https://``, ``ssh://``, ``file://``…) and scp-like ``git@host:path``."""
    if _URL_RE.match(location):
        return True
    # `C:\repo` is not scp-like; a single letter before the colon is a drive.
    m = _SCP_RE.match(location)
    return bool(m) and len(location.split(":", 1)[0]) > 1 and not os.path.exists(location)


def _describe_location(location: str) -> str:
    if _URL_RE.match(location):
        parts = urllib.parse.urlsplit(location)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        user = ""
        # A username in an ssh URL is an account name; in http(s) it is often the token itself.
        if parts.username and parts.scheme in ("ssh", "git+ssh", "ssh+git"):
            user = parts.username + "@"
        query = "" if parts.scheme in ("http", "https") else parts.query
        return urllib.parse.urlunsplit((parts.scheme, user + host, parts.path, query, ""))
    return strip_credentials(location)


def describe_url(repo: RepoHandle) -> str:
    """The repository URL or absolute path for reports, with credentials (and http query strings) removed."""
    if repo.remote:
        return _describe_location(repo.location)
    return str(repo.work_dir or repo.git_dir)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/gitops-audit/repos``, else ``~/.cache/gitops-audit/repos``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitops-audit" / "repos"


def _git(
    args: list[str],
    *,
    action: str,
    git_dir: Path | None = None,
    cwd: Path | None = None,
    timeout: float = 300.0,
    input_bytes: bytes | None = None,
    remote: bool = False,
    check: bool = True,
    extra_config: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> proc.Result:
    """Run git with the safety overrides; errors become :class:`SourceError` with credentials stripped."""
    argv = ["git"]
    for item in (*_SAFE_CONFIG, *extra_config):
        argv += ["-c", item]
    if git_dir is not None:
        argv.append(f"--git-dir={git_dir}")
    argv += args
    env = dict(_GIT_ENV)
    if remote:
        for key in _REMOTE_PASS_ENV:
            if key in os.environ:
                env[key] = os.environ[key]
        # Never wait for a passphrase or host-key prompt in a batch job.
        env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    env.update(extra_env or {})
    try:
        res = proc.run(argv, action=action, cwd=cwd, timeout=timeout, env=env, check=False,
                       input_bytes=input_bytes)
    except ToolError as exc:
        raise SourceError(strip_credentials(str(exc))) from None
    if check and res.returncode != 0:
        raise SourceError(f"{strip_credentials(action)}: {strip_credentials(_git_stderr(res.stderr))}")
    return res


def _git_stderr(stderr: str) -> str:
    """The meaningful part of git's stderr: ``fatal:``/``error:`` lines first, one line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    important = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    chosen = important or lines
    text = " | ".join(chosen[-2:]) if chosen else "git failed"
    return text[:1000]


def open_repo(location: str, options: SourceOptions) -> RepoHandle:
    """Open a local repository (path or working-tree subdirectory) or clone/fetch a remote one into the cache."""
    if not location:
        raise SourceError("open repository: no location given")
    if is_remote_location(location):
        return _open_remote(location, options)
    return _open_local(location, options)


def _open_local(location: str, options: SourceOptions) -> RepoHandle:
    path = Path(location).expanduser()
    if not path.exists():
        raise SourceError(f"open repository {location}: no such directory")
    if not path.is_dir():
        raise SourceError(f"open repository {location}: not a directory")
    action = f"open repository {path}"
    res = _git(["rev-parse", "--absolute-git-dir", "--is-bare-repository"], action=action, cwd=path,
               timeout=options.git_timeout, check=False)
    if res.returncode != 0:
        err = _git_stderr(res.stderr)
        if "dubious ownership" in err:
            raise SourceError(f"{action}: owned by another user; git refuses it (see `git config safe.directory`)")
        raise SourceError(f"{action}: not a git repository ({err})")
    lines = res.stdout.decode("utf-8", "replace").splitlines()
    git_dir = Path(lines[0])
    bare = len(lines) > 1 and lines[1].strip() == "true"
    work_dir: Path | None = None
    if not bare:
        top = _git(["rev-parse", "--show-toplevel"], action=action, cwd=path, timeout=options.git_timeout)
        work_dir = Path(top.stdout.decode("utf-8", "replace").strip())
    return RepoHandle(location=location, git_dir=git_dir, work_dir=work_dir, remote=False)


def _cache_key(location: str) -> str:
    """Cache directory name for a URL: hash of the credential-free URL plus a readable tail."""
    clean = _describe_location(location).rstrip("/")
    digest = hashlib.sha256(clean.encode("utf-8")).hexdigest()[:20]
    tail = re.sub(r"[^A-Za-z0-9._-]+", "-", clean.rsplit("/", 1)[-1].rsplit(":", 1)[-1])[:40].strip("-.")
    if tail.endswith(".git"):
        tail = tail[:-4]
    return f"{digest}-{tail or 'repo'}.git"


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Exclusive advisory lock so two runs do not fetch into the same cache clone at once."""
    # Private to the user: the clones hold whole repositories (their clear-text Secrets included).
    lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(lock_path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# Branches and tags land under their own names so `main`, `v1.2` and `refs/heads/x` resolve as they do in
# the origin repository; the remote HEAD is kept under a private ref and HEAD points at its commit.
_FETCH_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*", "+HEAD:refs/gitops-audit/HEAD")


def _open_remote(location: str, options: SourceOptions) -> RepoHandle:
    shown = _describe_location(location)
    cache = Path(options.cache_dir).expanduser() if options.cache_dir else default_cache_dir()
    git_dir = cache / _cache_key(location)
    with _locked(cache / (git_dir.name + ".lock")):
        if not (git_dir / "HEAD").is_file():
            # Build the clone beside its final name and rename it, so an interrupted first run never
            # leaves a half-initialised cache entry behind.
            tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=cache))
            try:
                _git(["init", "--bare", "--quiet", str(tmp)], action=f"clone {shown}", timeout=options.git_timeout)
                _fetch(tmp, location, shown, options)
                if git_dir.exists():
                    shutil.rmtree(git_dir)
                os.rename(tmp, git_dir)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        else:
            _fetch(git_dir, location, shown, options)
    return RepoHandle(location=location, git_dir=git_dir, work_dir=None, remote=True)


TOKEN_ENV = "GITOPS_AUDIT_GIT_TOKEN"  # noqa: S105 - the variable name, not a token
USERNAME_ENV = "GITOPS_AUDIT_GIT_USERNAME"
_HELPER = ('!f() { test "$1" = get || exit 0; printf "username=%s\\npassword=%s\\n" '
           '"${GITOPS_AUDIT_GIT_USERNAME:-x-access-token}" "$GITOPS_AUDIT_GIT_TOKEN"; }; f')


def _env_credentials(location: str, options: SourceOptions) -> tuple[tuple[str, ...], dict[str, str]]:
    """Git ``-c`` settings and environment offering ``$GITOPS_AUDIT_GIT_TOKEN`` to this fetch, when allowed.

    Only to http(s) hosts of repositories the config names (``credential_hosts``), never to a URL that
    came from inside a repository; only when the URL carries no credentials of its own. The token
    travels in the environment of git's credential helper, never on a command line or in a file.
    """
    token = os.environ.get(TOKEN_ENV, "")
    parts = urllib.parse.urlsplit(location)
    if not token or parts.scheme not in ("http", "https") or "@" in parts.netloc or not parts.hostname:
        return (), {}
    origin = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    if origin not in options.credential_hosts:
        return (), {}
    env = {TOKEN_ENV: token}
    if os.environ.get(USERNAME_ENV):
        env[USERNAME_ENV] = os.environ[USERNAME_ENV]
    # The empty entry resets helpers from the user's config for this host: ours answers, and no
    # `store` helper writes the token to disk after a successful fetch.
    return (f"credential.{origin}.helper=", f"credential.{origin}.helper={_HELPER}"), env


def _fetch(git_dir: Path, location: str, shown: str, options: SourceOptions) -> None:
    """Fetch branches, tags and HEAD from ``location``; credentials stay on the command line only."""
    base = ["fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules",
            "--", location]
    # A token embedded in the URL must not end up in the user's credential store: git hands successful
    # credentials to every configured helper (`store` writes them to ~/.git-credentials in clear text).
    extra: tuple[str, ...] = ("credential.helper=",) if _CRED_RE.search(location) else ()
    helper, helper_env = _env_credentials(location, options)
    extra += helper
    res = _git([*base, *_FETCH_REFSPECS], action=f"fetch {shown}", git_dir=git_dir,
               timeout=options.git_timeout, remote=True, check=False, extra_config=extra, extra_env=helper_env)
    if res.returncode != 0 and "couldn't find remote ref HEAD" in res.stderr:
        # The remote's HEAD names a branch that does not exist (e.g. `master` in a `main`-only repository):
        # fetch branches and tags anyway; `HEAD` then does not resolve, named refs do.
        res = _git([*base, *_FETCH_REFSPECS[:-1]], action=f"fetch {shown}", git_dir=git_dir,
                   timeout=options.git_timeout, remote=True, check=False, extra_config=extra, extra_env=helper_env)
        _git(["update-ref", "-d", "refs/gitops-audit/HEAD"], action=f"fetch {shown}", git_dir=git_dir,
             check=False)
    if res.returncode != 0:
        raise SourceError(f"fetch {shown}: {strip_credentials(_git_stderr(res.stderr))}")
    head = _git(["rev-parse", "--verify", "--quiet", "refs/gitops-audit/HEAD^{commit}"], action=f"fetch {shown}",
                git_dir=git_dir, check=False)
    sha = head.stdout.decode().strip()
    if head.returncode == 0 and _SHA_RE.match(sha):
        _git(["update-ref", "--no-deref", "HEAD", sha], action=f"fetch {shown}", git_dir=git_dir)


def resolve_ref(repo: RepoHandle, ref: str) -> str:
    """Resolve a branch, tag, (short) sha or revision expression to the full commit sha."""
    shown = describe_url(repo)
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n\r"):
        raise SourceError(f"resolve ref {ref!r} in {shown}: invalid ref")
    candidates = [ref]
    if repo.remote and ref.startswith("origin/"):
        # The cache mirrors the remote's branches under their own names: origin/main is main here.
        candidates.append(ref.removeprefix("origin/"))
    for cand in candidates:
        res = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{cand}^{{commit}}"],
                   action=f"resolve ref {ref} in {shown}", git_dir=repo.git_dir, check=False)
        sha = res.stdout.decode("utf-8", "replace").strip()
        if res.returncode == 0 and _SHA_RE.match(sha):
            return sha
    raise SourceError(f"resolve ref {ref} in {shown}: no such branch, tag or commit")


def _norm_repo_path(path: str) -> str:
    """Repository-relative POSIX path without ``./`` or trailing slash; refuses ``..`` and absolute paths."""
    p = path.replace("\\", "/").strip()
    if p.startswith("/"):
        raise SourceError(f"path {path}: must be relative to the repository root")
    norm = posixpath.normpath(p) if p else ""
    if norm in (".", ""):
        return ""
    if norm == ".." or norm.startswith("../"):
        raise SourceError(f"path {path}: leaves the repository")
    return norm


def tree_id(repo: RepoHandle, commit: str, path: str = "") -> str:
    """Git tree id of ``path`` (a directory; "" = root) at ``commit``; the cache key for renders."""
    rel = _norm_repo_path(path)
    spec = f"{commit}^{{tree}}" if not rel else f"{commit}:{rel}"
    res = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", spec],
               action=f"tree id of {rel or '/'} at {commit[:12]}", git_dir=repo.git_dir, check=False)
    oid = res.stdout.decode().strip()
    if res.returncode != 0 or not _SHA_RE.match(oid):
        raise SourceError(f"tree id of {rel or '/'} at {commit[:12]}: no such path in the commit")
    kind = _git(["cat-file", "-t", oid], action=f"tree id of {rel}", git_dir=repo.git_dir)
    if kind.stdout.decode().strip() != "tree":
        raise SourceError(f"tree id of {rel} at {commit[:12]}: not a directory")
    return oid


def _bad_component(part: str) -> bool:
    low = part.lower()
    return part in ("", ".", "..") or low == ".git" or low.startswith(".git ") or "\0" in part


def materialize(repo: RepoHandle, commit: str, dest: Path) -> Path:
    """Extract the tree of ``commit`` into ``dest`` (created; must be empty) and return ``dest``."""
    return extract_tree(repo, commit, dest).root


def extract_tree(repo: RepoHandle, commit: str, dest: Path, timeout: float = 300.0) -> Extraction:
    """Like :func:`materialize`, and report skipped entries and the tree id of every directory.

    Regular files are written from raw blobs (mode 0644, never executable). Symlinks are created only
    when they resolve inside ``dest``; others are skipped and listed. Submodules are skipped (their
    content is not in this repository).
    """
    if not _SHA_RE.match(commit):
        commit = resolve_ref(repo, commit)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise SourceError(f"extract {commit[:12]}: destination {dest} is not empty")
    action = f"extract {commit[:12]} from {describe_url(repo)}"
    listing = _git(["ls-tree", "-r", "-t", "-z", "--long", "--full-tree", commit], action=action,
                   git_dir=repo.git_dir, timeout=timeout)
    root_tree = _git(["rev-parse", "--verify", f"{commit}^{{tree}}"], action=action, git_dir=repo.git_dir)
    dir_ids: dict[str, str] = {"": root_tree.stdout.decode().strip()}
    blobs: list[tuple[str, str, int]] = []  # (path, oid, size)
    links: list[tuple[str, str]] = []  # (path, oid)
    skipped: list[tuple[str, str]] = []
    for raw in listing.stdout.split(b"\0"):
        if not raw:
            continue
        meta, _, path_b = raw.partition(b"\t")
        path = path_b.decode("utf-8", "surrogateescape")
        fields = meta.decode("ascii", "replace").split()
        if len(fields) < 4:
            continue
        mode, otype, oid, size = fields[0], fields[1], fields[2], fields[3]
        if any(_bad_component(p) for p in path.split("/")):
            skipped.append((path, "unsafe path name"))
            continue
        if otype == "tree":
            dir_ids[path] = oid
        elif otype == "commit":
            skipped.append((path, "submodule (not part of this repository)"))
        elif mode == "120000":
            links.append((path, oid))
        elif otype == "blob":
            nbytes = int(size) if size.isdigit() else 0
            if nbytes > MAX_FILE_BYTES:
                skipped.append((path, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, not extracted"))
                continue
            blobs.append((path, oid, nbytes))
    made: set[str] = set()
    for chunk in _chunks(blobs):
        contents = _cat_blobs(repo, [oid for _, oid, _ in chunk], action, timeout)
        for path, oid, _ in chunk:
            try:
                _write_file(dest, path, contents[oid], made)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                skipped.append((path, "collides with another entry"))
    if links:
        targets = _cat_blobs(repo, [oid for _, oid in links], action, timeout)
        skipped += _make_links(dest, [(p, targets[oid]) for p, oid in links])
    skipped.sort()
    return Extraction(root=dest, files=len(blobs), skipped=tuple(skipped), dir_ids=dir_ids)


def _chunks(blobs: list[tuple[str, str, int]]) -> Iterator[list[tuple[str, str, int]]]:
    chunk: list[tuple[str, str, int]] = []
    total = 0
    for item in blobs:
        if chunk and total + item[2] > _BATCH_BYTES:
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += item[2]
    if chunk:
        yield chunk


def _cat_blobs(repo: RepoHandle, oids: list[str], action: str, timeout: float) -> dict[str, bytes]:
    """Raw contents of blobs by id; ``cat-file --batch`` applies no filters or conversions."""
    unique = list(dict.fromkeys(oids))
    res = _git(["cat-file", "--batch"], action=action, git_dir=repo.git_dir, timeout=timeout,
               input_bytes=("\n".join(unique) + "\n").encode())
    out: dict[str, bytes] = {}
    data = res.stdout
    pos = 0
    for _ in unique:
        nl = data.index(b"\n", pos)
        header = data[pos:nl].decode("ascii", "replace").split()
        if len(header) != 3:
            raise SourceError(f"{action}: unexpected cat-file output: {' '.join(header)[:200]}")
        oid, _otype, size_s = header
        size = int(size_s)
        out[oid] = data[nl + 1 : nl + 1 + size]
        pos = nl + 1 + size + 1
    return out


_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def _write_file(dest: Path, rel: str, content: bytes, made: set[str] | None = None) -> None:
    """Create one file (never through a symlink, never over an existing entry)."""
    target = os.path.join(dest, *rel.split("/"))
    parent = os.path.dirname(target)
    if made is None or parent not in made:
        os.makedirs(parent, exist_ok=True)
        if made is not None:
            made.add(parent)
    fd = os.open(target, _WRITE_FLAGS, 0o644)
    try:
        _write_all(fd, content)
    finally:
        os.close(fd)


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _make_links(dest: Path, links: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """Create symlinks whose target stays inside ``dest``; return the refused ones with a reason.

    A link is checked lexically first (absolute targets and ``..`` beyond the root are refused), then
    again after all links exist with ``realpath``, which catches chains of links that leave the tree.
    """
    skipped: list[tuple[str, str]] = []
    root = os.path.realpath(dest)
    made: list[str] = []
    for rel, raw_target in links:
        target = raw_target.decode("utf-8", "surrogateescape")
        if not target or "\0" in target or os.path.isabs(target):
            skipped.append((rel, f"symlink to {target!r} points outside the repository"))
            continue
        lexical = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
        if lexical == ".." or lexical.startswith("../"):
            skipped.append((rel, f"symlink to {target!r} points outside the repository"))
            continue
        link_path = dest.joinpath(*rel.split("/"))
        link_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.symlink(target, link_path)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
            skipped.append((rel, "symlink collides with another entry"))
            continue
        made.append(rel)
    for rel in made:
        link_path = dest.joinpath(*rel.split("/"))
        if not _inside(root, os.path.realpath(link_path)):
            target = os.readlink(link_path)
            link_path.unlink()
            skipped.append((rel, f"symlink to {target!r} points outside the repository"))
    return skipped


def head_commit(repo: RepoHandle) -> str:
    """The commit HEAD points at (used for working-tree renders, which have no commit of their own)."""
    return resolve_ref(repo, "HEAD")


def describe_location(location: str) -> str:
    """A location (URL or path) as reports may show it: credentials and http query strings removed."""
    return _describe_location(location)


def list_tags(repo: RepoHandle) -> list[tuple[str, str]]:
    """(tag name, commit sha) of every tag that points at a commit, annotated tags peeled."""
    res = _git(["for-each-ref", "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)", "refs/tags"],
               action=f"list tags of {describe_url(repo)}", git_dir=repo.git_dir)
    out: list[tuple[str, str]] = []
    for line in res.stdout.decode("utf-8", "replace").splitlines():
        name, _, rest = line.partition("\0")
        sha, _, peeled = rest.partition("\0")
        commit = peeled or sha
        if name and _SHA_RE.match(commit):
            out.append((name, commit))
    return out


def origin_url(repo: RepoHandle) -> str:
    """The ``origin`` remote URL of a local repository (credentials removed), or "" when it has none."""
    if repo.remote:
        return _describe_location(repo.location)
    res = _git(["config", "--get", "remote.origin.url"], action="read origin URL", git_dir=repo.git_dir, check=False)
    url = res.stdout.decode("utf-8", "replace").strip()
    return _describe_location(url) if res.returncode == 0 and url else ""
