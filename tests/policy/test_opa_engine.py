"""The OPA server engine, against a small OPA emulator on 127.0.0.1.

No `opa` binary is available from the package registries here, so the server below implements the three
OPA REST calls the engine makes (PUT /v1/policies/{id}, PUT /v1/data/{path}, POST /v1/query) and evaluates
with regorus. It checks the wire protocol (paths, bodies, `with` overlays, error shapes), not OPA itself.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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
            elif self.path.startswith("/v1/data/"):
                key = self.path[len("/v1/data/") :]
                state.data[key] = json.loads(body)
                self._send(204)
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
