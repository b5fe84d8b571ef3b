"""Change-control checks for protected targets: CODEOWNERS coverage and commit approval.

Findings (category ``change-control``), default severities in brackets (configurable in
:class:`~auditor.provenance.options.ChangeControlOptions`):

* ``change-control.no-codeowners`` [high] — a protected target but no CODEOWNERS file at the commit;
  nothing can be owned or approved, so the per-file and per-commit checks are not run.
* ``change-control.unowned-file`` [medium] — a file contributing to the target's desired state that
  matches no CODEOWNERS rule, or whose last matching rule lists no owners.
* ``change-control.unapproved-commit`` [high] — a commit in the audit window that touched
  contributing files, whose author is not an owner of them and which carries no approval by an
  owner: neither an approval trailer (``Approved-by:``/``Reviewed-by:`` …) naming an owner, nor (when
  enabled) a merge commit that brought it in, authored or approved by an owner. Every touched file
  with owners must be satisfied by one of *its* owners, as GitHub's required code-owner review does.
* ``change-control.unsigned-commit`` [medium, opt-in] — a commit in the window to contributing
  files without a signature header.
* Each commit is judged by the CODEOWNERS in force before it (its parent's version), as GitHub judges
  a pull request by the base branch's file; unowned files are judged by the audited version.
* With ``include_codeowners_file`` (default), the CODEOWNERS file itself is checked like a
  contributing file: an unowned CODEOWNERS, or an unapproved edit to it, is a change-control gap.
* ``change-control.unmapped-owner`` [low] — owners of the target's files that ``identities`` does
  not tie to any email (teams without members, users without emails): their own commits and
  approvals cannot be recognised, so commit findings for their files may be false alarms.

``Finding.path`` carries the file path (unowned files) or the commit sha (commit findings) so each
finding has its own fingerprint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from auditor.model import Approval, Category, CommitInfo, FileProvenance, Finding, Provenance, Severity, Target
from auditor.provenance.changeinputs import ChangeInputs, ChangeRecord, PlatformLookup, gather
from auditor.provenance.codeowners import CodeOwners, classify_owner, matching_rule
from auditor.provenance.index import ProvenanceIndex, parse_since
from auditor.provenance.options import ChangeControlOptions

RULE_NO_CODEOWNERS = "change-control.no-codeowners"
RULE_UNOWNED = "change-control.unowned-file"
RULE_UNAPPROVED = "change-control.unapproved-commit"
RULE_UNSIGNED = "change-control.unsigned-commit"
RULE_UNMAPPED_OWNER = "change-control.unmapped-owner"

_NOREPLY_RE = re.compile(r"(?:\d+\+)?([A-Za-z0-9][A-Za-z0-9-]*)@users\.noreply\.github\.com\Z", re.IGNORECASE)
_ANGLE_EMAIL_RE = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_BARE_EMAIL_RE = re.compile(r"[^<>\s@]+@[^<>\s@]+")
_LOGIN_RE = re.compile(r"@([A-Za-z0-9][A-Za-z0-9_.-]*)")


@dataclass(frozen=True)
class Person:
    """Someone who authored or approved a commit: an email and/or a GitHub login."""

    display: str
    email: str = ""
    """Lower-cased email, empty when unknown."""
    login: str = ""
    """Lower-cased GitHub login (without ``@``), from ``@login`` or a noreply address."""

    @classmethod
    def from_commit(cls, c: CommitInfo) -> Person:
        """The author of a commit."""
        return cls._make(f"{c.author_name} <{c.author_email}>", c.author_email)

    @classmethod
    def from_trailer(cls, value: str) -> Person:
        """An approver named by a trailer value: ``Name <email>``, ``email`` or ``@login``."""
        m = _ANGLE_EMAIL_RE.search(value)
        if m:
            return cls._make(value, m.group(1))
        m2 = _BARE_EMAIL_RE.search(value)
        if m2:
            return cls._make(value, m2.group(0))
        m3 = _LOGIN_RE.search(value)
        return cls(value, login=m3.group(1).lower() if m3 else "")

    @classmethod
    def _make(cls, display: str, email: str) -> Person:
        email = email.strip().lower()
        nr = _NOREPLY_RE.match(email)
        return cls(display, email, nr.group(1).lower() if nr else "")


@dataclass(frozen=True)
class AuditWindow:
    """The commits examined: ``start`` is a sha (``start..HEAD``) or an ISO datetime."""

    start: str
    source: str
    """``since`` (explicit), ``previous-run`` or ``default``."""

    @property
    def description(self) -> str:
        """Human text for reports: ``commits after 1a2b3c4 (previous run)``."""
        what = f"commits after {self.start[:12]}" if _is_sha(self.start) else f"commits since {self.start}"
        return f"{what} ({self.source.replace('-', ' ')})"


def _is_sha(text: str) -> bool:
    return re.fullmatch(r"[0-9a-f]{7,64}", text) is not None


def resolve_window(
    options: ChangeControlOptions,
    index: ProvenanceIndex,
    previous_commit: str = "",
    *,
    now: datetime | None = None,
) -> AuditWindow:
    """Pick the audit window: ``since`` if set, else the previous run's commit, else the default age.

    A previous commit that is not in the audited history (force-push, other branch) is ignored;
    an explicit ``since`` that names no known commit must parse as a date or age.
    """
    if options.since:
        found = index.commit(options.since) if re.fullmatch(r"[0-9a-fA-F]{4,64}", options.since) else None
        if found is not None:
            return AuditWindow(found.info.sha, "since")
        return AuditWindow(parse_since(options.since, now).isoformat(), "since")
    if previous_commit:
        prev = index.commit(previous_commit)
        if prev is not None:
            return AuditWindow(prev.info.sha, "previous-run")
    return AuditWindow(parse_since(options.default_window, now).isoformat(), "default")


class Identities:
    """Resolves CODEOWNERS owners to the people they stand for, using the configured mapping."""

    def __init__(self, mapping: Mapping[str, Sequence[str]]) -> None:
        """``mapping``: owner (``@user``, ``@org/team``, email) → emails, logins or nested owners."""
        self._map = {k.strip().lower(): tuple(v) for k, v in mapping.items()}
        self._cache: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    def expand(self, owner: str) -> tuple[frozenset[str], frozenset[str]]:
        """(emails, logins) an owner stands for, teams expanded recursively (cycle-safe)."""
        key = owner.strip().lower()
        if key in self._cache:
            return self._cache[key]
        emails: set[str] = set()
        logins: set[str] = set()
        seen: set[str] = set()
        stack = [key]
        while stack:
            cur = stack.pop()
            if cur in seen:
                continue
            seen.add(cur)
            if cur.startswith("@") and "/" not in cur:
                logins.add(cur[1:])
            elif "@" in cur and not cur.startswith("@"):
                emails.add(cur)
            for member in self._map.get(cur, ()):
                stack.append(member.strip().lower())
        result = (frozenset(emails), frozenset(logins))
        self._cache[key] = result
        return result

    def owner_of(self, person: Person, owners: Iterable[str]) -> str | None:
        """The first of ``owners`` that ``person`` is (or is a member of), else ``None``."""
        for owner in owners:
            emails, logins = self.expand(owner)
            if (person.email and person.email in emails) or (person.login and person.login in logins):
                return owner
        return None


def check_target(
    target: Target,
    files: Sequence[str],
    index: ProvenanceIndex,
    codeowners: CodeOwners | None,
    options: ChangeControlOptions,
    *,
    window_start: str,
    roles: Mapping[str, str] | None = None,
    lookup: PlatformLookup | None = None,
    platform: str = "",
) -> tuple[Finding, ...]:
    """Change-control findings for one target (none unless its env is protected).

    ``files`` are the repository-relative files that contribute to the target's desired state;
    ``window_start`` is an :class:`AuditWindow` start (sha or ISO datetime, see
    :func:`resolve_window`); ``roles`` optionally labels files (``kustomization``, ``patch`` …);
    ``lookup`` asks the hosting platform about a commit (pull request approvals).
    """
    if target.env not in options.protected_envs:
        return ()
    paths, role_of = target_paths(files, codeowners, options, roles)
    inputs = gather(index, codeowners, paths, window_start, platform=platform, lookup=lookup)
    return judge(target, paths, inputs, options, role_of)


def target_paths(
    files: Iterable[str], codeowners: CodeOwners | None, options: ChangeControlOptions,
    roles: Mapping[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The change-controlled paths of a target (its files, plus CODEOWNERS itself) and their roles."""
    wanted = {f.lstrip("/") for f in files if f}
    role_of = dict(roles or {})
    if options.include_codeowners_file and codeowners is not None:
        # Whoever can edit CODEOWNERS can grant themselves ownership: it is change-controlled too.
        wanted.add(codeowners.path)
        role_of.setdefault(codeowners.path, "codeowners")
    return sorted(wanted), role_of


