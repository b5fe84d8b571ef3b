"""Options for the change-control checks (CODEOWNERS coverage, commit approval, signatures).

Built by ``config.py`` from the ``protected_envs`` and ``change_control`` keys; imports only the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from auditor.model import Severity


@dataclass(frozen=True)
class ChangeControlOptions:
    """How change control is judged for targets in protected environments."""

    protected_envs: tuple[str, ...] = ()
    """Target environments (``Target.env``) whose contributing files and commits are checked."""
    since: str = ""
    """Audit window start: a commit sha, an ISO date or an age such as ``30d``. Empty → the commit of
    the previous run in the report history, else :attr:`default_window`."""
    default_window: str = "30d"
    """Window used when neither ``since`` nor a previous run's commit is available."""
    identities: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    """Owner → identities: ``@alice: [alice@example.com]``; teams list members, which may be owners or
    emails: ``@org/sre: ["@alice", bob@example.com]``. Email owners stand for themselves, and a GitHub
    noreply address ``123+alice@users.noreply.github.com`` always identifies ``@alice``."""
    approval_trailers: tuple[str, ...] = ("Approved-by", "Reviewed-by")
    """Commit-message trailers (case-insensitive keys) whose value names an approver."""
    accept_merge_commits: bool = True
    """A commit brought in by a merge commit counts as approved when the merge was authored by, or
    carries an approval trailer of, an owner of the touched files (pull-request merges)."""
    include_codeowners_file: bool = True
    """Treat the CODEOWNERS file as a file of every protected target: it must be owned, and edits to it
    approved by its owners (whoever edits it can otherwise grant themselves ownership)."""
    require_signed: bool = False
    """Also report commits to protected files that carry no signature (gpg, ssh or x509)."""
    unowned_severity: Severity = Severity.MEDIUM
    """Severity of ``change-control.unowned-file``."""
    unapproved_severity: Severity = Severity.HIGH
    """Severity of ``change-control.unapproved-commit``."""
    unsigned_severity: Severity = Severity.MEDIUM
    """Severity of ``change-control.unsigned-commit``."""
    approvals: ApprovalOptions = field(default_factory=lambda: ApprovalOptions())
    """Hosting-platform approvals (GitHub pull request reviews, GitLab merge request approvals)."""


@dataclass(frozen=True)
class ApprovalOptions:
    """Where pull-request approvals come from (config ``change_control.approvals``).

    Without a provider, approvals come from commit trailers and merge commits only.
    """

    provider: str = ""
    """``github``, ``gitlab`` or empty (none)."""
    api_url: str = ""
    """API base URL: ``https://api.github.com``, ``https://ghe.example.com/api/v3``, ``https://gitlab.com/api/v4``."""
    repository: str = ""
    """``owner/name`` on GitHub; the project path (``group/project``) or numeric id on GitLab."""
    token_env: str = ""
    """Environment variable holding the API token (read at run time, never logged or cached)."""
    cache_dir: str = ""
    """On-disk cache of answers for merged pull requests (no tokens); empty = the user cache, ``off`` = none."""
    timeout: float = 10.0
    """Seconds per HTTP request."""
    max_wait: float = 60.0
    """Longest wait for a rate-limit reset before the lookup is reported as failed."""
    max_pages: int = 50
    """Pages followed per listing (reviews, pull requests) before giving up on it."""
