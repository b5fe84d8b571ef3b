"""A small JSON-over-HTTPS client for the GitHub and GitLab REST APIs: paging, rate limits, no token leaks.

- Paging: GitHub's ``Link: <…>; rel="next"`` header and GitLab's ``x-next-page`` header; a next URL
  is only followed on the API's own origin (the token is never sent anywhere else), and at most
  ``max_pages`` pages are read.
- Rate limits: 403 or 429 with ``x-ratelimit-remaining: 0`` / ``ratelimit-remaining: 0`` and a reset
  time (``x-ratelimit-reset`` / ``ratelimit-reset``, epoch seconds) or ``retry-after`` (seconds).
  When the reset is within ``max_wait`` the client waits and retries once per limit; otherwise it
  raises :class:`RateLimited` naming the reset time, which the ledger reports.
- The token goes into one header and nowhere else: error messages name the URL path, never the
  headers, and response bodies are not echoed.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auditor.errors import SourceError

MAX_BODY = 16 * 1024 * 1024
"""Largest response body read (a page of reviews is a few kilobytes)."""
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class ApiError(SourceError):
    """An API request failed (network, HTTP status, malformed JSON)."""


class RateLimited(ApiError):
    """The API's rate limit is exhausted and resets later than the client may wait."""


@dataclass
class ApiClient:
    """GET JSON from one API base URL with a token header; follows pages and waits out short rate limits."""

    base_url: str
    auth_header: tuple[str, str] | None = None
    """(header name, value), e.g. ("Authorization", "Bearer …") or ("PRIVATE-TOKEN", "…")."""
    timeout: float = 10.0
    max_wait: float = 60.0
    max_pages: int = 50
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    requests: int = field(default=0, init=False)
    """Requests sent (for tests and the run log)."""

    def __post_init__(self) -> None:
        """Normalise the base URL and remember its origin (scheme, host, port) for paging."""
        self.base_url = self.base_url.rstrip("/")
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ApiError(f"approvals: api_url must be an http(s) URL, got {self.base_url!r}")
        self._origin = (parts.scheme, parts.netloc)

    def url(self, path: str, params: Mapping[str, str | int] | None = None) -> str:
        """Absolute URL of an API path with query parameters."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return f"{self.base_url}/{path.lstrip('/')}{query}"

    def get(self, url: str) -> tuple[Any, Mapping[str, str]]:
        """One GET: (decoded JSON, lower-cased headers). Waits once for a short rate-limit reset."""
        for _attempt in range(3):
            try:
                return self._get_once(url)
            except _Limited as lim:
                if lim.wait > self.max_wait:
                    raise RateLimited(
                        f"GET {_path(url)}: rate limited until {_when(self.clock() + lim.wait)} "
                        f"(longer than approvals.max_wait {self.max_wait:g}s)"
                    ) from None
                self.sleep(max(lim.wait, 0.0))
        raise RateLimited(f"GET {_path(url)}: still rate limited after waiting for the reset")

    def pages(self, path: str, params: Mapping[str, str | int] | None = None) -> Iterator[Any]:
        """Every page of a listing (each page's decoded JSON), following Link / x-next-page."""
        url: str | None = self.url(path, {**(params or {}), "per_page": 100})
        seen = 0
        while url is not None:
            seen += 1
            if seen > self.max_pages:
                raise ApiError(f"GET {_path(url)}: more than {self.max_pages} pages")
            body, headers = self.get(url)
            yield body
            url = self._next(url, headers)

    def _next(self, url: str, headers: Mapping[str, str]) -> str | None:
        link = headers.get("link", "")
        m = _LINK_NEXT.search(link)
        if m:
            nxt = urllib.parse.urljoin(url, m.group(1))
            parts = urllib.parse.urlsplit(nxt)
            if (parts.scheme, parts.netloc) != self._origin:
                raise ApiError(f"GET {_path(url)}: next page on another origin refused ({parts.netloc})")
            return nxt
        page = headers.get("x-next-page", "").strip()
        if page.isdigit():
            parts = urllib.parse.urlsplit(url)
            query = dict(urllib.parse.parse_qsl(parts.query))
            query["page"] = page
            return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
        return None

    def _get_once(self, url: str) -> tuple[Any, Mapping[str, str]]:
        headers = {"Accept": "application/json", "User-Agent": "gitops-audit"}
        if self.auth_header is not None:
            headers[self.auth_header[0]] = self.auth_header[1]
        req = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310 - scheme checked above
        self.requests += 1
        try:
            with _OPENER.open(req, timeout=self.timeout) as resp:
                hdrs = {k.lower(): v for k, v in resp.headers.items()}
                raw = resp.read(MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            hdrs = {k.lower(): v for k, v in (exc.headers or {}).items()}
            wait = _rate_limit_wait(exc.code, hdrs, self.clock())
            if wait is not None:
                raise _Limited(wait) from None
            raise ApiError(f"GET {_path(url)}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(f"GET {_path(url)}: {reason}") from None
        if len(raw) > MAX_BODY:
            raise ApiError(f"GET {_path(url)}: response larger than {MAX_BODY} bytes")
        try:
            return json.loads(raw), hdrs
        except ValueError:
            raise ApiError(f"GET {_path(url)}: response is not JSON") from None


class _Limited(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: a redirect to another host would carry the token there."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _rate_limit_wait(status: int, headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until a rate limit resets, or ``None`` when the response is no rate-limit answer."""
    if status not in (403, 429):
        return None
    remaining = headers.get("x-ratelimit-remaining", headers.get("ratelimit-remaining", ""))
    retry_after = headers.get("retry-after", "").strip()
    if retry_after.isdigit():
        return float(retry_after)
    reset = headers.get("x-ratelimit-reset", headers.get("ratelimit-reset", "")).strip()
    if remaining.strip() == "0" and reset.isdigit():
        return max(0.0, float(reset) - now) + 1.0  # reset is a whole second; be just past it
    if status == 429:
        return 60.0
    return None


def _path(url: str) -> str:
    """The URL without query string, for messages (queries may hold nothing secret, but keep lines short)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
