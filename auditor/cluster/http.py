"""One API connection per context: auth and TLS from the kubernetes package, explicit retries and timeouts.

The ``kubernetes`` package loads the kubeconfig (client certificates, bearer tokens, CA data, exec
credential plugins, token refresh) and builds the urllib3 pool. Requests go through that pool with
urllib3's own retries switched off: the client's default retries silently stretch a short timeout
several-fold, so attempts, backoff and the per-cluster deadline are handled here instead. Bodies are
read as raw JSON (about 4x faster than the typed models).

No token, password or key ever reaches a log line or an error message: messages are built from
status codes and the server's Status ``message``, then scrubbed of every credential we know.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from auditor.cluster.kubeconfig import (
    IN_CLUSTER,
    KubeconfigSource,
    load_contexts,
    resolve_source,
    user_is_renewable,
)
from auditor.cluster.options import ClusterOptions
from auditor.errors import ClusterError, ConfigError

log = logging.getLogger("auditor.cluster")

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_BACKOFF_BASE = 0.2
_BACKOFF_CAP = 5.0
_MAX_MESSAGE = 300


class HttpStatusError(Exception):
    """A non-retryable (or retries exhausted) HTTP status from the API server."""

    def __init__(self, status: int, reason: str, message: str, attempts: int = 1) -> None:
        text = f"{status} {reason}: {message}" if message else f"{status} {reason}"
        super().__init__(text + (f" (after {attempts} attempts)" if attempts > 1 else ""))
        self.status = status
        self.attempts = attempts
        self.reason = reason
        self.message = message


class Stopped(Exception):
    """Another list of the same cluster failed; this one gives up quietly."""


@dataclass
class _Deadline:
    """Monotonic per-cluster deadline shared by every request of one read."""

    seconds: float
    started: float

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)


@dataclass
class _Client:
    """Credentials and connection pool of one context, shared by every read of that context."""

    api: Any
    config: Any
    server: str
    identity: str
    secrets: tuple[str, ...]
    """Credential strings to scrub from messages."""
    renewable: bool
    """Credentials come from a plugin or file that may hand out a new token (worth one reload on 401)."""


_CLIENTS: dict[tuple[Any, ...], _Client] = {}
_CLIENTS_LOCK = threading.Lock()


def _cache_key(source: KubeconfigSource, context: str, options: ClusterOptions) -> tuple[Any, ...]:
    """Same files (unchanged), same context, same pool size → same client."""
    mtimes = []
    for path in source.paths:
        try:
            mtimes.append(os.stat(path).st_mtime_ns)
        except OSError:
            mtimes.append(0)
    return (source.joined, source.in_cluster, context, tuple(mtimes), options.parallel_lists)


class Connection:
    """One read of one cluster: a shared per-context API client plus this read's deadline and stop flag."""

    def __init__(self, context: str, options: ClusterOptions) -> None:
        """Get the context's client (loading credentials once); raises :class:`ClusterError` on failure."""
        self.context = context
        self.options = options
        self.label = context or "current-context"
        self.deadline = _Deadline(options.deadline, time.monotonic())
        self.stop = threading.Event()
        self.requests = 0
        self._count_lock = threading.Lock()
        self._reloaded = False
        try:
            self._source = resolve_source(options)
            self._known, self._current = load_contexts(self._source)
        except ConfigError as exc:
            raise ClusterError(f"read cluster {self.label}: {exc}") from None
        self._client = self._get_client(fresh=False)
        self.identity = self._client.identity
        self.server = self._client.server

    def _get_client(self, *, fresh: bool) -> _Client:
        key = _cache_key(self._source, self.context, self.options)
        with _CLIENTS_LOCK:
            client = None if fresh else _CLIENTS.get(key)
            if client is None:
                client = self._load()
                _CLIENTS[key] = client
            return client

    def _load(self) -> _Client:
        from kubernetes.client import ApiClient, Configuration
        from kubernetes.config.config_exception import ConfigException
        from kubernetes.config.incluster_config import load_incluster_config
        from kubernetes.config.kube_config import load_kube_config

        source, context, known = self._source, self.context, self._known
        in_cluster = (context == IN_CLUSTER or not source.paths) and source.in_cluster and context not in known
        config = Configuration()
        try:
            # Called under _CLIENTS_LOCK: the loader keeps a process-wide cache of temp files for
            # certificate data and fills it without a lock, and clusters are read in parallel.
            if in_cluster:
                load_incluster_config(client_configuration=config)
            else:
                # The context is always named: the loader's own current-context is the last
                # file's, kubectl's (resolved by load_contexts) is the first file's.
                # persist_config=False: an auditor never writes refreshed tokens to the user's files.
                load_kube_config(
                    config_file=source.joined,
                    context=context or self._current or None,
                    client_configuration=config,
                    persist_config=False,
                )
        except ConfigException as exc:
            raise ClusterError(f"read cluster {self.label}: load credentials: {_scrub_text(exc)}") from None
        except Exception as exc:  # exec plugin failures, unreadable files, bad base64…
            raise ClusterError(
                f"read cluster {self.label}: load credentials: {type(exc).__name__}: {_scrub_text(exc)}"
            ) from None
        config.retries = False
        # Several targets may read the same context at once: room for all their lists.
        config.connection_pool_maxsize = max(1, self.options.parallel_lists) * 4
        if in_cluster:
            identity, renewable = "in-cluster service account", True
        else:
            name = context or self._current
            user = str((known.get(name) or {}).get("user") or "")
            identity = f"{user} (context {name})" if user else ""
            renewable = user_is_renewable(source, user)
        return _Client(
            api=ApiClient(configuration=config),
            config=config,
            server=str(config.host).rstrip("/"),
            identity=identity,
            secrets=_known_secrets(config),
            renewable=renewable,
        )

    def scrub(self, text: str) -> str:
        """Remove every credential we know of from a message, and bound its length."""
        for secret in self._client.secrets:
            text = text.replace(secret, "***")
        return text[:_MAX_MESSAGE]

    def close(self) -> None:
        """End this read; the context's client and its pool stay cached for other reads."""
        self.stop.set()

    def _headers(self, accept: str) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": "gitops-audit (read-only)"}
        # auth_settings() runs the token refresh hook (exec plugins, expiring service-account tokens).
        config = self._client.config
        for auth in config.auth_settings().values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[str(auth["key"])] = str(auth["value"])
        if config.username and config.password:
            import urllib3

            headers.update(urllib3.util.make_headers(basic_auth=f"{config.username}:{config.password}"))
        return headers

    def get_json(
        self, path: str, query: Mapping[str, str | int] | None = None, accept: str = "application/json"
    ) -> dict[str, Any]:
        """GET ``path`` and parse the JSON body, retrying 429/5xx/connection errors with jittered backoff.

        Raises :class:`HttpStatusError` for other statuses (403, 404, 410…), :class:`ClusterError`
        for 401, an unreachable server, exhausted attempts or the deadline, :class:`Stopped` when
        another list of this cluster already failed.
        """
        import urllib3

        url = self.server + path + ("?" + urlencode(query) if query else "")
        attempts = max(1, self.options.max_attempts)
        last_problem = ""
        last_status: HttpStatusError | None = None
        attempt = 0
        while attempt < attempts:
            attempt += 1
            if self.stop.is_set():
                raise Stopped()
            remaining = self.deadline.remaining()
            if remaining <= 0:
                raise self.deadline_error(last_problem)
            timeout = min(self.options.request_timeout, remaining)
            retry_after: float | None = None
            began = time.monotonic()
            try:
                resp = self._client.api.rest_client.pool_manager.request(
                    "GET",
                    url,
                    headers=self._headers(accept),
                    timeout=urllib3.Timeout(connect=timeout, read=timeout),
                    retries=False,
                    preload_content=True,
                )
            except urllib3.exceptions.SSLError as exc:
                raise ClusterError(
                    f"read cluster {self.label}: TLS error talking to {self.server}: {self.scrub(_cause(exc))}"
                ) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                with self._count_lock:
                    self.requests += 1
                last_problem = _connection_problem(exc, timeout)
                last_status = None
                log.debug("GET %s: %s (attempt %d/%d)", path, last_problem, attempt, attempts)
            else:
                with self._count_lock:
                    self.requests += 1
                status = int(resp.status)
                log.debug("GET %s -> %d in %.3fs", path, status, time.monotonic() - began)
                if 200 <= status < 300:
                    try:
                        body = json.loads(resp.data)
                    except ValueError:
                        raise ClusterError(
                            f"read cluster {self.label}: GET {path}: response is not JSON"
                        ) from None
                    if not isinstance(body, dict):
                        raise ClusterError(f"read cluster {self.label}: GET {path}: unexpected response")
                    return body
                message = self.scrub(_status_message(resp.data))
                if status == 401:
                    if not self._reloaded and self._client.renewable:
                        # Like kubectl: a token from an exec plugin or a token file may have been
                        # rotated early; fetch fresh credentials once and try again.
                        self._reloaded = True
                        log.debug("GET %s: 401, reloading credentials of %s", path, self.label)
                        self._client = self._get_client(fresh=True)
                        attempt -= 1  # a credential refresh is not a failed attempt
                        continue
                    raise ClusterError(
                        f"read cluster {self.label}: unauthorized (401) at {self.server}: "
                        "credentials rejected or expired"
                    )
                if status not in _RETRY_STATUSES:
                    raise HttpStatusError(status, str(resp.reason or ""), message)
                last_problem = f"HTTP {status}" + (f": {message}" if message else "")
                last_status = HttpStatusError(status, str(resp.reason or ""), message, attempts=attempt)
                retry_after = _retry_after(resp.headers.get("Retry-After"))
                log.debug("GET %s: %s (attempt %d/%d)", path, last_problem, attempt, attempts)
            if attempt == attempts:
                break
            delay = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1)))  # noqa: S311
            if retry_after is not None:
                delay = max(delay, retry_after)
            if delay >= self.deadline.remaining():
                raise self.deadline_error(last_problem)
            if self.stop.wait(delay):
                raise Stopped()
        if self.deadline.remaining() <= 0.05:
            raise self.deadline_error(last_problem)  # the last attempt was cut short by the deadline
        if last_status is not None:
            # The server answers, but this path keeps failing (e.g. an aggregated API whose backend
            # is down): the caller decides whether that is a coverage gap or fatal.
            raise last_status
        raise ClusterError(
            f"read cluster {self.label}: {self.server} unreachable: {last_problem} (after {attempts} attempts)"
        )

    def deadline_error(self, last_problem: str) -> ClusterError:
        """The error for a read that ran out of time (the last transient problem, when there was one)."""
        tail = f" (last problem: {last_problem})" if last_problem else ""
        return ClusterError(
            f"read cluster {self.label}: deadline of {self.options.deadline:g}s exceeded at {self.server}{tail}"
        )


