"""The OPA server engine, against a small OPA emulator on 127.0.0.1.

No `opa` binary is available from the package registries here, so the server below implements the OPA
REST calls the engine makes (PUT /v1/policies/{id}, PUT /v1/data/{path}, POST /v1/query) and evaluates
with regorus. It checks the wire protocol (paths, bodies, `with` overlays, error shapes), not OPA itself.
It follows OPA's documented contract where the engine could get it wrong: `PUT /v1/data/{path}` takes any
JSON value, creates the containing objects (`mkdir -p`), and answers 404 for a path under a policy package
or under a non-object document, 400 for a body that is not JSON.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import regorus

from auditor.errors import PolicyError
from auditor.model import Manifest, ObjectRef, Target
from auditor.policy.audit import evaluate_target, load_policies
from auditor.policy.options import PolicyOptions


class FakeOpa:
    def __init__(self) -> None:
        self.policies: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self.queries: list[dict[str, Any]] = []

    def engine(self) -> Any:
        e = regorus.Engine()
        for pid, src in self.policies.items():
            e.add_policy(pid, src)
        e.add_data(self.data)
        return e

    def packages(self) -> set[tuple[str, ...]]:
        out = set()
        for src in self.policies.values():
            m = re.search(r"^package\s+([\w.]+)", src, re.M)
            if m:
                out.add(tuple(m.group(1).split(".")))
        return out

    def put_data(self, path: tuple[str, ...], value: Any) -> int:
        """OPA's `PUT /v1/data/{path}`: 204, or 404 on a write conflict (virtual or non-object parent)."""
        for pkg in self.packages():
            if path[: len(pkg)] == pkg:  # the path is a package (virtual document) or inside one
                return 404
        if not path:
            if not isinstance(value, dict):
                return 400
            self.data = value
            return 204
        node: Any = self.data
        for seg in path[:-1]:
            if not isinstance(node, dict):
                return 404
            node = node.setdefault(seg, {})
        if not isinstance(node, dict):
            return 404
        node[path[-1]] = value
        return 204


def _handler(state: FakeOpa) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: Any = None) -> None:
            raw = b"" if body is None else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_PUT(self) -> None:
            body = self._body()
            if self.path.startswith("/v1/policies/"):
                pid = self.path[len("/v1/policies/") :]
                try:
                    regorus.Engine().add_policy(pid, body.decode())
                except RuntimeError as exc:
                    m = re.search(r"-->\s*(.+?):(\d+):(\d+)", str(exc))
                    msg = re.search(r"error:\s*(.+)", str(exc))
                    loc = {"file": m.group(1), "row": int(m.group(2)), "col": int(m.group(3))} if m else {}
                    self._send(400, {"code": "invalid_parameter", "message": "error(s) occurred while compiling",
                                     "errors": [{"code": "rego_parse_error", "message": msg.group(1) if msg else "",
                                                 "location": loc}]})
                    return
                state.policies[pid] = body.decode()
                self._send(200, {})
            elif self.path == "/v1/data" or self.path.startswith("/v1/data/"):
                path = tuple(unquote(seg) for seg in self.path[len("/v1/data") :].split("/") if seg)
                try:
                    value = json.loads(body)
                except ValueError:
                    self._send(400, {"code": "invalid_parameter", "message": "body must be JSON"})
                    return
                code = state.put_data(path, value)
                if code == 204:
                    self._send(204)
                else:
                    self._send(code, {"code": "resource_conflict" if code == 404 else "invalid_parameter",
                                      "message": "storage_write_conflict_error: " + "/".join(path)})
            else:
                self._send(404, {"code": "not_found"})

        def do_POST(self) -> None:
            if self.path != "/v1/query":
                self._send(404, {"code": "not_found"})
                return
            req = json.loads(self._body())
            state.queries.append(req)
            var, _, expr = req["query"].partition(" := ")
            e = state.engine()
            e.set_input(req.get("input", {}))
            try:
                out = json.loads(e.eval_query_as_json(expr))
            except RuntimeError as exc:
                self._send(500, {"code": "internal_error", "message": str(exc).split("Stack")[0].strip()})
                return
            rows = out.get("result") or []
            if not rows:
                self._send(200, {"result": []})
                return
            self._send(200, {"result": [{var: rows[0]["expressions"][0]["value"]}]})

    return Handler


@pytest.fixture()
def opa() -> Iterator[tuple[str, FakeOpa]]:
    state = FakeOpa()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


