"""OPA server engine: policies and data are pushed to an OPA server over its REST API.

Only OPA's Data/Policy/Query APIs are used: ``PUT /v1/policies/{id}``, ``PUT /v1/data/{path}`` and
``POST /v1/query``. The per-target overlay (``data.gitops_audit``) is passed with ``with ... as ...`` in
each query instead of being written to the server, so concurrent audits never see each other's target.

Requests go through ``opa-python-client``'s HTTP session (connection reuse, retries, TLS settings), but not
through its helpers: ``update_or_create_data`` accepts only objects, while OPA's ``PUT /v1/data/{path}``
takes any JSON value.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from auditor.errors import PolicyError
from auditor.policy.engine import UNDEFINED, EvalError, Evaluator
from auditor.policy.loader import RegoModule

_ID_PREFIX = "gitops-audit"


def _client(url: str, timeout: float) -> Any:
    try:
        from opa_client import OpaClient
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise PolicyError("load policies: engine 'opa' needs the 'opa-python-client' package") from exc
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PolicyError(f"load policies: policy.opa_url must be http(s)://host:port, got {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 8181)
    return OpaClient(host=parts.hostname, port=port, ssl=parts.scheme == "https", timeout=timeout)


def _error_text(exc: Exception) -> str:
    """Message of an OPA error response (``{"code", "message", "errors": [{location}]}``) or exception."""
    errors = getattr(exc, "errors", None)
    if errors:
        first = errors[0]
        loc = first.get("location") or {}
        where = f"{loc.get('file', '')}:{loc.get('row', 0)}:{loc.get('col', 0)}: " if loc else ""
        return f"{where}{first.get('message', '')}".strip()
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            body = response.json()
        except ValueError:
            return f"HTTP {response.status_code}"
        if body.get("errors"):
            return _error_text(type("E", (Exception,), {"errors": body["errors"]})())
        return str(body.get("message") or f"HTTP {response.status_code}")
    message = getattr(exc, "message", None)
    return str(message or exc)


class _ApiError(Exception):
    """A non-success answer from the OPA server (its JSON error body, when it sent one)."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        body = body if isinstance(body, dict) else {}
        self.code = str(body.get("code") or "")
        self.message = str(body.get("message") or f"HTTP {status}")
        self.errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        super().__init__(self.message)


class _Rest:
    """The few OPA REST calls the engine makes, on the client's HTTP session."""

    def __init__(self, client: Any) -> None:
        self._session = client._session
        self._root = client.root_url  # http(s)://host:port/v1
        self._timeout = client.timeout

    def call(self, method: str, path: str, *, body: Any = None, text: str | None = None) -> Any:
        """Send one request; return the decoded JSON answer (``None`` when empty); raise :class:`_ApiError`."""
        headers = {}
        data: bytes | None = None
        if text is not None:
            headers["Content-Type"] = "text/plain"
            data = text.encode()
        elif body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        response = self._session.request(
            method, f"{self._root}/{path}", data=data, headers=headers, timeout=self._timeout
        )
        try:
            decoded = response.json() if response.content else None
        except ValueError:
            decoded = None
        if response.status_code >= 300:
            raise _ApiError(response.status_code, decoded)
        return decoded

    def put_data(self, key: str, value: Any) -> None:
        """``PUT /v1/data/<key>`` with ``value`` as is (any JSON value), replacing what was there."""
        self.call("PUT", f"data/{quote(key, safe='')}", body=value)


def _rego_literal(value: Any) -> str:
    # JSON is valid Rego term syntax for objects/arrays/strings/numbers/booleans/null.
    return json.dumps(value, sort_keys=True)


class OpaServerEvaluator(Evaluator):
    """Evaluate against a running OPA server (``policy.opa_url``)."""

    def __init__(self, client: Any, overlay: Mapping[str, Any] | None = None) -> None:
        self._client = client
        self._overlay = dict(overlay or {})

    @classmethod
    def compile(
        cls, url: str, modules: Sequence[RegoModule], data: Mapping[str, Any], *, timeout: float = 30.0
    ) -> OpaServerEvaluator:
        """Upload modules and data; compile errors come back from OPA with file:row:col."""
        client = _client(url, timeout)
        digest = hashlib.sha256(
            json.dumps([[m.path, m.source] for m in modules]).encode()
        ).hexdigest()[:12]
        for i, mod in enumerate(modules):
            policy_id = f"{_ID_PREFIX}/{digest}/{i}"
            try:
                client.update_policy_from_string(mod.source, policy_id)
            except Exception as exc:
                text = _error_text(exc).replace(f"/{policy_id}", "").replace(policy_id, mod.path)
                if not text.startswith(mod.path):
                    text = f"{mod.path}: {text}"
                raise PolicyError(f"{text} (compile policy on OPA server {url})") from None
        rest = _Rest(client)
        for key, value in data.items():
            # Each top-level key of the merged data files at its own path, whatever its type: a list in a
            # data file is `data.<key>` as a list, exactly as conftest/`opa eval -d` load it.
            try:
                rest.put_data(key, value)
            except Exception as exc:
                raise PolicyError(f"load data {key} into OPA server {url}: {_error_text(exc)}") from None
        return cls(client)

    def query(self, query: str, input_doc: Any) -> Any:
        """See :meth:`Evaluator.query`."""
        withs = "".join(
            f" with data.{path} as {_rego_literal(value)}" for path, value in _flatten(self._overlay)
        )
        try:
            # An empty input is left out by the client, so `input` is then undefined, as with `opa eval`.
            body = self._client.ad_hoc_query(f"__r := {query}{withs}", input_doc)
        except Exception as exc:
            raise EvalError(_error_text(exc)) from exc
        rows = body.get("result") or []
        if not rows or "__r" not in rows[0]:
            return UNDEFINED
        return rows[0]["__r"]

    def with_data(self, overlay: Mapping[str, Any]) -> OpaServerEvaluator:
        """See :meth:`Evaluator.with_data`."""
        merged = json.loads(json.dumps(self._overlay))
        from auditor.policy.loader import merge_data

        merge_data(merged, overlay, "overlay")
        return OpaServerEvaluator(self._client, merged)


def _flatten(overlay: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``{"gitops_audit": {"side": "live"}}`` → ``[("gitops_audit.side", "live")]`` (leaves only)."""
    out: list[tuple[str, Any]] = []
    for key, value in overlay.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value and key == "gitops_audit" and not prefix:
            out.extend(_flatten(value, path))
        else:
            out.append((path, value))
    return out