def _known_secrets(config: Any) -> tuple[str, ...]:
    """Token and password strings of a loaded configuration (longest first, for scrubbing)."""
    values: list[str] = []
    for v in (config.api_key or {}).values():
        if isinstance(v, str) and v:
            values.append(v)
            values.append(v.split(" ", 1)[-1].strip())  # without the "Bearer " prefix
    password = getattr(config, "password", None)
    if isinstance(password, str) and password:
        values.append(password)
    return tuple(sorted({v for v in values if len(v) >= 4}, key=len, reverse=True))


def _cause(exc: BaseException) -> str:
    """The innermost reason of a urllib3 error (MaxRetryError wraps the real one)."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return _cause(reason)
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _connection_problem(exc: BaseException, timeout: float) -> str:
    import urllib3

    inner: BaseException = exc
    while isinstance(getattr(inner, "reason", None), BaseException):
        inner = inner.reason  # type: ignore[attr-defined]
    # NewConnectionError subclasses ConnectTimeoutError, so refusals are told apart first.
    if isinstance(inner, ConnectionRefusedError) or "refused" in str(inner).lower():
        return "connection refused"
    if isinstance(inner, urllib3.exceptions.NameResolutionError):
        return "host name not resolved"
    if isinstance(inner, urllib3.exceptions.NewConnectionError):
        return "cannot connect"
    if isinstance(inner, urllib3.exceptions.ConnectTimeoutError):
        return f"connect timed out after {timeout:.3g}s"
    if isinstance(inner, (urllib3.exceptions.ReadTimeoutError, TimeoutError)):
        return f"no response within {timeout:.3g}s"
    if isinstance(inner, urllib3.exceptions.ProtocolError):
        return "connection dropped"
    return type(inner).__name__


def _status_message(data: bytes) -> str:
    """The ``message`` of a Kubernetes Status body, first line only (never the raw body)."""
    try:
        body = json.loads(data)
    except ValueError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        lines = body["message"].strip().splitlines()
        return lines[0] if lines else ""
    return ""


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _scrub_text(exc: BaseException) -> str:
    """First line of an exception, bounded; loader messages name files and fields, not values."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:_MAX_MESSAGE]
