"""Git provenance index: for every path, the last commit that touched it, built in one history pass.

One ``git log -z --name-status -M`` walk from the audited commit yields every commit with the files
it changed (renames detected), so "last commit per path" for thousands of paths costs one process
instead of one ``git log -1 -- PATH`` per path (see ``bench/bench_provenance.py``). Signature
*presence* comes from one ``git rev-list --header`` pass looking for the ``gpgsig`` header, so gpg
is never run (and need not be installed); whether a signature verifies is out of scope here.

The order of the walk is git's default (newest commit date first), the same order
``git log -1 -- PATH`` uses; merge commits list no files (as in plain ``git log``), so a change
made on a branch is attributed to the branch commit that made it, not to the merge.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from auditor.errors import SourceError
from auditor.model import CommitInfo, FileProvenance, Provenance
from auditor.provenance.codeowners import CodeOwners, owners_of
from auditor.util import proc

_FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%s",
           "%(trailers:only,unfold,separator=%x1d,key_value_separator=%x1c)")
_LOG_FORMAT = "%x1e" + "%x1f".join(_FIELDS)
_REC, _SEP, _TSEP, _KVSEP = "\x1e", "\x1f", "\x1d", "\x1c"
_SHA_RE = re.compile(r"[0-9a-fA-F]{4,64}")
_REL_RE = re.compile(r"(\d+)\s*(d|day|days|w|week|weeks|h|hour|hours)\Z")


@dataclass(frozen=True)
class FileChange:
    """One file changed by a commit, as ``git log --name-status`` reports it."""

    status: str
    """``A``, ``M``, ``D``, ``T``, ``R`` (rename) or ``C`` (copy); the similarity score is dropped."""
    path: str
    """Path after the commit (the new name for renames/copies)."""
    old_path: str = ""
    """Previous name for renames and copies."""


@dataclass(frozen=True)
class IndexedCommit:
    """A commit of the walk with its parents and changed files."""

    info: CommitInfo
    parent_shas: tuple[str, ...]
    changes: tuple[FileChange, ...]

    @property
    def files(self) -> tuple[str, ...]:
        """Paths this commit touched (new names; old names of renames too)."""
        out: list[str] = []
        for ch in self.changes:
            out.append(ch.path)
            if ch.status == "R" and ch.old_path:
                out.append(ch.old_path)
        return tuple(out)


@dataclass(frozen=True)
class TouchedCommit:
    """A commit that touched some of the requested paths (for change control)."""

    commit: CommitInfo
    files: tuple[str, ...]
    """Requested (current) paths this commit touched, following renames back in history."""
    touched_as: tuple[str, ...] = ()
    """The names those files had in this commit when they differ (renamed later)."""
    merged_by: CommitInfo | None = None
    """Merge commit that brought this commit into the audited first-parent line, if any."""
    renamed: tuple[tuple[str, str], ...] = ()
    """(current name, name in this commit) for the files listed in ``touched_as``."""


class ProvenanceIndex:
    """Last commit per path and per-commit changed files for the history of one commit."""

    def __init__(
        self, head: str, commits: Iterable[IndexedCommit], git_dir: Path | None = None, *, shallow: bool = False
    ) -> None:
        """Build lookups from commits in walk order (newest first)."""
        self.head = head
        self.git_dir = git_dir
        self.shallow = shallow
        """True for a shallow clone: files last changed before the cut show the boundary commit."""
        self.commits: tuple[IndexedCommit, ...] = tuple(commits)
        self._by_sha: dict[str, IndexedCommit] = {c.info.sha: c for c in self.commits}
        self._last: dict[str, CommitInfo] = {}
        for c in self.commits:
            for ch in c.changes:
                # First sighting in newest-first order is the last commit that touched the path;
                # a rename also touched (removed) its old name.
                self._last.setdefault(ch.path, c.info)
                if ch.status == "R" and ch.old_path:
                    self._last.setdefault(ch.old_path, c.info)
        self._merged_by: dict[str, str | None] | None = None

    def __len__(self) -> int:
        return len(self.commits)

    @property
    def paths(self) -> Iterable[str]:
        """Every path any commit in the history touched."""
        return self._last.keys()

    def last_commit(self, path: str) -> CommitInfo | None:
        """The last commit that touched ``path`` (repository-relative), or ``None`` if never."""
        return self._last.get(path.lstrip("/"))

    def commit(self, sha: str) -> IndexedCommit | None:
        """Look up an indexed commit by full or abbreviated (≥4 hex digits) sha."""
        found = self._by_sha.get(sha)
        if found is not None or not _SHA_RE.fullmatch(sha):
            return found
        sha = sha.lower()
        hits = [c for s, c in self._by_sha.items() if s.startswith(sha)]
        return hits[0] if len(hits) == 1 else None

    def ancestors(self, sha: str) -> set[str]:
        """``sha`` and every commit reachable from it (within the indexed history)."""
        start = self.commit(sha)
        if start is None:
            return set()
        seen = {start.info.sha}
        stack = [start.info.sha]
        while stack:
            cur = self._by_sha.get(stack.pop())
            if cur is None:
                continue
            for p in cur.parent_shas:
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return seen

    def merged_by(self, sha: str) -> CommitInfo | None:
        """The merge on the audited commit's first-parent line that brought ``sha`` in, if any."""
        if self._merged_by is None:
            self._merged_by = self._compute_merged_by()
        m = self._merged_by.get(sha)
        return self._by_sha[m].info if m else None

    def _compute_merged_by(self) -> dict[str, str | None]:
        # Walk the first-parent chain oldest → newest. Each merge claims whatever its side parents
        # reach that is not claimed yet: by induction everything reachable from its first parent is
        # already claimed, so the claim is exactly "commits this merge brought in".
        chain: list[str] = []
        cur: str | None = self.head
        while cur is not None and cur in self._by_sha:
            chain.append(cur)
            parents = self._by_sha[cur].parent_shas
            cur = parents[0] if parents else None
        owner: dict[str, str | None] = dict.fromkeys(chain)
        for sha in reversed(chain):
            for side in self._by_sha[sha].parent_shas[1:]:
                stack = [side]
                while stack:
                    s = stack.pop()
                    if s in owner or s not in self._by_sha:
                        continue
                    owner[s] = sha
                    stack.extend(self._by_sha[s].parent_shas)
        return owner

    def commits_touching(
        self, paths: Iterable[str], since: str | None = None, *, now: datetime | None = None
    ) -> tuple[TouchedCommit, ...]:
        """Commits (newest first) that touched any of ``paths``, following renames backwards.

        ``since`` bounds the window: a commit sha (commits not reachable from it, like
        ``git log SHA..HEAD``), an ISO date/datetime (commit date at or after it), a relative age
        (``30d``, ``2 weeks``), or ``None``/empty for the whole history. Merge commits are not
        returned (they list no files).
        """
        window = _Window.parse(since or "", self, now)
        wanted: dict[str, str] = {p.lstrip("/"): p.lstrip("/") for p in paths}  # name in history → current
        out: list[TouchedCommit] = []
        for c in self.commits:
            hits: dict[str, str] = {}
            for ch in c.changes:
                current = wanted.get(ch.path)
                if current is not None:
                    hits[current] = ch.path
                    if ch.status == "R" and ch.old_path and ch.old_path not in wanted:
                        # Older commits knew this file by its old name.
                        wanted[ch.old_path] = current
            if hits and window.contains(c):
                files = tuple(sorted(hits))
                renamed = tuple(sorted((k, v) for k, v in hits.items() if k != v))
                touched_as = tuple(sorted(v for _, v in renamed))
                out.append(TouchedCommit(c.info, files, touched_as, self.merged_by(c.info.sha), renamed))
        return tuple(out)


