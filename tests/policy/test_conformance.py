"""Constructs common in conftest policies, on the embedded engine (guards engine upgrades).

The same cases were used to choose the binding (see auditor/policy/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import PolicyError
from auditor.policy.engine import RegorusEvaluator
from auditor.policy.loader import load_data, parse_module

CASES: list[tuple[str, dict[str, str], dict[str, Any], Any, str, Any]] = [
    (
        "v0 deny[msg] with string message",
        {"p.rego": 'package main\ndeny[msg] {\n  input.kind == "Deployment"\n  not input.spec.replicas\n'
                   '  msg := "no replicas"\n}\n'},
        {}, {"kind": "Deployment", "spec": {}}, "data.main.deny", ["no replicas"],
    ),
    (
        "v1 contains/if with sprintf and count",
        {"p.rego": 'package main\nimport rego.v1\ndeny contains msg if {\n  input.kind == "Deployment"\n'
                   '  msg := sprintf("%s has %d", [input.kind, count(input.spec)])\n}\n'},
        {}, {"kind": "Deployment", "spec": {"a": 1}}, "data.main.deny", ["Deployment has 1"],
    ),
    (
        "v1 without import rego.v1, some-in, endswith",
        {"p.rego": 'package main\ndeny contains msg if {\n  some c in input.spec.containers\n'
                   '  endswith(c.image, ":latest")\n  msg := c.name\n}\n'},
        {}, {"spec": {"containers": [{"name": "a", "image": "x:latest"}, {"name": "b", "image": "y:1"}]}},
        "data.main.deny", ["a"],
    ),
    (
        "iteration on both sides of ==",
        {"p.rego": 'package main\nimport rego.v1\ndeny contains "overlap" if input.a[_] == data.b[_]\n'},
        {"b": [3, 4]}, {"a": [1, 2, 3]}, "data.main.deny", ["overlap"],
    ),
    (
        "data import and not-in",
        {"p.rego": 'package main\nimport rego.v1\nimport data.allowed\n'
                   'deny contains "bad" if not input.registry in allowed\n'},
        {"allowed": ["r1"]}, {"registry": "r2"}, "data.main.deny", ["bad"],
    ),
    (
        "every",
        {"p.rego": 'package main\nimport rego.v1\ndeny contains "all big" if {\n  every x in input.a { x > 1 }\n}\n'},
        {}, {"a": [2, 3]}, "data.main.deny", ["all big"],
    ),
    (
        "regex.match and startswith",
        {"p.rego": 'package main\nimport rego.v1\ndeny contains "m" if {\n'
                   '  regex.match(`^[a-z]+-[0-9]+$`, input.name)\n  startswith(input.name, "web")\n}\n'},
        {}, {"name": "web-1"}, "data.main.deny", ["m"],
    ),
    (
        "object.get with default and path",
        {"p.rego": 'package main\nimport rego.v1\n'
                   'deny contains "default" if object.get(input, ["spec", "x"], "dflt") == "dflt"\n'},
        {}, {"spec": {}}, "data.main.deny", ["default"],
    ),
    (
        "object results with metadata",
        {"p.rego": 'package main\nimport rego.v1\n'
                   'deny contains {"msg": "m", "rule_id": "r1", "severity": "high"} if input.x\n'},
        {}, {"x": True}, "data.main.deny", [{"msg": "m", "rule_id": "r1", "severity": "high"}],
    ),
    (
        "v0 exception as set of arrays",
        {"p.rego": 'package main\ndeny_foo[{"msg": "m"}] { input.x }\n'
                   'exception[rules] { input.y; rules := ["foo"] }\n'},
        {}, {"x": True, "y": True}, "data.main.exception", [["foo"]],
    ),
    (
        "with input as (unit tests)",
        {"p.rego": 'package main\nimport rego.v1\ndeny contains "x" if input.x\n',
         "p_test.rego": 'package main\nimport rego.v1\ntest_x if {\n  deny["x"] with input as {"x": true}\n}\n'},
        {}, {}, "data.main.test_x", True,
    ),
    (
        "v0 partial object and partial set rules",
        {"p.rego": 'package main\nlabels[k] = v { v := input.l[k] }\nnames[n] { n := input.n[_] }\n'},
        {}, {"l": {"a": "1"}, "n": ["x", "x"]}, "[data.main.labels, data.main.names]", [{"a": "1"}, ["x"]],
    ),
    (
        "v0 deprecated re_match (rewritten to regex.match)",
        {"p.rego": 'package main\nwarn[msg] {\n  re_match("^a", input.items[i])\n'
                   '  msg := sprintf("item %v: %s", [i, input.items[i]])\n}\n'},
        {}, {"items": ["ab", "b"]}, "data.main.warn", ["item 0: ab"],
    ),
    (
        "v0 negated helper function",
        {"p.rego": 'package main\nis_priv(c) { c.securityContext.privileged }\n'
                   'deny[msg] {\n  c := input.spec.containers[_]\n  not is_priv(c)\n  msg := c.name\n}\n'},
        {}, {"spec": {"containers": [{"name": "a", "securityContext": {"privileged": True}}, {"name": "b"}]}},
        "data.main.deny", ["b"],
    ),
    (
        "function from an imported library package",
        {"lib.rego": "package lib.k8s\nimport rego.v1\nf(x) := x + 1\n",
         "p.rego": "package main\nimport rego.v1\nimport data.lib.k8s\ndeny contains x if { x := k8s.f(1) }\n"},
        {}, {}, "data.main.deny", [2],
    ),
    (
        "list input (--combine)",
        {"p.rego": 'package main\nimport rego.v1\ndeny contains doc.path if {\n  some doc in input\n'
                   '  doc.contents.kind == "Role"\n}\n'},
        {}, [{"path": "a.yaml", "contents": {"kind": "Role"}}], "data.main.deny", ["a.yaml"],
    ),
]


def _norm(v: Any) -> Any:
    if isinstance(v, list):
        return sorted((_norm(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True))
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    return v


@pytest.mark.parametrize(("files", "data", "input_doc", "query", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_construct(files: dict[str, str], data: dict[str, Any], input_doc: Any, query: str, expected: Any,
                   tmp_path: Path) -> None:
    modules = [parse_module(name, src) for name, src in files.items()]
    evaluator = RegorusEvaluator.compile(modules, data)
    assert _norm(evaluator.query(query, input_doc)) == _norm(expected)


def test_data_files_in_subdirectories_merge_at_the_root(tmp_path: Path) -> None:
    # conftest expands --data into files and loads each one as its own root (conftest issue #535), so the
    # sub-directory name is not part of the data path.
    (tmp_path / "limits").mkdir()
    (tmp_path / "limits" / "deep").mkdir()
    (tmp_path / "top.yaml").write_text("a: 1\n")
    (tmp_path / "limits" / "max.json").write_text('{"cpu": 4, "x": {"y": 1}}')
    (tmp_path / "limits" / "deep" / "more.yaml").write_text("x: {z: 2}\n")
    assert load_data([str(tmp_path)]) == {"a": 1, "cpu": 4, "x": {"y": 1, "z": 2}}


def test_data_files_with_the_same_leaf_conflict(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("cpu: 4\n")
    (tmp_path / "sub" / "b.yaml").write_text("cpu: 8\n")
    with pytest.raises(PolicyError, match="cpu is already defined"):
        load_data([str(tmp_path)])