def _relation(role: str) -> str:
    return "governs change control of" if role == "codeowners" else "feeds"


def judge(
    target: Target,
    paths: Sequence[str],
    inputs: ChangeInputs,
    options: ChangeControlOptions,
    role_of: Mapping[str, str],
) -> tuple[Finding, ...]:
    """Change-control findings of a protected target from gathered inputs (pure: no git, no network)."""
    codeowners = inputs.codeowners
    window_start = inputs.window_start

    def fp(path: str, commit: CommitInfo | None, owners: tuple[str, ...] = ()) -> FileProvenance:
        return FileProvenance(path, role=role_of.get(path, "resource"), commit=commit, owners=owners)

    if codeowners is None:
        return (
            Finding(
                target=target.name,
                category=Category.CHANGE_CONTROL,
                rule_id=RULE_NO_CODEOWNERS,
                severity=options.unapproved_severity,
                message=f"protected target {target.name} has no CODEOWNERS file "
                "(looked in .github/, the root and docs/): no file is owned and no change can be approved",
                provenance=Provenance(files=tuple(fp(p, inputs.last_commits.get(p), ()) for p in paths)),
                details={"files": list(paths)},
            ),
        )

    findings: list[Finding] = []
    owners_cache: dict[str, tuple[str, ...]] = {}
    for path in paths:
        rule = matching_rule(codeowners, path)
        owners_cache[path] = rule.owners if rule else ()
        if rule is not None and rule.owners:
            continue
        why = (
            f"matches no rule in {codeowners.path}"
            if rule is None
            else f"is explicitly unowned by {codeowners.path} line {rule.line} ({rule.pattern})"
        )
        findings.append(
            Finding(
                target=target.name,
                category=Category.CHANGE_CONTROL,
                rule_id=RULE_UNOWNED,
                severity=options.unowned_severity,
                message=f"{path} {_relation(role_of.get(path, ''))} protected target {target.name} but {why}",
                path=path,
                provenance=Provenance(files=(fp(path, inputs.last_commits.get(path), ()),)),
                details={
                    "file": path,
                    "codeowners": codeowners.path,
                    "rule_line": rule.line if rule else None,
                    "rule_pattern": rule.pattern if rule else None,
                },
            )
        )

    ids = Identities(options.identities)
    commit_findings: list[Finding] = []
    for rec, files, touched_as in inputs.touching(paths):
        governing = inputs.codeowners_at.get(rec.base) or codeowners
        if governing is codeowners:
            owners_then: Mapping[str, tuple[str, ...]] = owners_cache
        else:
            owners_then = {p: (rule.owners if (rule := matching_rule(governing, p)) else ()) for p in files}
        verdict = commit_verdict(rec, files, owners_then, ids, options)
        commit_findings.extend(
            _commit_findings(target, rec, files, touched_as, verdict, owners_then, options, fp, window_start)
        )
    findings.extend(commit_findings)
    unmapped = _unmapped_owners(owners_cache.values(), ids)
    if unmapped:
        findings.append(
            Finding(
                target=target.name,
                category=Category.CHANGE_CONTROL,
                rule_id=RULE_UNMAPPED_OWNER,
                severity=Severity.LOW,
                message=f"owners of {target.name}'s files have no identities in change_control.identities: "
                f"{', '.join(unmapped)}; their commits and approvals cannot be recognised"
                + (f" ({len(commit_findings)} commit finding(s) may be affected)" if commit_findings else ""),
                path=",".join(unmapped),
                owners=tuple(unmapped),
                details={"owners": unmapped},
            )
        )
    return tuple(findings)