@dataclass(frozen=True)
class _Window:
    excluded: frozenset[str] | None = None
    after: datetime | None = None

    @staticmethod
    def parse(since: str, index: ProvenanceIndex, now: datetime | None) -> _Window:
        since = since.strip()
        if not since:
            return _Window()
        if _SHA_RE.fullmatch(since):
            found = index.commit(since)
            if found is not None:
                return _Window(excluded=frozenset(index.ancestors(found.info.sha)))
        return _Window(after=parse_since(since, now))

    def contains(self, c: IndexedCommit) -> bool:
        if self.excluded is not None:
            return c.info.sha not in self.excluded
        if self.after is not None:
            return _parse_iso(c.info.commit_date or c.info.author_date) >= self.after
        return True


def parse_since(since: str, now: datetime | None = None) -> datetime:
    """Parse an ISO date/datetime or a relative age (``30d``, ``2 weeks``) to an aware datetime."""
    text = since.strip()
    rel = _REL_RE.fullmatch(text.lower().removesuffix(" ago"))
    if rel:
        n, unit = int(rel.group(1)), rel.group(2)[0]
        delta = {"d": timedelta(days=n), "w": timedelta(weeks=n), "h": timedelta(hours=n)}[unit]
        return (now or datetime.now(UTC)) - delta
    try:
        return _parse_iso(text)
    except ValueError:
        raise SourceError(
            f"parse window start {since!r}: expected a commit sha, an ISO date or an age like '30d'"
        ) from None


