"""GitLab: the merge requests of a commit, and who approved the merged one.

REST API: ``GET /projects/:id/repository/commits/:sha/merge_requests`` (paged with ``x-next-page``) and
``GET /projects/:id/merge_requests/:iid/approvals`` (``approved_by``). ``:id`` is the URL-encoded
project path or the numeric id.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from auditor.model import Approval
from auditor.provenance.approvals.http import ApiClient, ApiError
from auditor.provenance.changeinputs import PlatformResult


def lookup(client: ApiClient, repository: str, sha: str) -> tuple[PlatformResult, bool]:
    """(what GitLab says about ``sha``, whether its merge request is merged — only then is it cached)."""
    project = urllib.parse.quote(repository, safe="")
    mrs: list[Any] = []
    for page in client.pages(f"projects/{project}/repository/commits/{sha}/merge_requests"):
        if not isinstance(page, list):
            raise ApiError(f"GitLab: merge requests of {sha[:12]}: expected a list")
        mrs.extend(m for m in page if isinstance(m, dict))
    if not mrs:
        return PlatformResult(), False
    merged = [m for m in mrs if m.get("state") == "merged"]
    mr = (merged or mrs)[0]
    iid = mr.get("iid")
    if not isinstance(iid, int):
        raise ApiError(f"GitLab: merge request of {sha[:12]} has no iid")
    body, _ = client.get(client.url(f"projects/{project}/merge_requests/{iid}/approvals"))
    if not isinstance(body, dict):
        raise ApiError(f"GitLab: approvals of !{iid}: expected an object")
    web_url = str(mr.get("web_url") or "")
    approvals = []
    for entry in body.get("approved_by") or ():
        user = entry.get("user") if isinstance(entry, dict) else None
        name = user.get("username") if isinstance(user, dict) else None
        if isinstance(name, str) and name:
            approvals.append(Approval(f"@{name}", "gitlab-approval", web_url or f"!{iid}",
                                      str(entry.get("approved_at") or "")))
    approvals.sort(key=lambda a: a.approver)
    return PlatformResult(f"!{iid}", web_url, tuple(approvals)), mr.get("state") == "merged"
