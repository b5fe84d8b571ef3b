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
    user_entry,
    user_is_renewable,
)
from auditor.cluster.options import ClusterOptions
from auditor.errors import ClusterError, ConfigError
from auditor.util import stop as run_stop
from auditor.util import yamlio
from auditor.util.redact import redact_text

log = logging.getLogger("auditor.cluster")
warn = logging.getLogger("gitops_audit")

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_BACKOFF_BASE = 0.2
_BACKOFF_CAP = 5.0
_MAX_MESSAGE = 300
MAX_BODY_BYTES = 512 * 1024 * 1024
"""Largest response body read (a page of ``page_size`` objects is far smaller)."""
_CHUNK = 256 * 1024


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
    """Another list of the same cluster failed (or the run is stopping); this one gives up quietly."""


class _BadCredentials(Exception):
    """A credential an HTTP header cannot carry (control characters, non-latin-1); never holds the value."""


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
    insecure: tuple[str, ...] = ()
    """Transport weaknesses of this context: ``plain-http``, ``tls-not-verified``."""


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
        self.insecure = self._client.insecure

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
        if not in_cluster and not self.options.allow_exec_plugins:
            name = context or self._current
            user = str((known.get(name) or {}).get("user") or "")
            program = _credential_program(user_entry(source, user))
            if program:
                raise ClusterError(
                    f"read cluster {self.label}: user {user!r} gets its credentials by running {program}; "
                    "refused (cluster.allow_exec_plugins is false)"
                )
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
        insecure: list[str] = []
        host = str(config.host)
        if host.lower().startswith("http://"):
            insecure.append("plain-http")
        elif not config.verify_ssl:
            insecure.append("tls-not-verified")
        if insecure:
            import urllib3

            # Said once per context, in our words (and as a finding on each target), not once per request.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            what = ("plain HTTP: credentials and objects travel unencrypted" if "plain-http" in insecure
                    else "TLS certificate not verified (insecure-skip-tls-verify)")
            warn.warning("cluster %s at %s: %s", self.label, redact_text(host), what)
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
            insecure=tuple(insecure),
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
        """Request headers with the context's credentials; :class:`_BadCredentials` when one cannot be sent.

        A token ending in a newline (``echo $T > token``) is trimmed as kubectl trims token files.
        """
        headers = {"Accept": accept, "User-Agent": "gitops-audit (read-only)"}
        # auth_settings() runs the token refresh hook (exec plugins, expiring service-account tokens).
        config = self._client.config
        for auth in config.auth_settings().values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[str(auth["key"])] = _header_value(str(auth["value"]))
        if config.username and config.password:
            import urllib3

            basic = urllib3.util.make_headers(basic_auth=f"{config.username}:{config.password}")
            headers.update({k: _header_value(v) for k, v in basic.items()})
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
            if self.stop.is_set() or run_stop.requested():
                raise Stopped()
            remaining = self.deadline.remaining()
            if remaining <= 0:
                raise self.deadline_error(last_problem)
            timeout = min(self.options.request_timeout, remaining)
            retry_after: float | None = None
            began = time.monotonic()
            try:
                status, reason, data, retry_header = self._bounded_request(url, accept, timeout)
            except _BadCredentials:
                raise ClusterError(
                    f"read cluster {self.label}: the credentials of {self.identity or 'this context'} contain "
                    "characters an HTTP header cannot carry (a token must be printable ASCII)"
                ) from None
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
            except (Stopped, ClusterError):
                raise
            except Exception as exc:  # the HTTP stack's own errors may quote request headers
                raise ClusterError(
                    f"read cluster {self.label}: GET {path} failed: {type(exc).__name__} (details withheld: "
                    "they may quote credentials)"
                ) from None
            else:
                with self._count_lock:
                    self.requests += 1
                log.debug("GET %s -> %d in %.3fs", path, status, time.monotonic() - began)
                if 200 <= status < 300:
                    try:
                        body = yamlio.parse_json(data, f"GET {path}")
                    except yamlio.YamlError as exc:
                        raise ClusterError(
                            f"read cluster {self.label}: GET {path}: response is not usable JSON: {exc.problem}"
                        ) from None
                    if not isinstance(body, dict):
                        raise ClusterError(f"read cluster {self.label}: GET {path}: unexpected response")
                    return body
                message = self.scrub(_status_message(data))
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
                    raise HttpStatusError(status, reason, message)
                last_problem = f"HTTP {status}" + (f": {message}" if message else "")
                last_status = HttpStatusError(status, reason, message, attempts=attempt)
                retry_after = _retry_after(retry_header)
                log.debug("GET %s: %s (attempt %d/%d)", path, last_problem, attempt, attempts)
            if attempt == attempts:
                break
            delay = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1)))  # noqa: S311
            if retry_after is not None:
                delay = max(delay, retry_after)
            if delay >= self.deadline.remaining():
                raise self.deadline_error(last_problem)
            if self.stop.wait(delay) or run_stop.requested():
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

    def _bounded_request(self, url: str, accept: str, timeout: float) -> tuple[int, str, bytes, str | None]:
        """One GET, finished within the read's deadline whatever the server does.

        The request runs in a daemon thread and the caller waits no longer than the deadline (or a
        stop request): a server that trickles its headers or body cannot hold the run, nor keep the
        process from exiting. The body is read in chunks, each recv bounded by the time left, so the
        thread itself also ends soon after the deadline.
        """
        headers = self._headers(accept)  # raises _BadCredentials here, in the caller's thread
        box: dict[str, Any] = {}
        done = threading.Event()

        def call() -> None:
            try:
                box["value"] = self._request(url, headers, timeout)
            except BaseException as exc:  # handed to the waiting thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=call, name=f"get-{self.label}", daemon=True).start()
        while not done.wait(min(0.2, max(0.0, self.deadline.remaining()))):
            if self.stop.is_set() or run_stop.requested():
                raise Stopped()
            if self.deadline.remaining() <= 0:
                raise self.deadline_error("no complete response")
        if "error" in box:
            raise box["error"]
        value: tuple[int, str, bytes, str | None] = box["value"]
        return value

    def _request(self, url: str, headers: dict[str, str], timeout: float) -> tuple[int, str, bytes, str | None]:
        import urllib3

        resp = self._client.api.rest_client.pool_manager.request(
            "GET",
            url,
            headers=headers,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
            preload_content=False,
        )
        try:
            data = self._read_body(resp)
        except BaseException:
            resp.close()
            raise
        resp.release_conn()
        return int(resp.status), str(resp.reason or ""), data, resp.headers.get("Retry-After")

    def _read_body(self, resp: Any) -> bytes:
        chunks: list[bytes] = []
        total = 0
        read = getattr(resp, "read1", None) or resp.read
        while True:
            remaining = self.deadline.remaining()
            if remaining <= 0 or self.stop.is_set() or run_stop.requested():
                raise TimeoutError("deadline")
            sock = getattr(getattr(resp, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(max(0.05, min(self.options.request_timeout, remaining)))
            chunk = read(_CHUNK)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > MAX_BODY_BYTES:
                raise OSError(f"response larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB")
            chunks.append(chunk)

    def deadline_error(self, last_problem: str) -> ClusterError:
        """The error for a read that ran out of time (the last transient problem, when there was one)."""
        tail = f" (last problem: {last_problem})" if last_problem else ""
        return ClusterError(
            f"read cluster {self.label}: deadline of {self.options.deadline:g}s exceeded at {self.server}{tail}"
        )


def _header_value(value: str) -> str:
    """A credential header value trimmed like kubectl trims token files; raises when it cannot be sent."""
    value = value.strip()
    if any(ord(c) < 0x20 or ord(c) == 0x7F or ord(c) > 0xFF for c in value):
        raise _BadCredentials()
    return value


def _credential_program(user: dict[str, Any] | None) -> str:
    """The program a kubeconfig user runs to get credentials (exec plugin, legacy auth-provider cmd-path)."""
    if not user:
        return ""
    exec_spec = user.get("exec")
    if isinstance(exec_spec, dict) and exec_spec.get("command"):
        return f"exec plugin {str(exec_spec['command'])!r}"
    provider = user.get("auth-provider")
    if isinstance(provider, dict):
        cmd = (provider.get("config") or {}).get("cmd-path") if isinstance(provider.get("config"), dict) else None
        if cmd:
            return f"auth-provider command {str(cmd)!r}"
    return ""


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