def _parse_iso(text: str) -> datetime:
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _git(git_dir: Path, *args: str, action: str, timeout: float = 300.0) -> bytes:
    return proc.run(["git", "-C", str(git_dir), *args], action=action, timeout=timeout).stdout


def resolve_commit(git_dir: Path, commit: str) -> str:
    """Full sha of ``commit`` (any rev) in ``git_dir``."""
    return _resolve(git_dir, commit)[0]


def _resolve(git_dir: Path, commit: str) -> tuple[str, bool]:
    """(full sha of ``commit``, whether the repository is shallow) in one git call."""
    out = _git(git_dir, "rev-parse", "--is-shallow-repository", "--verify", "--end-of-options",
               f"{commit}^{{commit}}", action=f"resolve {commit}")
    lines = out.decode().split()
    return lines[-1], lines[0] == "true"


def _parse_log(
    data: str, signed: set[str] | frozenset[str] = frozenset()
) -> Iterator[tuple[CommitInfo, tuple[str, ...], tuple[FileChange, ...]]]:
    r"""Parse ``git log -z --name-status`` output made with :data:`_LOG_FORMAT`.

    The stream is ``\x1eHEADER\0`` then, per changed file, ``STATUS\0PATH\0`` (two paths for
    renames/copies), the first status preceded by a newline. Splitting on NUL once and walking the
    tokens positionally keeps any byte a file name may hold out of the way of record detection.
    """
    tokens = data.split("\0")
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if not tok:
            i += 1
            continue
        if tok[0] != _REC:
            raise SourceError("read git history: unexpected log output")
        header = tok[1:]
        i += 1
        changes: list[FileChange] = []
        # Status tokens are letters and digits, so a record separator can only start a new record.
        while i < n and tokens[i] and tokens[i][0] != _REC:
            status = tokens[i].lstrip("\n")
            kind = status[:1]
            if kind in ("R", "C"):
                changes.append(FileChange(kind, tokens[i + 2], tokens[i + 1]))
                i += 3
            else:
                changes.append(FileChange(kind, tokens[i + 1]))
                i += 2
        f = header.split(_SEP)
        if len(f) != len(_FIELDS):
            raise SourceError("read git history: malformed commit record")
        parents = tuple(f[1].split())
        trailers: list[tuple[str, str]] = []
        if f[9]:
            for t in f[9].split(_TSEP):
                if _KVSEP in t:
                    k, _, v = t.partition(_KVSEP)
                    trailers.append((k.strip(), v.strip()))
        info = CommitInfo(
            sha=f[0], author_name=f[2], author_email=f[3], author_date=f[4],
            committer_name=f[5], committer_email=f[6], commit_date=f[7], subject=f[8],
            signed=f[0] in signed, trailers=tuple(trailers), parents=len(parents),
        )
        yield info, parents, tuple(changes)


_SIG_RE = re.compile(rb"\ngpgsig(?:-sha256)? ")


def signed_commits(git_dir: Path, commit: str, *, timeout: float = 300.0) -> set[str]:
    """Shas in the history of ``commit`` whose object carries a signature header (no gpg needed).

    ``rev-list --header`` prints each raw commit (NUL-terminated) with message lines indented, so
    a line starting with ``gpgsig`` can only be the header (gpg, ssh and x509 signatures alike).
    """
    raw = _git(git_dir, "rev-list", "--header", commit, action="read commit signatures", timeout=timeout)
    signed: set[str] = set()
    for m in _SIG_RE.finditer(raw):
        start = raw.rfind(b"\0", 0, m.start()) + 1
        sha = raw[start : raw.index(b"\n", start)].strip()
        if b"\n\n" not in raw[start : m.start()]:  # still in the header block of this record
            signed.add(sha.decode())
    return signed