def _unmapped_owners(owner_sets: Iterable[tuple[str, ...]], ids: Identities) -> list[str]:
    """Owners that resolve to no email: teams without members, users without emails.

    (A login still matches GitHub noreply addresses and ``@login`` trailers, which few commits carry.)
    """
    out: set[str] = set()
    for owners in owner_sets:
        for owner in owners:
            if classify_owner(owner) != "email" and not ids.expand(owner)[0]:
                out.add(owner)
    return sorted(out)


@dataclass(frozen=True)
class Evidence:
    """One piece of approval evidence for a commit: who, in what words, and the ledger record of it."""

    person: Person
    how: str
    """The text findings have always shown (``Reviewed-by: Bob <bob@x>``, ``merge 1a2b3c4 by Alice``)."""
    approval: Approval


def approval_evidence(rec: ChangeRecord, options: ChangeControlOptions) -> list[Evidence]:
    """Every approval of a commit: hosting-platform reviews first, then trailers, then the merge that brought it in."""
    keys = {k.strip().lower() for k in options.approval_trailers}
    out: list[Evidence] = []
    if rec.platform is not None:
        for a in rec.platform.approvals:
            person = Person.from_trailer(a.approver)
            out.append(Evidence(person, f"{a.source} {a.reference or rec.platform.pull_request}: {a.approver}", a))
    out.extend(_trailer_evidence(rec.commit, keys, ""))
    merge = rec.merged_by if options.accept_merge_commits else None
    if merge is not None:
        who = f"{merge.author_name} <{merge.author_email}>"
        out.append(Evidence(Person.from_commit(merge), f"merge {merge.short} by {merge.author_name}",
                            Approval(who, "merge-commit", merge.sha, utc_iso(merge.commit_date or merge.author_date))))
        out.extend(_trailer_evidence(merge, keys, f" (on merge {merge.short})"))
    return out


