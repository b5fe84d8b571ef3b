"""What change control judges, gathered once per repository: commits of the window, CODEOWNERS, approvals.

Gathering reads git (and, when configured, the hosting platform); judging (``changecontrol.judge``)
is a pure function of these inputs. Keeping the two apart lets the evidence bundle carry the inputs
and ``gitops-audit replay`` judge them again offline, with the same code, and get the same findings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.model import Approval, CommitInfo
from auditor.provenance.codeowners import CodeOwners, Problem, Rule, compile_pattern, load_codeowners_many
from auditor.provenance.index import ProvenanceIndex, TouchedCommit


@dataclass(frozen=True)
class PlatformResult:
    """What the hosting platform says about one commit: its pull/merge request and who approved it."""

    pull_request: str = ""
    """``#42`` (GitHub) or ``!7`` (GitLab), empty when the commit came in without one."""
    url: str = ""
    approvals: tuple[Approval, ...] = ()
    error: str = ""
    """Why the platform could not be asked (rate limit, network, HTTP status); empty on success."""


PlatformLookup = Callable[[str], PlatformResult]
"""Commit sha → what the hosting platform says about it."""


@dataclass(frozen=True)
class ChangeRecord:
    """A commit of the audit window that touched files of protected targets."""

    commit: CommitInfo
    files: tuple[str, ...]
    """Touched files by their current name (renames followed)."""
    renames: tuple[tuple[str, str], ...] = ()
    """(current name, name in this commit) where the file was renamed later."""
    merged_by: CommitInfo | None = None
    """The merge on the audited first-parent line that brought the commit in."""
    base: str = ""
    """First parent: its CODEOWNERS governs the commit (empty for a root commit)."""
    platform: PlatformResult | None = None
    """Hosting-platform answer, when a platform is configured."""


@dataclass(frozen=True)
class ChangeInputs:
    """Everything change control needs for one repository, without access to git or the platform."""

    window_start: str
    codeowners: CodeOwners | None
    """CODEOWNERS at the audited commit."""
    records: tuple[ChangeRecord, ...] = ()
    """Newest first, as ``git log`` walks."""
    codeowners_at: Mapping[str, CodeOwners] = field(default_factory=dict)
    """Base commit sha → the CODEOWNERS in force there (bases without one are absent)."""
    last_commits: Mapping[str, CommitInfo] = field(default_factory=dict)
    """Path → last commit that touched it (provenance of unowned-file findings)."""
    platform: str = ""
    """``github``, ``gitlab`` or empty (approvals from trailers and merge commits only)."""

    def touching(self, paths: Iterable[str]) -> list[tuple[ChangeRecord, tuple[str, ...], tuple[str, ...]]]:
        """(record, files among ``paths``, their names in that commit where renamed) for records touching ``paths``."""
        wanted = set(paths)
        out = []
        for rec in self.records:
            files = tuple(f for f in rec.files if f in wanted)
            if files:
                touched_as = tuple(sorted(old for cur, old in rec.renames if cur in wanted))
                out.append((rec, files, touched_as))
        return out


def gather(
    index: ProvenanceIndex,
    codeowners: CodeOwners | None,
    paths: Iterable[str],
    window_start: str,
    *,
    platform: str = "",
    lookup: PlatformLookup | None = None,
) -> ChangeInputs:
    """Read what judging ``paths`` needs: the window's commits, CODEOWNERS at their bases, platform approvals."""
    wanted = sorted({p.lstrip("/") for p in paths if p})
    touched = index.commits_touching(wanted, window_start or None) if codeowners is not None else ()
    bases: dict[str, str] = {}
    for tc in touched:
        indexed = index.commit(tc.commit.sha)
        if indexed is not None and indexed.parent_shas:
            bases[tc.commit.sha] = indexed.parent_shas[0]
    at: dict[str, CodeOwners] = {}
    if index.git_dir is not None and bases:
        at = {sha: co for sha, co in load_codeowners_many(index.git_dir, bases.values()).items() if co is not None}
    records = tuple(_record(tc, bases.get(tc.commit.sha, ""), lookup) for tc in touched)
    last = {p: c for p in wanted if (c := index.last_commit(p)) is not None}
    return ChangeInputs(window_start, codeowners, records, at, last, platform if lookup is not None else "")


def _record(tc: TouchedCommit, base: str, lookup: PlatformLookup | None) -> ChangeRecord:
    return ChangeRecord(
        commit=tc.commit,
        files=tc.files,
        renames=tc.renamed,
        merged_by=tc.merged_by,
        base=base,
        platform=lookup(tc.commit.sha) if lookup is not None else None,
    )


# --------------------------------------------------------------------------- JSON (evidence bundle)