def build_index(git_dir: Path, commit: str, *, timeout: float = 300.0) -> ProvenanceIndex:
    """Walk the history of ``commit`` once and index last commit per path (renames detected)."""
    git_dir = Path(git_dir)
    head, shallow = _resolve(git_dir, commit)
    log_args = ("-c", "log.showSignature=false", "log", "-z", "--name-status", "-M",
                "--no-color", f"--format={_LOG_FORMAT}", head, "--")
    # The two walks are independent: run them side by side (each is one git process).
    with ThreadPoolExecutor(max_workers=2) as pool:
        log_job = pool.submit(_git, git_dir, *log_args, action=f"read git history of {head[:12]}",
                              timeout=timeout)
        sig_job = pool.submit(signed_commits, git_dir, head, timeout=timeout)
        raw, signed = log_job.result(), sig_job.result()
    commits = [IndexedCommit(info, parents, changes)
               for info, parents, changes in _parse_log(raw.decode("utf-8", "replace"), signed)]
    return ProvenanceIndex(head, commits, git_dir, shallow=shallow)


_MANIFEST_EXT = (".yaml", ".yml", ".json")
_KIND_RE = re.compile(rb"^kind:\s*[\"']?([A-Za-z0-9]+)", re.MULTILINE)
_NAME_RE = re.compile(rb"^  name:\s*[\"']?([A-Za-z0-9.\-]+)", re.MULTILINE)


def removal_of(index: ProvenanceIndex, kind: str, name: str, *, limit: int = 200) -> FileProvenance | None:
    """The commit that deleted the file which last defined ``kind``/``name``, for stale orphans.

    Looks at the newest ``limit`` deleted manifest files only, reading their last content in one
    ``git cat-file --batch`` call. ``name`` may carry a kustomize name prefix or suffix. Returns a
    :class:`FileProvenance` (role ``removed``, line of the object, the deleting commit) or ``None``
    (never defined in a deleted file, e.g. removed from a ``resources:`` list instead).
    """
    if index.git_dir is None:
        return None
    candidates: list[tuple[IndexedCommit, str]] = []
    for c in index.commits:
        if not c.parent_shas:
            continue
        for ch in c.changes:
            if ch.status == "D" and ch.path.endswith(_MANIFEST_EXT):
                candidates.append((c, ch.path))
        if len(candidates) >= limit:
            break
    if not candidates:
        return None
    request = "".join(f"{c.parent_shas[0]}:{path}\n" for c, path in candidates).encode()
    out = proc.run(["git", "-C", str(index.git_dir), "cat-file", "--batch"], action="read deleted manifests",
                   input_bytes=request).stdout
    pos = 0
    best: tuple[int, FileProvenance] | None = None
    for c, path in candidates:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].split()
        pos = header_end + 1
        if len(header) < 3 or header[1] != b"blob":
            continue  # "<spec> missing"
        size = int(header[2])
        blob = out[pos : pos + size]
        pos += size + 1
        for doc_start, doc in _split_docs(blob):
            k = _KIND_RE.search(doc)
            n = _NAME_RE.search(doc)
            if not k or not n or k.group(1).decode() != kind:
                continue
            found = n.group(1).decode()
            score = 2 if found == name else 1 if (name.endswith(found) or name.startswith(found)) else 0
            if score and (best is None or score > best[0]):
                line = blob.count(b"\n", 0, doc_start + k.start()) + 1
                best = (score, FileProvenance(path, role="removed", commit=c.info, line=line))
        if best is not None and best[0] == 2:
            break
    return best[1] if best else None


def _split_docs(blob: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, text) of each YAML document in a multi-document file."""
    start = 0
    for sep in _DOC_SEP_RE.finditer(blob):
        yield start, blob[start : sep.start()]
        start = sep.end()
    yield start, blob[start:]


_DOC_SEP_RE = re.compile(rb"(?m)^---[^\n]*(?:\n|\Z)")


def attach(prov: Provenance, index: ProvenanceIndex, owners: CodeOwners | None) -> Provenance:
    """Fill each file's last commit (unless already set, e.g. by blame) and CODEOWNERS owners."""
    files: list[FileProvenance] = []
    for f in prov.files:
        commit = f.commit or index.last_commit(f.path)
        who = (owners_of(owners, f.path) or ()) if owners is not None else f.owners
        files.append(dataclasses.replace(f, commit=commit, owners=who))
    return dataclasses.replace(prov, files=tuple(files))


def last_commits(index: ProvenanceIndex, paths: Iterable[str]) -> Mapping[str, CommitInfo | None]:
    """:meth:`ProvenanceIndex.last_commit` for many paths."""
    return {p: index.last_commit(p) for p in paths}
