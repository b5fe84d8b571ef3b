"""What the HTML report's evidence sections show: finding credit, the change ledger, signing status.

Kept apart from ``html_report`` so its templates (``_credit.html.j2``, ``_ledger.html.j2``) are
self-contained partials; ``html_report.render`` passes :func:`evidence_view` to the page.
"""

from __future__ import annotations

from typing import Any

from auditor.model import AuditReport
from auditor.report._common import utc_z

MAX_CREDIT_ROWS = 2000
MAX_LEDGER_ROWS = 5000


def evidence_view(report: AuditReport) -> dict[str, Any]:
    """Rows for the credit table (findings credited to a git line and/or a live change) and the ledger."""
    credits: list[dict[str, Any]] = []
    total = 0
    for f in report.findings:
        git, live = f.credit.git, f.credit.live
        if f.category.value != "drift" or (git is None and live is None):
            continue
        total += 1
        if len(credits) >= MAX_CREDIT_ROWS:
            continue
        c = git.commit if git else None
        credits.append({
            "target": f.target,
            "subject": f.ref.subject if f.ref else "",
            "field": f.path,
            "git": f"{git.path}:{git.line}" if git and git.line else (git.path if git else ""),
            "commit": c.sha[:12] if c else "",
            "author": f"{c.author_name} <{c.author_email}>" if c else "",
            "date": utc_z(c.author_date) if c else "",
            "owners": ", ".join(git.owners) if git else "",
            "approval": f.credit.approval,
            "manager": live.manager if live else "",
            "operation": live.operation if live else "",
            "time": utc_z(live.time) if live else "",
        })
    ledger = [
        {
            "sha": e.commit.sha[:12],
            "author": f"{e.commit.author_name} <{e.commit.author_email}>",
            "date": e.commit.commit_date or e.commit.author_date,
            "signed": e.commit.signed,
            "subject": e.commit.subject,
            "files": e.files,
            "targets": e.targets,
            "pull_request": e.pull_request,
            "approvals": [
                f"{a.approver} [{a.source}]" + (f" (owner {a.code_owner})" if a.code_owner else "")
                for a in e.approvals
            ],
            "independent": e.independent_approval,
            "verdict": e.verdict,
            "source": e.approval_source,
            "error": e.lookup_error,
        }
        for e in report.ledger[:MAX_LEDGER_ROWS]
    ]
    return {
        "credits": credits,
        "credits_total": total,
        "ledger": ledger,
        "ledger_total": len(report.ledger),
        "signing_key_id": report.signing_key_id,
    }