def _trailer_evidence(c: CommitInfo, keys: set[str], suffix: str) -> list[Evidence]:
    return [
        Evidence(Person.from_trailer(v), f"{k}: {v}{suffix}", Approval(v, "trailer", f"{k}: {v}{suffix}"))
        for k, v in c.trailers
        if k.lower() in keys
    ]


def utc_iso(text: str) -> str:
    """ISO-8601 with any offset → UTC with ``Z`` (unchanged when it does not parse)."""
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if dt.tzinfo is None:
        return text
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Verdict:
    """How one commit fares against the owners of the files it touched."""

    author: Person
    evidence: tuple[Evidence, ...]
    unsatisfied: Mapping[str, tuple[str, ...]]
    """File → owners, for owned files no owner authored or approved."""
    satisfied_by: Mapping[str, str]
    """File → how it was satisfied (``author is @alice``, ``Reviewed-by: … (@bob)``)."""
    proved_by: tuple[Evidence, ...]
    """Evidence that satisfied some file (approvals by an owner), in evidence order."""
    owned: bool
    """True when at least one touched file has owners."""


def commit_verdict(
    rec: ChangeRecord,
    files: Sequence[str],
    owners_then: Mapping[str, tuple[str, ...]],
    ids: Identities,
    options: ChangeControlOptions,
) -> Verdict:
    """Judge one commit: every touched owned file needs its author to be an owner or an owner's approval.

    Each file must be satisfied by one of *its* owners, as GitHub's required code-owner review does.
    """
    author = Person.from_commit(rec.commit)
    evidence = approval_evidence(rec, options)
    unsatisfied: dict[str, tuple[str, ...]] = {}
    satisfied_by: dict[str, str] = {}
    proved: list[Evidence] = []
    owned = False
    for path in files:
        owners = owners_then.get(path, ())
        if not owners:
            continue  # reported as an unowned file; no owner could approve it
        owned = True
        as_owner = ids.owner_of(author, owners)
        if as_owner:
            satisfied_by[path] = f"author is {as_owner}"
            continue
        for ev in evidence:
            who = ids.owner_of(ev.person, owners)
            if who:
                satisfied_by[path] = f"{ev.how} ({who})"
                if ev not in proved:
                    proved.append(ev)
                break
        else:
            unsatisfied[path] = owners
    return Verdict(author, tuple(evidence), unsatisfied, satisfied_by, tuple(proved), owned)


