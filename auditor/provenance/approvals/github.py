"""GitHub: the pull requests associated with a commit, and the approving reviews of the merged one.

REST API: ``GET /repos/{owner}/{repo}/commits/{sha}/pulls`` and
``GET /repos/{owner}/{repo}/pulls/{number}/reviews`` (paged with ``Link``). A reviewer approves when
their latest review that changes state (``APPROVED``, ``CHANGES_REQUESTED``, ``DISMISSED``; comments do
not) is ``APPROVED`` — what GitHub's branch protection counts.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from auditor.model import Approval
from auditor.provenance.approvals.http import ApiClient, ApiError
from auditor.provenance.changeinputs import PlatformResult

_STATEFUL = ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")


def lookup(client: ApiClient, repository: str, sha: str) -> tuple[PlatformResult, bool]:
    """(what GitHub says about ``sha``, whether its pull request is merged — only then is it cached)."""
    repo = "/".join(urllib.parse.quote(p, safe="") for p in repository.split("/"))
    pulls: list[Any] = []
    for page in client.pages(f"repos/{repo}/commits/{sha}/pulls"):
        if not isinstance(page, list):
            raise ApiError(f"GitHub: pull requests of {sha[:12]}: expected a list")
        pulls.extend(p for p in page if isinstance(p, dict))
    if not pulls:
        return PlatformResult(), False
    merged = [p for p in pulls if p.get("merged_at")]
    pr = (merged or pulls)[0]
    number = pr.get("number")
    if not isinstance(number, int):
        raise ApiError(f"GitHub: pull request of {sha[:12]} has no number")
    latest: dict[str, dict[str, Any]] = {}
    for page in client.pages(f"repos/{repo}/pulls/{number}/reviews"):
        if not isinstance(page, list):
            raise ApiError(f"GitHub: reviews of #{number}: expected a list")
        for review in page:
            user = (review.get("user") or {}).get("login") if isinstance(review, dict) else None
            if isinstance(user, str) and review.get("state") in _STATEFUL:
                latest[user.lower()] = review  # reviews come oldest first: the last one wins
    approvals = tuple(
        Approval(
            approver=f"@{login}",
            source="github-review",
            reference=str(r.get("html_url") or f"#{number} review {r.get('id', '')}"),
            time=str(r.get("submitted_at") or ""),
        )
        for login, r in sorted(latest.items())
        if r.get("state") == "APPROVED"
    )
    return PlatformResult(f"#{number}", str(pr.get("html_url") or ""), approvals), bool(pr.get("merged_at"))
