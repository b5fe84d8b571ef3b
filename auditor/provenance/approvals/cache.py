"""On-disk cache of hosting-platform answers for merged pull requests (never tokens).

One JSON file per (provider, API URL, repository, commit) under the cache directory, named by a
hash of that key. Only answers about merged pull requests are stored: an open one may still gain
approvals. The files hold the pull request number and URL and the approvals, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from auditor.provenance.changeinputs import PlatformResult, approval_dict, load_approval
from auditor.util.fs import atomic_write

log = logging.getLogger(__name__)
VERSION = 1


def default_dir() -> Path:
    """``$XDG_CACHE_HOME/gitops-audit/approvals`` (``~/.cache/…`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitops-audit" / "approvals"


@dataclass(frozen=True)
class ApprovalCache:
    """Cache for one (provider, API URL, repository)."""

    root: Path
    scope: str

    @classmethod
    def open(cls, cache_dir: str, provider: str, api_url: str, repository: str) -> ApprovalCache | None:
        """The cache for a repository; ``None`` when ``cache_dir`` is ``off``."""
        if cache_dir == "off":
            return None
        root = Path(cache_dir).expanduser() if cache_dir else default_dir()
        return cls(root, f"{provider}\n{api_url}\n{repository}")

    def _path(self, sha: str) -> Path:
        digest = hashlib.sha256(f"{self.scope}\n{sha}".encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.json"

    def get(self, sha: str) -> PlatformResult | None:
        """The cached answer for ``sha``, or ``None`` (absent or unreadable)."""
        try:
            data = json.loads(self._path(sha).read_text("utf-8"))
            if data.get("version") != VERSION:
                return None
            return PlatformResult(
                str(data["pull_request"]), str(data.get("url", "")),
                tuple(load_approval(a) for a in data.get("approvals", ())),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put(self, sha: str, result: PlatformResult) -> None:
        """Store an answer (errors are logged: a cache that cannot be written only costs requests)."""
        data = {"version": VERSION, "pull_request": result.pull_request, "url": result.url,
                "approvals": [approval_dict(a) for a in result.approvals]}
        try:
            path = atomic_write(self._path(sha), json.dumps(data, sort_keys=True))
            os.chmod(path, 0o600)
        except OSError as exc:
            log.warning("write approvals cache %s: %s", self.root, exc.strerror or exc)