def _commit_findings(
    target: Target,
    rec: ChangeRecord,
    files: tuple[str, ...],
    touched_as: tuple[str, ...],
    verdict: Verdict,
    owners_then: Mapping[str, tuple[str, ...]],
    options: ChangeControlOptions,
    fp: _Fp,
    window_start: str,
) -> list[Finding]:
    c = rec.commit
    base_details = {
        "sha": c.sha,
        "short": c.short,
        "author": c.author_name,
        "author_email": c.author_email,
        "author_date": c.author_date,
        "committer": f"{c.committer_name} <{c.committer_email}>",
        "commit_date": c.commit_date,
        "subject": c.subject,
        "files": list(files),
        "touched_as": list(touched_as),
        "merged_by": rec.merged_by.sha if rec.merged_by else "",
        "window_start": window_start,
    }
    if rec.platform is not None:
        base_details["pull_request"] = rec.platform.pull_request
        if rec.platform.error:
            base_details["platform_error"] = rec.platform.error
    out: list[Finding] = []
    unsatisfied = verdict.unsatisfied
    if unsatisfied:
        required: list[str] = []
        for owners in unsatisfied.values():
            required.extend(o for o in owners if o not in required)
        first = next(iter(unsatisfied))
        more = f" and {len(unsatisfied) - 1} more file(s)" if len(unsatisfied) > 1 else ""
        out.append(
            Finding(
                target=target.name,
                category=Category.CHANGE_CONTROL,
                rule_id=RULE_UNAPPROVED,
                severity=options.unapproved_severity,
                message=f"commit {c.short} by {c.author_name} <{c.author_email}> changed {first}{more} "
                f"without approval by an owner (required: {', '.join(required)})",
                path=c.sha,
                owners=tuple(required),
                provenance=Provenance(files=tuple(fp(p, c, o) for p, o in unsatisfied.items())),
                details={
                    **base_details,
                    "required_owners": {p: list(o) for p, o in unsatisfied.items()},
                    "approvals_found": [ev.how for ev in verdict.evidence],
                    "approved_files": dict(verdict.satisfied_by),
                },
            )
        )
    if options.require_signed and not c.signed:
        out.append(
            Finding(
                target=target.name,
                category=Category.CHANGE_CONTROL,
                rule_id=RULE_UNSIGNED,
                severity=options.unsigned_severity,
                message=f"commit {c.short} by {c.author_name} <{c.author_email}> to protected files "
                f"of {target.name} is not signed",
                path=c.sha,
                # each file with the owners the commit was judged by, so the evidence names who should have signed
                provenance=Provenance(files=tuple(fp(p, c, owners_then.get(p, ())) for p in files)),
                details=base_details,
            )
        )
    return out


_Fp = Callable[[str, CommitInfo | None, tuple[str, ...]], FileProvenance]


def check_codeowners_file(co: CodeOwners, target: str = "") -> tuple[Finding, ...]:
    """Low-severity findings for invalid CODEOWNERS lines (GitHub skips them: ownership gaps)."""
    return tuple(
        Finding(
            target=target,
            category=Category.CHANGE_CONTROL,
            rule_id="change-control.codeowners-invalid-line",
            severity=Severity.LOW,
            message=f"{co.path}:{p.line}: {p.message} (GitHub skips this line)",
            path=f"{co.path}:{p.line}",
            details={"file": co.path, "line": p.line, "text": p.text},
        )
        for p in co.problems
    )