def _commit(c: CommitInfo | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "sha": c.sha, "author_name": c.author_name, "author_email": c.author_email, "author_date": c.author_date,
        "committer_name": c.committer_name, "committer_email": c.committer_email, "commit_date": c.commit_date,
        "subject": c.subject, "signed": c.signed, "trailers": [list(t) for t in c.trailers], "parents": c.parents,
    }


def _load_commit(d: Mapping[str, Any] | None) -> CommitInfo | None:
    if d is None:
        return None
    return CommitInfo(
        sha=str(d["sha"]), author_name=str(d.get("author_name", "")), author_email=str(d.get("author_email", "")),
        author_date=str(d.get("author_date", "")), committer_name=str(d.get("committer_name", "")),
        committer_email=str(d.get("committer_email", "")), commit_date=str(d.get("commit_date", "")),
        subject=str(d.get("subject", "")), signed=bool(d.get("signed", False)),
        trailers=tuple((str(k), str(v)) for k, v in d.get("trailers", ())), parents=int(d.get("parents", 1)),
    )


def approval_dict(a: Approval) -> dict[str, str]:
    """JSON form of an approval."""
    return {"approver": a.approver, "source": a.source, "reference": a.reference, "time": a.time,
            "code_owner": a.code_owner}


def load_approval(d: Mapping[str, Any]) -> Approval:
    """Inverse of :func:`approval_dict`."""
    return Approval(str(d["approver"]), str(d["source"]), str(d.get("reference", "")), str(d.get("time", "")),
                    str(d.get("code_owner", "")))


def _codeowners(co: CodeOwners | None) -> dict[str, Any] | None:
    if co is None:
        return None
    return {
        "path": co.path,
        "rules": [[r.line, r.pattern, list(r.owners)] for r in co.rules],
        "problems": [[p.line, p.message, p.text] for p in co.problems],
    }


def _load_codeowners(d: Mapping[str, Any] | None) -> CodeOwners | None:
    if d is None:
        return None
    rules = tuple(
        Rule(int(line), str(pattern), tuple(str(o) for o in owners), compile_pattern(str(pattern)))
        for line, pattern, owners in d.get("rules", ())
    )
    problems = tuple(Problem(int(line), str(msg), str(text)) for line, msg, text in d.get("problems", ()))
    return CodeOwners(path=str(d["path"]), rules=rules, problems=problems)


def _platform(p: PlatformResult | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"pull_request": p.pull_request, "url": p.url, "approvals": [approval_dict(a) for a in p.approvals],
            "error": p.error}


def _load_platform(d: Mapping[str, Any] | None) -> PlatformResult | None:
    if d is None:
        return None
    return PlatformResult(str(d.get("pull_request", "")), str(d.get("url", "")),
                          tuple(load_approval(a) for a in d.get("approvals", ())), str(d.get("error", "")))


def to_json(inputs: ChangeInputs) -> dict[str, Any]:
    """JSON-ready form of the inputs (for the evidence bundle); :func:`from_json` reads it back."""
    return {
        "window_start": inputs.window_start,
        "platform": inputs.platform,
        "codeowners": _codeowners(inputs.codeowners),
        "codeowners_at": {sha: _codeowners(co) for sha, co in sorted(inputs.codeowners_at.items())},
        "last_commits": {p: _commit(c) for p, c in sorted(inputs.last_commits.items())},
        "records": [
            {
                "commit": _commit(r.commit),
                "files": list(r.files),
                "renames": [list(x) for x in r.renames],
                "merged_by": _commit(r.merged_by),
                "base": r.base,
                "platform": _platform(r.platform),
            }
            for r in inputs.records
        ],
    }


def from_json(d: Mapping[str, Any]) -> ChangeInputs:
    """Inverse of :func:`to_json`."""
    records = []
    for r in d.get("records", ()):
        commit = _load_commit(r["commit"])
        assert commit is not None
        records.append(ChangeRecord(
            commit=commit,
            files=tuple(str(f) for f in r.get("files", ())),
            renames=tuple((str(a), str(b)) for a, b in r.get("renames", ())),
            merged_by=_load_commit(r.get("merged_by")),
            base=str(r.get("base", "")),
            platform=_load_platform(r.get("platform")),
        ))
    at = {str(sha): co for sha, raw in (d.get("codeowners_at") or {}).items() if (co := _load_codeowners(raw))}
    last = {str(p): c for p, raw in (d.get("last_commits") or {}).items() if (c := _load_commit(raw)) is not None}
    return ChangeInputs(
        window_start=str(d.get("window_start", "")),
        codeowners=_load_codeowners(d.get("codeowners")),
        records=tuple(records),
        codeowners_at=at,
        last_commits=last,
        platform=str(d.get("platform", "")),
    )
