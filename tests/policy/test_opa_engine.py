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
import tempfile
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
from auditor.policy.engine import v0_compat
from auditor.policy.loader import parse_module
from auditor.policy.opa import policy_ids
from auditor.policy.options import PolicyOptions


def _add(e: Any, pid: str, src: str, v0_compatible: bool) -> None:
    # OPA >= 1.0 parses Rego v1; with --v0-compatible it parses v0 unless the module imports rego.v1, and
    # then also has the deprecated v0 built-ins (regorus lacks re_match, so it gets the embedded rewrite).
    v0 = v0_compatible and "import rego.v1" not in src
    e.set_rego_v0(v0)
    e.add_policy(pid, v0_compat(src) if v0 else src)


_IMPORT = re.compile(r"^import\s+data\.([\w.]+)(?:\s+as\s+(\w+))?", re.M)


def _compile_errors(policies: dict[str, str], v0_compatible: bool) -> list[dict[str, Any]]:
    """What OPA's compiler reports for the whole module set: parse errors, then undefined functions.

    OPA compiles every module on each PUT/DELETE, so a call into an imported package that is not on the
    server is a type error (regorus would only notice when the rule runs).
    """
    e = regorus.Engine()
    for pid, src in policies.items():
        try:
            _add(e, pid, src, v0_compatible)
        except RuntimeError as exc:
            m = re.search(r"-->\s*(.+?):(\d+):(\d+)", str(exc))
            msg = re.search(r"error:\s*(.+)", str(exc))
            loc = {"file": m.group(1), "row": int(m.group(2)), "col": int(m.group(3))} if m else {}
            return [{"code": "rego_parse_error", "message": msg.group(1) if msg else "", "location": loc}]
    defined: dict[str, set[str]] = {}
    for src in policies.values():
        pkg = re.search(r"^package\s+([\w.]+)", src, re.M)
        if pkg:
            defined.setdefault(pkg.group(1), set()).update(re.findall(r"^(\w+)\(", src, re.M))
    errors = []
    for pid, src in policies.items():
        for imp in _IMPORT.finditer(src):
            alias = imp.group(2) or imp.group(1).rsplit(".", 1)[-1]
            for call in re.finditer(rf"(?<![\w.]){alias}\.(\w+)\(", src):
                if call.group(1) not in defined.get(imp.group(1), set()):
                    row = src.count("\n", 0, call.start()) + 1
                    col = call.start() - (src.rfind("\n", 0, call.start()) + 1) + 1
                    errors.append({"code": "rego_type_error",
                                   "message": f"undefined function data.{imp.group(1)}.{call.group(1)}",
                                   "location": {"file": pid, "row": row, "col": col}})
    return errors


class FakeOpa:
    def __init__(self, v0_compatible: bool = False) -> None:
        self.v0_compatible = v0_compatible
        self.policies: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self.queries: list[dict[str, Any]] = []
        self.policy_writes: list[str] = []
        """``PUT id`` / ``DELETE id`` requests that changed the module set."""

    def engine(self) -> Any:
        e = regorus.Engine()
        for pid, src in self.policies.items():
            _add(e, pid, src, self.v0_compatible)
        e.add_data(self.data)
        return e

    def change_policies(self, pid: str, src: str | None) -> list[dict[str, Any]]:
        """PUT (``src``) or DELETE (``None``) one module; OPA compiles the resulting set or refuses."""
        candidate = dict(self.policies)
        if src is None:
            candidate.pop(pid)
        else:
            candidate[pid] = src
        errors = _compile_errors(candidate, self.v0_compatible)
        if not errors:
            self.policies = candidate
            self.policy_writes.append(f"{'DELETE' if src is None else 'PUT'} {pid}")
        return errors

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
                pid = unquote(self.path[len("/v1/policies/") :])
                errors = state.change_policies(pid, body.decode())
                if errors:
                    self._send(400, {"code": "invalid_parameter", "message": "error(s) occurred while compiling",
                                     "errors": errors})
                    return
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

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/v1/policies":
                self._send(404, {"code": "not_found"})
                return
            self._send(200, {"result": [{"id": pid, "raw": src} for pid, src in state.policies.items()]})

        def do_DELETE(self) -> None:
            pid = unquote(self.path[len("/v1/policies/") :])
            if not self.path.startswith("/v1/policies/") or pid not in state.policies:
                self._send(404, {"code": "resource_not_found", "message": f"storage_not_found_error: {pid}"})
                return
            errors = state.change_policies(pid, None)
            if errors:
                self._send(400, {"code": "invalid_parameter", "message": "error(s) occurred while compiling",
                                 "errors": errors})
                return
            self._send(200, {})

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


def _rule(message: str) -> str:
    return f'package main\nimport rego.v1\ndeny contains "{message}" if input.kind == "ConfigMap"\n'


def _opa_policies(url: str, *paths: Path) -> Any:
    return load_policies(PolicyOptions(dirs=tuple(str(p) for p in paths), builtin=False, engine="opa", opa_url=url))


