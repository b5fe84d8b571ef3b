"""``ledger.csv``: the change ledger as a population export an auditor can sample from.

One row per commit of the audit window that touched files feeding a protected target. Columns
(stable; new columns are only appended; lists are ``; ``-separated; dates are UTC ``…Z``):

=======================  ===============================================================
sha                      full commit sha
author, author_email     commit author
author_date              author date (UTC)
committer, committer_email, commit_date
signed                   ``true`` when the commit carries a signature (gpg, ssh or x509)
subject                  first line of the message
files                    touched files feeding protected targets
targets                  protected targets those files feed
codeowners_rules         ``file=CODEOWNERS:line pattern`` of the rule in force at the commit's base
owners                   ``file=owner owner`` from those rules
pull_request             ``#42`` (GitHub), ``!7`` (GitLab), or from the merge commit's subject
approvers                every approval: ``approver [source] (code owner)``
approval_source          which source proved the verdict: github-review, gitlab-approval, trailer,
                         merge-commit, author-is-owner, or none
independent_approval     ``true`` when an approver is a code owner other than the author
verdict                  approved | author-is-owner | unapproved | unowned
lookup_error             why the hosting platform could not be asked, when it could not
=======================  ===============================================================
"""

from __future__ import annotations

import csv
import io

from auditor.model import AuditReport, LedgerEntry
from auditor.report.csv_report import neutralise

COLUMNS: tuple[str, ...] = (
    "sha", "author", "author_email", "author_date", "committer", "committer_email", "commit_date", "signed",
    "subject", "files", "targets", "codeowners_rules", "owners", "pull_request", "approvers", "approval_source",
    "independent_approval", "verdict", "lookup_error",
)


def row(e: LedgerEntry) -> list[str]:
    """The cells of one ledger entry (before formula neutralisation)."""
    c = e.commit
    return [
        c.sha, c.author_name, c.author_email, c.author_date, c.committer_name, c.committer_email, c.commit_date,
        "true" if c.signed else "false", c.subject, "; ".join(e.files), "; ".join(e.targets),
        "; ".join(f"{f}={rule}" for f, rule in e.codeowners_rules),
        "; ".join(f"{f}={' '.join(owners)}" for f, owners in e.owners),
        e.pull_request,
        "; ".join(f"{a.approver} [{a.source}]" + (f" (code owner {a.code_owner})" if a.code_owner else "")
                  for a in e.approvals),
        e.approval_source, "true" if e.independent_approval else "false", e.verdict, e.lookup_error,
    ]


def render(report: AuditReport) -> str:
    """The ledger CSV text (UTF-8 BOM, CRLF, RFC 4180 quoting, spreadsheet formulas neutralised)."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for e in report.ledger:
        writer.writerow([neutralise(x) for x in row(e)])
    return buf.getvalue()
