"""OPA server engine: policies and data are pushed to an OPA server over its REST API.

Only OPA's Policy/Data/Query APIs are used: ``GET``/``PUT``/``DELETE /v1/policies/{id}``,
``PUT /v1/data/{path}`` and ``POST /v1/query``. The server's ``gitops-audit/*`` modules are made exactly the
audit's policy set (stable ids, stale ones deleted), so one OPA server serves one policy set at a time. The
per-target overlay (``data.gitops_audit``) is passed with ``with ... as ...`` in each query instead of being
written to the server, so concurrent audits never see each other's target.

Requests go through ``opa-python-client``'s HTTP session (connection reuse, retries, TLS settings), but not
through its helpers: ``update_or_create_data`` accepts only objects, while OPA's ``PUT /v1/data/{path}``
takes any JSON value; and ``update_policy_from_string`` (3.x) rewrites refused v0 rule heads with a regex
and retries, which shifts error locations and changes what the server holds. Modules are sent as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from auditor.errors import PolicyError
from auditor.policy.engine import UNDEFINED, EvalError, Evaluator, Plan, PlanResult, plan_query, plan_value
from auditor.policy.loader import RegoModule

POLICY_ID_PREFIX = "gitops-audit/"
"""Every policy module this engine uploads has an id under this prefix; others on the server are left alone."""


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

    def policies(self) -> dict[str, str]:
        """``GET /v1/policies``: id → source of every module on the server."""
        body = self.call("GET", "policies") or {}
        return {
            str(p["id"]): str(p.get("raw") or "")
            for p in body.get("result") or []
            if isinstance(p, dict) and p.get("id")
        }

    def put_policy(self, policy_id: str, source: str) -> None:
        """``PUT /v1/policies/<id>``: OPA parses and compiles it with every other module, or answers 400."""
        self.call("PUT", f"policies/{quote(policy_id, safe='/')}", text=source)

    def delete_policy(self, policy_id: str) -> None:
        """``DELETE /v1/policies/<id>``; a module that is already gone is fine."""
        try:
            self.call("DELETE", f"policies/{quote(policy_id, safe='/')}")
        except _ApiError as exc:
            if exc.status != 404:
                raise

    def put_data(self, key: str, value: Any) -> None:
        """``PUT /v1/data/<key>`` with ``value`` as is (any JSON value), replacing what was there."""
        self.call("PUT", f"data/{quote(key, safe='')}", body=value)


_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def policy_ids(modules: Sequence[RegoModule]) -> dict[str, RegoModule]:
    """Stable policy id per module: ``gitops-audit/<package as path>/<file name>``.

    Ids depend on the package and file name only, not on where the files are checked out, so runs from
    different directories or machines address the same modules. Files with the same package and name get
    ``~2``, ``~3``… in path order.
    """
    out: dict[str, RegoModule] = {}
    for mod in sorted(modules, key=lambda m: m.path):
        # Only URL-safe characters, so the id OPA lists is the id sent (no escaping to undo).
        name = _ID_UNSAFE.sub("_", mod.path.replace("\\", "/").rsplit("/", 1)[-1]) or "module"
        package = "/".join(_ID_UNSAFE.sub("_", seg) for seg in mod.package.split(".") if seg) or "_"
        base = f"{POLICY_ID_PREFIX}{package}/{name}"
        policy_id, n = base, 1
        while policy_id in out:
            n += 1
            policy_id = f"{base}~{n}"
        out[policy_id] = mod
    return out


# OPA >= 1.0 parses Rego v1 unless started with --v0-compatible; these are its answers to v0 rule heads.
_V0_MARKERS = ("`if` keyword is required", "`contains` keyword is required")
_V1_KEYWORD_HEAD = re.compile(r"^[^#\s][^#\n]*\b(?:if|contains)\b", re.M)


def _v0_hint(exc: _ApiError, mod: RegoModule) -> tuple[dict[str, Any] | None, str]:
    """The error to report and a hint when the failure is a Rego version mismatch with the server."""
    for err in exc.errors:
        if any(marker in str(err.get("message", "")) for marker in _V0_MARKERS):
            return err, (
                "Rego v0 module, and this OPA server parses Rego v1 (OPA >= 1.0): start OPA with "
                "--v0-compatible, or rewrite the module in Rego v1"
            )
    if _is_parse_error(exc) and "import rego.v1" not in mod.source and _V1_KEYWORD_HEAD.search(mod.source):
        return None, "if this OPA server runs with --v0-compatible, Rego v1 modules need `import rego.v1`"
    return None, ""


def _is_parse_error(exc: _ApiError) -> bool:
    return any(e.get("code") == "rego_parse_error" for e in exc.errors)


def _sync_policies(rest: _Rest, modules: Sequence[RegoModule], url: str) -> None:
    """Make the server's ``gitops-audit/*`` modules exactly ``modules``.

    Unchanged modules are not sent again (every PUT makes OPA recompile all modules). Stale ids (files
    removed or renamed since an earlier run) are deleted, so old copies of a package never mix with new ones.
    OPA compiles the whole module set on every change, so one step can fail only because of the order: a
    module calling a function of a library not uploaded yet, or a stale module still used by an old copy of
    another. Failed steps are retried while a round makes progress; a parse error fails at once.
    """
    wanted = policy_ids(modules)
    try:
        present = {pid: raw for pid, raw in rest.policies().items() if pid.startswith(POLICY_ID_PREFIX)}
    except Exception as exc:
        raise PolicyError(f"list policies on OPA server {url}: {_error_text(exc)}") from None
    deletes = [pid for pid in present if pid not in wanted]
    puts = [pid for pid, mod in wanted.items() if present.get(pid) != mod.source]
    while deletes or puts:
        failed: list[tuple[str, _ApiError]] = []
        progressed = False
        for pid in list(deletes):
            try:
                rest.delete_policy(pid)
            except _ApiError as exc:
                failed.append((pid, exc))
                continue
            except Exception as exc:
                raise PolicyError(f"remove stale policy {pid} from OPA server {url}: {_error_text(exc)}") from None
            deletes.remove(pid)
            progressed = True
        for pid in list(puts):
            try:
                rest.put_policy(pid, wanted[pid].source)
            except _ApiError as exc:
                if _is_parse_error(exc) or exc.status >= 500:
                    raise _compile_error(exc, pid, wanted, url) from None
                failed.append((pid, exc))
                continue
            except Exception as exc:
                raise PolicyError(f"{wanted[pid].path}: upload to OPA server {url}: {_error_text(exc)}") from None
            puts.remove(pid)
            progressed = True
        if not progressed:
            # The user's modules' own errors first: a stale module that cannot go is usually a symptom.
            pid, err = next(((p, e) for p, e in failed if p in wanted), failed[0])
            if pid in wanted:
                raise _compile_error(err, pid, wanted, url) from None
            raise PolicyError(
                f"remove stale policy {pid} from OPA server {url}: {_locate(_error_text(err), wanted)}"
            )


def _locate(text: str, wanted: Mapping[str, RegoModule]) -> str:
    """Replace policy ids in OPA's messages by the files they came from."""
    for pid in sorted(wanted, key=len, reverse=True):
        text = text.replace(pid, wanted[pid].path)
    return text