POLICY = """package main
import rego.v1
import data.limits
deny contains msg if {
  input.spec.replicas > limits.max_replicas
  t := data.gitops_audit.target
  msg := sprintf("%s on %s/%s: too many replicas", [input.metadata.name, t.env, data.gitops_audit.side])
}
"""


def test_opa_engine_evaluates_with_target_overlay(tmp_path: Path, opa: tuple[str, FakeOpa]) -> None:
    url, state = opa
    (tmp_path / "p.rego").write_text(POLICY)
    (tmp_path / "limits.json").write_text(json.dumps({"limits": {"max_replicas": 3}}))
    ps = load_policies(
        PolicyOptions(dirs=(str(tmp_path / "p.rego"),), builtin=False, data=(str(tmp_path / "limits.json"),),
                      engine="opa", opa_url=url)
    )
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "a"},
            "spec": {"replicas": 5}}
    m = Manifest(ObjectRef("apps", "Deployment", "a", "web"), "apps/v1", body)
    found = evaluate_target(ps, Target("t", env="production"), [m], [m])
    assert [f.message for f in found] == ["web on production/desired: too many replicas",
                                          "web on production/live: too many replicas"]
    assert state.data == {"limits": {"max_replicas": 3}}
    assert len(state.policies) == 1
    assert any("with data.gitops_audit.side as \"live\"" in q["query"] for q in state.queries)


def test_opa_compile_error_has_location(tmp_path: Path, opa: tuple[str, FakeOpa]) -> None:
    url, _ = opa
    bad = tmp_path / "bad.rego"
    bad.write_text("package main\nimport rego.v1\ndeny contains msg if {\n  msg := \n}\n")
    with pytest.raises(PolicyError, match=rf"^{bad}:\d+:\d+: "):
        load_policies(PolicyOptions(dirs=(str(bad),), builtin=False, engine="opa", opa_url=url))


def test_opa_evaluation_error_is_a_finding(tmp_path: Path, opa: tuple[str, FakeOpa]) -> None:
    url, _ = opa
    (tmp_path / "p.rego").write_text(
        "package main\nimport rego.v1\ndeny contains msg if { x := 1 / input.n; msg := sprintf(\"%v\", [x]) }\n"
    )
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path),), builtin=False, engine="opa", opa_url=url))
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}, "n": 0}
    m = Manifest(ObjectRef("", "ConfigMap", "a", "c"), "v1", body)
    found = evaluate_target(ps, Target("t"), [m], [])
    assert [f.rule_id for f in found] == ["policy.error"]
    assert "divide by zero" in found[0].message


def test_opa_url_required() -> None:
    with pytest.raises(PolicyError, match="opa_url"):
        load_policies(PolicyOptions(engine="opa"))


BANNED = """package main
import rego.v1
deny contains sprintf("%s is banned", [input.metadata.name]) if {
  some name in data.banned
  name == input.metadata.name
  count(input.metadata.name) <= data.max_len
}
"""


def cm(name: str) -> Manifest:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "a"}}
    return Manifest(ObjectRef("", "ConfigMap", "a", name), "v1", body)


def test_non_object_data_lands_at_its_path(tmp_path: Path, opa: tuple[str, FakeOpa]) -> None:
    url, state = opa
    (tmp_path / "p.rego").write_text(BANNED)
    (tmp_path / "d.yaml").write_text("banned: [evil]\nmax_len: 10\nnested:\n  list: [1, 2]\n")
    ps = load_policies(PolicyOptions(dirs=(str(tmp_path / "p.rego"),), builtin=False,
                                     data=(str(tmp_path / "d.yaml"),), engine="opa", opa_url=url))
    assert state.data == {"banned": ["evil"], "max_len": 10, "nested": {"list": [1, 2]}}
    found = evaluate_target(ps, Target("t"), [cm("evil"), cm("good")], [])
    assert [f.message for f in found] == ["evil is banned"]


def test_data_write_conflict_is_a_load_error(tmp_path: Path, opa: tuple[str, FakeOpa]) -> None:
    url, _ = opa
    (tmp_path / "p.rego").write_text(BANNED)
    (tmp_path / "d.json").write_text(json.dumps({"main": {"deny": ["x"]}}))  # data.main is the package
    with pytest.raises(PolicyError, match=r"^load data main into OPA server http://127\.0\.0\.1:\d+: "):
        load_policies(PolicyOptions(dirs=(str(tmp_path / "p.rego"),), builtin=False,
                                    data=(str(tmp_path / "d.json"),), engine="opa", opa_url=url))
