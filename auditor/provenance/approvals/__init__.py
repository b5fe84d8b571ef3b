"""Approvals from the hosting platform: GitHub pull request reviews and GitLab merge request approvals.

:func:`make_lookup` turns ``change_control.approvals`` into a function ``sha → PlatformResult`` that
the change-control gathering calls once per commit of the window. Answers for merged pull requests
are cached on disk (:mod:`.cache`); tokens are read from an environment variable and never leave the
request header.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from auditor.errors import ConfigError
from auditor.provenance.approvals.cache import ApprovalCache
from auditor.provenance.approvals.http import ApiClient, ApiError, RateLimited
from auditor.provenance.changeinputs import PlatformLookup, PlatformResult
from auditor.provenance.options import ApprovalOptions

DEFAULT_API = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
PROVIDERS = ("github", "gitlab")


def make_lookup(options: ApprovalOptions, env: Mapping[str, str] | None = None) -> PlatformLookup | None:
    """The platform lookup for ``options`` (``None`` without a provider). Raises ConfigError for a missing token."""
    if not options.provider:
        return None
    if options.provider not in PROVIDERS:
        raise ConfigError(f"change_control.approvals.provider: unknown provider {options.provider!r} (github, gitlab)")
    if not options.repository:
        raise ConfigError("change_control.approvals.repository: required with a provider (owner/name or group/project)")
    environ = os.environ if env is None else env
    token = ""
    if options.token_env:
        token = environ.get(options.token_env, "").strip()
        if not token:
            raise ConfigError(
                f"change_control.approvals.token_env: environment variable {options.token_env} is not set or empty"
            )
    api = options.api_url or DEFAULT_API[options.provider]
    if options.provider == "github":
        header = ("Authorization", f"Bearer {token}") if token else None
    else:
        header = ("PRIVATE-TOKEN", token) if token else None
    client = ApiClient(api, header, timeout=options.timeout, max_wait=options.max_wait, max_pages=options.max_pages)
    cache = ApprovalCache.open(options.cache_dir, options.provider, client.base_url, options.repository)
    return Lookup(options.provider, options.repository, client, cache)


class Lookup:
    """Callable ``sha → PlatformResult`` for one repository on one platform (cached, rate-limit aware)."""

    def __init__(self, provider: str, repository: str, client: ApiClient, cache: ApprovalCache | None) -> None:
        """Ask ``client`` about commits of ``repository``; remember merged answers in ``cache``."""
        self.provider = provider
        self.repository = repository
        self.client = client
        self.cache = cache
        self._limited = ""

    def __call__(self, sha: str) -> PlatformResult:
        """What the platform says about commit ``sha``; failures are data (``PlatformResult.error``)."""
        if self.cache is not None:
            hit = self.cache.get(sha)
            if hit is not None:
                return hit
        if self._limited:
            return PlatformResult(error=self._limited)
        try:
            if self.provider == "github":
                from auditor.provenance.approvals.github import lookup
            else:
                from auditor.provenance.approvals.gitlab import lookup
            result, merged = lookup(self.client, self.repository, sha)
        except RateLimited as exc:
            self._limited = str(exc)
            return PlatformResult(error=self._limited)
        except ApiError as exc:
            return PlatformResult(error=str(exc))
        if merged and self.cache is not None:
            self.cache.put(sha, result)
        return result


__all__ = ["PROVIDERS", "ApiClient", "ApiError", "Lookup", "RateLimited", "make_lookup"]