def _compile_error(exc: _ApiError, pid: str, wanted: Mapping[str, RegoModule], url: str) -> PolicyError:
    """One line: ``file:row:col: message (compile policy on OPA server URL)``."""
    mod = wanted[pid]
    first, hint = _v0_hint(exc, mod)
    text = _locate(_error_text(_ApiError(exc.status, {"errors": [first]}) if first else exc), wanted)
    if not text.startswith(mod.path) and not any(text.startswith(m.path) for m in wanted.values()):
        text = f"{mod.path}: {text}"
    text = " ".join(text.splitlines())
    more = len(exc.errors) - 1
    if more > 0:
        text += f" (and {more} more error{'s' if more > 1 else ''})"
    if hint:
        text += f"; {hint}"
    return PolicyError(f"{text} (compile policy on OPA server {url})")


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
        """Upload modules and data; compile errors come back from OPA with file:row:col.

        The server's ``gitops-audit/*`` modules become exactly ``modules``: one OPA server serves one policy
        set at a time (audits with different sets on one server would remove each other's modules).
        """
        client = _client(url, timeout)
        rest = _Rest(client)
        _sync_policies(rest, modules, url)
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

    def evaluate(self, plan: Plan, input_doc: Any) -> PlanResult:
        """See :meth:`Evaluator.evaluate`: one request per document, every rule read by its full name.

        A failing query (one rule's runtime error fails all of it) is retried rule by rule, so that only the
        failing rules become errors.
        """
        if not plan:
            return {}
        try:
            value = self.query(plan_query(plan), input_doc)
        except EvalError:
            return super().evaluate(plan, input_doc)
        return plan_value(plan, value)

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