def test_policies_keep_stable_ids_and_stale_ones_are_removed(tmp_path: Path, opa: tuple[str, FakeOpa]) -> None:
    url, state = opa
    state.policies["other/keep"] = "package other\nimport rego.v1\nx := 1\n"  # not ours: must stay
    (tmp_path / "p.rego").write_text(_rule("old rule"))
    (tmp_path / "extra.rego").write_text(_rule("extra rule"))
    _opa_policies(url, tmp_path)
    assert sorted(state.policies) == ["gitops-audit/main/extra.rego", "gitops-audit/main/p.rego", "other/keep"]

    (tmp_path / "p.rego").write_text(_rule("new rule"))
    (tmp_path / "extra.rego").unlink()
    ps = _opa_policies(url, tmp_path)
    assert sorted(state.policies) == ["gitops-audit/main/p.rego", "other/keep"]
    assert [f.message for f in evaluate_target(ps, Target("t"), [cm("c")], [])] == ["new rule"]

    writes = len(state.policy_writes)
    _opa_policies(url, tmp_path)  # unchanged: nothing is sent again (each PUT makes OPA recompile everything)
    assert len(state.policy_writes) == writes


LIB = "package zlib.k8s\nimport rego.v1\nshout(s) := upper(s)\n"
USES_LIB = """package main
import rego.v1
import data.zlib.k8s
deny contains k8s.shout(input.metadata.name) if input.kind == "ConfigMap"
"""


def test_upload_order_follows_dependencies(tmp_path: Path, opa: tuple[str, FakeOpa]) -> None:
    url, state = opa
    (tmp_path / "a.rego").write_text(USES_LIB)  # its id sorts first; OPA refuses it until the library is there
    (tmp_path / "k8s.rego").write_text(LIB)
    ps = _opa_policies(url, tmp_path)
    assert [f.message for f in evaluate_target(ps, Target("t"), [cm("c")], [])] == ["C"]

    # Renaming the library: the old copy cannot go while the old set still needs it, so it goes last.
    (tmp_path / "k8s.rego").rename(tmp_path / "k8s_lib.rego")
    _opa_policies(url, tmp_path)
    assert sorted(state.policies) == ["gitops-audit/main/a.rego", "gitops-audit/zlib/k8s/k8s_lib.rego"]


def test_undefined_function_is_a_compile_error_with_location(tmp_path: Path, opa: tuple[str, FakeOpa]) -> None:
    url, _ = opa
    bad = tmp_path / "a.rego"
    bad.write_text(USES_LIB)
    (tmp_path / "k8s.rego").write_text(LIB.replace("shout(s)", "whisper(s)"))
    with pytest.raises(PolicyError) as err:
        _opa_policies(url, tmp_path)
    assert str(err.value) == (
        f"{bad}:4:15: undefined function data.zlib.k8s.shout (compile policy on OPA server {url})"
    )


V0 = """package main

deny[msg] {
  re_match("^bad", input.metadata.name)
  msg := sprintf("%s is bad", [input.metadata.name])
}
"""


def test_v0_module_on_a_v1_server_says_so_in_one_line(tmp_path: Path, opa: tuple[str, FakeOpa]) -> None:
    url, state = opa
    (tmp_path / "v0.rego").write_text(V0)
    with pytest.raises(PolicyError) as err:
        _opa_policies(url, tmp_path)
    assert str(err.value) == (
        f"{tmp_path / 'v0.rego'}:3:11: `if` keyword is required before rule body; Rego v0 module, and this OPA "
        "server parses Rego v1 (OPA >= 1.0): start OPA with --v0-compatible, or rewrite the module in Rego v1 "
        f"(compile policy on OPA server {url})"
    )
    assert not state.policies


def test_v0_module_on_a_v0_compatible_server_is_sent_unchanged() -> None:
    state = FakeOpa(v0_compatible=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "v0.rego").write_text(V0)
            (Path(tmp) / "v1.rego").write_text(_rule("v1 with import"))
            ps = _opa_policies(url, Path(tmp))
            # No re_match rewrite: a v0-compatible OPA has the deprecated v0 built-ins itself.
            assert state.policies["gitops-audit/main/v0.rego"] == V0
            found = evaluate_target(ps, Target("t"), [cm("bad-one"), cm("good")], [])
            assert sorted(f.message for f in found) == ["bad-one is bad", "v1 with import", "v1 with import"]

            (Path(tmp) / "v1.rego").write_text(_rule("v1 without import").replace("import rego.v1\n", ""))
            with pytest.raises(PolicyError, match=r"v1\.rego:2:\d+: .*; if this OPA server runs with "
                                                  r"--v0-compatible, Rego v1 modules need `import rego.v1` "):
                _opa_policies(url, Path(tmp))
    finally:
        server.shutdown()
        server.server_close()


def test_policy_ids_do_not_depend_on_the_checkout_and_never_collide() -> None:
    src = "package gitops_audit.images\nimport rego.v1\nx := 1\n"
    first = policy_ids([parse_module("/tmp/run1/policies/images.rego", src)])
    second = policy_ids([parse_module("/srv/other/images.rego", src)])
    assert list(first) == list(second) == ["gitops-audit/gitops_audit/images/images.rego"]
    twins = policy_ids([parse_module("/b/main x.rego", _rule("b")), parse_module("/a/main x.rego", _rule("a"))])
    assert {pid: m.path for pid, m in twins.items()} == {
        "gitops-audit/main/main_x.rego": "/a/main x.rego",
        "gitops-audit/main/main_x.rego~2": "/b/main x.rego",
    }
