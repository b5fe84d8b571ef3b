"""The change ledger: every commit of the audit window that touched files feeding a protected target.

One entry per commit (not per target): who wrote and committed it (UTC dates), whether it is
signed, the files, the CODEOWNERS rules in force at its base, the pull request, every approval with
the source that proves it (hosting-platform review, trailer, merge commit), whether an approver is
a code owner other than the author, and the verdict. It is the population an auditor samples from
(SOC 2 CC8.1, ISO 27001 A.8.32): its verdicts agree with the ``change-control.unapproved-commit``
findings because both come from :func:`~auditor.provenance.changecontrol.commit_verdict`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from auditor.model import Approval, CommitInfo, LedgerEntry
from auditor.provenance.changecontrol import Identities, Person, commit_verdict, utc_iso
from auditor.provenance.changeinputs import ChangeInputs
from auditor.provenance.codeowners import matching_rule
from auditor.provenance.options import ChangeControlOptions

VERDICTS = ("approved", "author-is-owner", "unapproved", "unowned")


def build_ledger(
    inputs: ChangeInputs,
    target_paths: Mapping[str, Sequence[str]],
    options: ChangeControlOptions,
) -> tuple[LedgerEntry, ...]:
    """Ledger entries (newest commit first) for the protected targets' change-controlled paths.

    ``target_paths`` maps each protected target of this repository to its paths (see
    :func:`~auditor.provenance.changecontrol.target_paths`).
    """
    if inputs.codeowners is None or not target_paths:
        return ()
    every = sorted({p for paths in target_paths.values() for p in paths})
    ids = Identities(options.identities)
    out: list[LedgerEntry] = []
    for rec, files, _ in inputs.touching(every):
        targets = tuple(sorted(t for t, paths in target_paths.items() if set(paths) & set(files)))
        governing = inputs.codeowners_at.get(rec.base) or inputs.codeowners
        rules = {p: matching_rule(governing, p) for p in files}
        owners_then = {p: (r.owners if r else ()) for p, r in rules.items()}
        v = commit_verdict(rec, files, owners_then, ids, options)
        all_owners = sorted({o for owners in owners_then.values() for o in owners})
        approvals = []
        independent = False
        for ev in v.evidence:
            who = ids.owner_of(ev.person, all_owners) or ""
            if who and not _same_person(ev.person, v.author):
                independent = True
            approvals.append(replace(ev.approval, code_owner=who))
        if not v.owned:
            verdict, source = "unowned", "none"
        elif v.unsatisfied:
            verdict, source = "unapproved", "none"
        elif v.proved_by and independent:
            verdict, source = "approved", v.proved_by[0].approval.source
        else:
            verdict, source = "author-is-owner", "author-is-owner"
        pr = rec.platform.pull_request if rec.platform is not None else ""
        if not pr and rec.merged_by is not None:
            pr = _pr_from_merge(rec.merged_by)
        out.append(
            LedgerEntry(
                commit=_utc_commit(rec.commit),
                files=files,
                targets=targets,
                owners=tuple((p, owners_then[p]) for p in files),
                codeowners_rules=tuple(
                    (p, f"{governing.path}:{r.line} {r.pattern}" if r else f"{governing.path}: no rule")
                    for p, r in rules.items()
                ),
                pull_request=pr,
                approvals=tuple(approvals),
                independent_approval=independent,
                verdict=verdict,
                approval_source=source,
                lookup_error=rec.platform.error if rec.platform is not None else "",
            )
        )
    return tuple(out)


def _same_person(a: Person, b: Person) -> bool:
    return bool((a.email and a.email == b.email) or (a.login and a.login == b.login))


def _pr_from_merge(merge: CommitInfo) -> str:
    """``#42`` from GitHub's ``Merge pull request #42 …`` subject, ``!7`` from GitLab's ``See merge request …!7``."""
    subject = merge.subject
    if subject.startswith("Merge pull request #"):
        number = subject.removeprefix("Merge pull request #").split(" ", 1)[0]
        if number.isdigit():
            return f"#{number}"
    for _, value in merge.trailers:
        if "!" in value and value.rsplit("!", 1)[1].isdigit():
            return "!" + value.rsplit("!", 1)[1]
    return ""


def _utc_commit(c: CommitInfo) -> CommitInfo:
    """The commit with its dates in UTC (``Z``): the ledger compares and sorts dates as text."""
    return replace(c, author_date=utc_iso(c.author_date), commit_date=utc_iso(c.commit_date))


def merge_ledgers(ledgers: Sequence[Sequence[LedgerEntry]]) -> tuple[LedgerEntry, ...]:
    """One ledger over several repositories: newest commit first, then by sha."""
    entries = [e for ledger in ledgers for e in ledger]
    entries.sort(key=lambda e: (e.commit.commit_date or e.commit.author_date, e.commit.sha), reverse=True)
    return tuple(entries)


def approval_text(entry: LedgerEntry | None) -> str:
    """One line for a credited commit: ``approved: Bob Martin <bob@…> (github-review)`` or the verdict."""
    if entry is None:
        return ""
    owners = [a for a in entry.approvals if a.code_owner]
    if entry.verdict == "approved" and owners:
        return f"approved: {_who(owners[0])} ({owners[0].source})"
    if entry.verdict == "author-is-owner":
        return f"author is owner ({entry.commit.author_name})"
    return entry.verdict


def _who(a: Approval) -> str:
    return a.approver


_RANK = {"unapproved": 3, "unowned": 2, "author-is-owner": 1, "approved": 0}


def union_ledgers(ledgers: Sequence[Sequence[LedgerEntry]]) -> tuple[LedgerEntry, ...]:
    """One ledger from the ledgers of the shards of one run.

    Entries of one commit are joined (files, targets, owners, approvals) and the worst verdict wins,
    as it would over the union of the files.
    """
    by_sha: dict[str, LedgerEntry] = {}
    for ledger in ledgers:
        for e in ledger:
            old = by_sha.get(e.commit.sha)
            if old is None:
                by_sha[e.commit.sha] = e
                continue
            worse = e if _RANK.get(e.verdict, 0) > _RANK.get(old.verdict, 0) else old
            by_sha[e.commit.sha] = replace(
                worse,
                files=tuple(sorted(set(old.files) | set(e.files))),
                targets=tuple(sorted(set(old.targets) | set(e.targets))),
                owners=tuple(sorted((dict(old.owners) | dict(e.owners)).items())),
                codeowners_rules=tuple(sorted((dict(old.codeowners_rules) | dict(e.codeowners_rules)).items())),
                approvals=tuple(dict.fromkeys((*old.approvals, *e.approvals))),
                independent_approval=old.independent_approval or e.independent_approval,
            )
    return merge_ledgers([list(by_sha.values())])
