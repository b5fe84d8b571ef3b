"""A small threaded stdlib Kubernetes API server for tests: discovery, list, get, faults, request log.

It answers like a real API server where our client can tell the difference: discovery documents
(``/api``, ``/apis``, ``/api/v1``, ``/apis/<g>/<v>`` with subresources and verbs), typed list kinds
whose items carry no apiVersion/kind, ``limit``/``continue`` with consistent resourceVersions,
410 Expired for stale continue tokens, label selectors, ``PartialObjectMetadataList`` on request,
Status bodies for errors, bearer-token and client-certificate authentication over TLS.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...] = ("get", "list", "watch", "create", "update", "patch", "delete")

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


DEFAULT_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", False),
    ResourceType("", "v1", "ConfigMap", "configmaps", True),
    ResourceType("", "v1", "Secret", "secrets", True),
    ResourceType("", "v1", "Service", "services", True),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", True),
    ResourceType("", "v1", "Pod", "pods", True),
    ResourceType("", "v1", "Event", "events", True),
    ResourceType("", "v1", "Binding", "bindings", True, ("create",)),
    ResourceType("apps", "v1", "Deployment", "deployments", True),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    ResourceType("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    ResourceType("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    ResourceType("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False),
    ResourceType("example.com", "v1", "Widget", "widgets", True),
)
"""First version of a group listed is its preferred version (autoscaling/v2 over v1)."""

SUBRESOURCES = {"deployments": ("status", "scale"), "pods": ("log", "status", "exec")}


@dataclass
class Fault:
    """An injected misbehaviour for requests whose path matches ``path`` (a regex, searched)."""

    path: str
    status: int = 0
    """HTTP status to answer (0: answer normally after ``delay``)."""
    delay: float = 0.0
    times: int | None = None
    """How many matching requests it applies to (None: all)."""
    headers: dict[str, str] = field(default_factory=dict)
    on_continue: bool = False
    """Only requests carrying a continue token match."""
    reason: str = ""
    message: str = ""
    trickle: float = 0.0
    """Answer normally, but send the body in 20 pieces this many seconds apart."""
    hits: int = 0


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    accept: str
    auth: str
    """``bearer``, ``cert:<CN>``, ``none`` — never the credential itself."""
    status: int
    """0 while the request is still being answered."""
    at: float = 0.0
    """time.monotonic() when the request arrived."""


_TRICKLE = "X-Fake-Trickle"

_REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 410: "Expired", 429: "TooManyRequests",
            500: "InternalError", 503: "ServiceUnavailable"}


class FakeAPIServer:
    """Serve ``objects`` (dicts as a real server stores them) over HTTP or HTTPS on 127.0.0.1."""

    def __init__(
        self,
        objects: Iterable[dict[str, Any]],
        *,
        types: Iterable[ResourceType] = DEFAULT_TYPES,
        token: str | None = None,
        tls: tuple[str, str] | None = None,
        client_ca: str | None = None,
        resource_version: int = 100000,
    ) -> None:
        self.types = tuple(types)
        self.token = token
        self.faults: list[Fault] = []
        self.allow: set[tuple[str, str]] | None = None
        """RBAC: (group, resource) the caller may get/list; None allows everything."""
        self.log: list[LoggedRequest] = []
        self.resource_version = resource_version
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.objects: list[dict[str, Any]] = [copy.deepcopy(o) for o in objects]
        handler = self._handler_class()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            if client_ca:
                ctx.load_verify_locations(client_ca)
                ctx.verify_mode = ssl.CERT_OPTIONAL
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeAPIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_fault(self, path: str, **kw: Any) -> Fault:
        fault = Fault(path=path, **kw)
        self.faults.append(fault)
        return fault

    # --- data ---------------------------------------------------------------------------------
    def _type_for(self, group: str, version: str, plural: str) -> ResourceType | None:
        for t in self.types:
            if (t.group, t.version, t.plural) == (group, version, plural):
                return t
        return None

    def _select(self, t: ResourceType, namespace: str, selector: str) -> list[dict[str, Any]]:
        out = []
        for o in self.objects:
            api = o.get("apiVersion", "")
            group = api.partition("/")[0] if "/" in api else ""
            if group != t.group or o.get("kind") != t.kind:
                continue
            meta = o.get("metadata") or {}
            if namespace and meta.get("namespace") != namespace:
                continue
            if selector and not _matches(selector, meta.get("labels") or {}):
                continue
            out.append(o)
        out.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return out

    # --- HTTP -----------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed ACKs

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server._handle(self)

        return Handler

    def _auth(self, h: BaseHTTPRequestHandler) -> str:
        header = h.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":  # the scheme is case-insensitive (in-cluster config sends "bearer")
            return "bearer" if header[7:] == self.token else "bad-bearer"
        sock = h.connection
        if isinstance(sock, ssl.SSLSocket):
            cert = sock.getpeercert()
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            return f"cert:{v}"
        return "none"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        accept = h.headers.get("Accept", "")
        auth = self._auth(h)
        status = 200
        arrived = time.monotonic()
        entry = LoggedRequest("GET", path, query, accept, auth, 0, arrived)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.log.append(entry)  # logged on arrival, so slow requests are visible at once
        try:
            if self.token is not None and not (auth == "bearer" or auth.startswith("cert:")):
                status, body, headers = 401, _status(401, "Unauthorized", "Unauthorized"), {}
            else:
                status, body, headers = self._fault_or_route(path, query, accept)
        finally:
            with self._lock:
                self.in_flight -= 1
                entry.status = status
        if status < 0:
            return  # connection already abandoned
        data = json.dumps(body).encode()
        trickle = float(headers.pop(_TRICKLE, "0"))
        try:
            h.send_response(status)
            h.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            h.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            if trickle:
                step = max(1, len(data) // 20)
                for i in range(0, len(data), step):
                    h.wfile.write(data[i:i + step])
                    h.wfile.flush()
                    if self.stopping.wait(trickle):
                        return
            else:
                h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass

    def _fault_or_route(self, path: str, query: dict[str, str], accept: str) -> tuple[int, Any, dict[str, str]]:
        for fault in self.faults:
            if not re.search(fault.path, path):
                continue
            if fault.on_continue and "continue" not in query:
                continue
            with self._lock:
                if fault.times is not None and fault.hits >= fault.times:
                    continue
                fault.hits += 1
            if fault.delay:
                self.stopping.wait(fault.delay)
            if fault.trickle:
                status, body, headers = self._route(path, query, accept)
                return status, body, {**headers, _TRICKLE: str(fault.trickle)}
            if fault.status:
                reason = fault.reason or _REASONS.get(fault.status, "Failure")
                msg = fault.message or f"injected {fault.status}"
                return fault.status, _status(fault.status, reason, msg), dict(fault.headers)
            break
        return self._route(path, query, accept)

    def _route(self, path: str, query: dict[str, str], accept: str) -> tuple[int, Any, dict[str, str]]:
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}]}, {}
        if path == "/apis":
            return 200, self._group_list(), {}
        m = re.fullmatch(r"/api/(v1)|/apis/([^/]+)/([^/]+)", path)
        if m:
            group, version = ("", "v1") if m.group(1) else (m.group(2), m.group(3))
            types = [t for t in self.types if (t.group, t.version) == (group, version)]
            if not types:
                return 404, _status(404, "NotFound", "the server could not find the requested resource"), {}
            return 200, self._resource_list(group, version, types), {}
        m = re.fullmatch(
            r"/(?:api/(?P<cv>v1)|apis/(?P<g>[^/]+)/(?P<v>[^/]+))"
            r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?",
            path,
        )
        if not m:
            return 404, _status(404, "NotFound", "the server could not find the requested resource"), {}
        group, version = ("", "v1") if m.group("cv") else (m.group("g"), m.group("v"))
        t = self._type_for(group, version, m.group("plural"))
        if t is None or "list" not in t.verbs:
            return 404, _status(404, "NotFound", "the server could not find the requested resource"), {}
        ns = m.group("ns") or ""
        if self.allow is not None and (group, t.plural) not in self.allow:
            where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
            message = (f'{t.plural}{"." + group if group else ""} is forbidden: User "auditor" cannot list '
                       f'resource "{t.plural}" in API group "{group}"{where}')
            return 403, _status(403, "Forbidden", message), {}
        if m.group("name"):
            for o in self._select(t, ns, ""):
                if o["metadata"]["name"] == m.group("name"):
                    return 200, self._as_version(o, t), {}
            return 404, _status(404, "NotFound", f'{t.plural} "{m.group("name")}" not found'), {}
        return self._list(t, ns, query, accept)

    def _list(self, t: ResourceType, ns: str, query: dict[str, str], accept: str) -> tuple[int, Any, dict[str, str]]:
        items = self._select(t, ns, query.get("labelSelector", ""))
        start = 0
        rv = str(self.resource_version)
        if "continue" in query:
            try:
                token = json.loads(base64.urlsafe_b64decode(query["continue"]))
                start, rv = int(token["start"]), str(token["rv"])
            except (ValueError, KeyError):
                return 400, _status(400, "BadRequest", "invalid continue token"), {}
        limit = int(query.get("limit", "0") or 0)
        page = items[start:start + limit] if limit else items[start:]
        meta: dict[str, Any] = {"resourceVersion": rv}
        end = start + len(page)
        if limit and end < len(items):
            meta["continue"] = base64.urlsafe_b64encode(json.dumps({"rv": rv, "start": end}).encode()).decode()
            meta["remainingItemCount"] = len(items) - end
        if "as=PartialObjectMetadataList" in accept:
            body = {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": copy.deepcopy(o["metadata"])} for o in page],
            }
            return 200, body, {"Content-Type": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"}
        builtin = t.group != "example.com"
        out_items = []
        for o in page:
            item = self._as_version(o, t)
            if builtin:  # built-in list items carry no apiVersion/kind, as on a real server
                item.pop("apiVersion", None)
                item.pop("kind", None)
            out_items.append(item)
        return 200, {"kind": f"{t.kind}List", "apiVersion": t.group_version, "metadata": meta, "items": out_items}, {}

    @staticmethod
    def _as_version(o: dict[str, Any], t: ResourceType) -> dict[str, Any]:
        item = copy.deepcopy(o)
        item["apiVersion"] = t.group_version
        return item

    def _group_list(self) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        for t in self.types:
            if t.group:
                versions = groups.setdefault(t.group, [])
                if t.version not in versions:
                    versions.append(t.version)
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": g,
                    "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                    "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
                }
                for g, vs in groups.items()
            ],
        }

    @staticmethod
    def _resource_list(group: str, version: str, types: list[ResourceType]) -> dict[str, Any]:
        resources = []
        for t in types:
            resources.append({
                "name": t.plural,
                "singularName": t.kind.lower(),
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": list(t.verbs),
                "storageVersionHash": base64.b64encode(t.plural.encode()).decode()[:11],
            })
            for sub in SUBRESOURCES.get(t.plural, ()):
                resources.append({"name": f"{t.plural}/{sub}", "singularName": "", "namespaced": t.namespaced,
                                  "kind": t.kind if sub != "scale" else "Scale", "verbs": ["get"]})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

    # --- helpers for tests ------------------------------------------------------------------------
    def requests(self, predicate: Callable[[LoggedRequest], bool] | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.log if predicate is None or predicate(r)]


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def _matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality-based label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``."""
    for term in filter(None, (s.strip() for s in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k) != v:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
