"""Load-time call and variable checks (static_check) against the real regorus binding and real Rego files."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import regorus

from auditor.errors import PolicyError
from auditor.policy.builtin import builtin_policy_dir
from auditor.policy.engine import EvalError, RegorusEvaluator
from auditor.policy.loader import RegoModule, discover_modules
from auditor.policy.static_check import Problem, check_calls, find_problems

V1 = "package main\nimport rego.v1\n"


def write(dir_: Path, name: str, text: str) -> Path:
    p = dir_ / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def load(dir_: Path, *, include_tests: bool = False) -> list[RegoModule]:
    return discover_modules([dir_], include_tests=include_tests)


def messages(dir_: Path) -> list[str]:
    return [str(p) for p in find_problems(load(dir_))]


# ------------------------------------------------------------------------------- what the check catches

GUARDED_CASES = {
    "unknown builtin": (
        'deny contains msg if {\n  input.kind == "Pod"\n  msg := nope(input)\n}\n',
        "5:10: unknown function nope",
    ),
    "misspelt builtin": (
        'deny contains msg if {\n  input.kind == "Pod"\n  startwith(input.metadata.name, "x")\n  msg := "m"\n}\n',
        "5:3: unknown function startwith",
    ),
    "builtin arity": (
        'deny contains msg if {\n  input.kind == "Pod"\n  msg := sprintf("x")\n}\n',
        "5:10: sprintf expects 2 arguments, got 1",
    ),
    "unknown library function": (
        'import data.lib\ndeny contains msg if {\n  input.kind == "Pod"\n  msg := lib.nope(input)\n}\n',
        "6:10: unknown function lib.nope",
    ),
    "unsafe variable": (
        'deny contains msg if {\n  input.kind == "Pod"\n  msg := foo\n}\n',
        "5:10: unsafe variable foo",
    ),
}


@pytest.mark.parametrize("case", sorted(GUARDED_CASES))
def test_guarded_problem_is_a_load_error_with_its_location(tmp_path: Path, case: str) -> None:
    body, expected = GUARDED_CASES[case]
    path = write(tmp_path, "p.rego", V1 + body)
    with pytest.raises(PolicyError) as err:
        check_calls(load(tmp_path))
    assert str(err.value) == f"{path}:{expected} (compile policy)"


def test_the_guarded_call_really_is_an_evaluation_error_only(tmp_path: Path) -> None:
    # Why the check exists: regorus compiles the policy and fails only when a Pod reaches the call.
    write(tmp_path, "p.rego", V1 + GUARDED_CASES["misspelt builtin"][0])
    evaluator = RegorusEvaluator.compile(load(tmp_path), {})
    assert evaluator.query("data.main.deny", {"kind": "Service"}) == []
    with pytest.raises(EvalError, match="could not find function startwith"):
        evaluator.query("data.main.deny", {"kind": "Pod", "metadata": {"name": "p"}})


def test_user_function_arity_through_an_alias_and_a_data_path(tmp_path: Path) -> None:
    write(tmp_path, "lib.rego", "package lib.k8s\nimport rego.v1\nname(obj) := obj.metadata.name\n")
    path = write(
        tmp_path,
        "p.rego",
        V1
        + "import data.lib.k8s as kube\n"
        + 'deny contains msg if {\n  input.kind == "Pod"\n  msg := kube.name(input, 1)\n}\n'
        + 'warn contains msg if {\n  input.kind == "Pod"\n  msg := data.lib.k8s.name()\n}\n'
        + 'violation contains msg if {\n  input.kind == "Pod"\n  msg := data.lib.k8s.nom(input)\n}\n',
    )
    assert messages(tmp_path) == [
        f"{path}:6:10: kube.name expects 1 argument, got 2 (compile policy)",
        f"{path}:10:10: data.lib.k8s.name expects 1 argument, got 0 (compile policy)",
        f"{path}:14:10: unknown function data.lib.k8s.nom (compile policy)",
    ]


def test_calls_in_every_comprehension_else_with_and_function_bodies_are_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.rego",
        V1
        + 'a contains 1 if {\n  input.kind == "Pod"\n  every c in input.c { startz(c, "x") }\n}\n'  # 3-6
        + 'b := [x | some x in input.c; x == upperr(x)] if input.kind == "Pod"\n'  # 7
        + 'f(x) := 1 if x == 1\nelse := lowerr(x)\n'  # 8-9
        + 'g(x) := y if { y := count(x) with input as {}; y == trimm(x) }\n'  # 10
        + 'h := {k: v | some k, v in input; v == concat(",")}\n',  # 11
    )
    assert messages(tmp_path) == [
        f"{path}:5:24: unknown function startz (compile policy)",
        f"{path}:7:35: unknown function upperr (compile policy)",
        f"{path}:9:9: unknown function lowerr (compile policy)",
        f"{path}:10:53: unknown function trimm (compile policy)",
        f"{path}:11:39: concat expects 2 arguments, got 1 (compile policy)",
    ]


def test_v0_policy_with_a_guarded_unknown_function(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.rego",
        'package main\n\ndeny[msg] {\n  input.kind == "Pod"\n  msg := sprintf("%v", [lenght(input.x)])\n}\n',
    )
    assert messages(tmp_path) == [f"{path}:5:25: unknown function lenght (compile policy)"]


def test_columns_are_those_of_the_file_even_after_the_re_match_rewrite(tmp_path: Path) -> None:
    # v0 files reach regorus with re_match( rewritten to regex.match(, three characters longer.
    path = write(
        tmp_path,
        "p.rego",
        'package main\n\ndeny[msg] {\n  re_match("^a", input.x); re_match("b", input.y); msg := lenght(input)\n}\n',
    )
    assert messages(tmp_path) == [f"{path}:4:59: unknown function lenght (compile policy)"]


def test_an_extra_argument_is_the_output_only_for_a_whole_statement(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.rego",
        V1
        + "f(x) := x\n"
        + "ok1 if { count([1], n); n == 1 }\n"  # 4: count(x, out) as a statement
        + "ok2 if { f(1, y); y == 1 }\n"
        + "ok3 if { not count([1], 2) }\n"
        + "bad1 := count([1], 1)\n"  # 7: nested, so not an output argument
        + "bad2 := f(1, 2)\n",
    )
    evaluator = RegorusEvaluator.compile(load(tmp_path), {})
    for rule in ("ok1", "ok2", "ok3"):
        assert evaluator.query(f"data.main.{rule}", {}) is True  # really valid for regorus
    assert messages(tmp_path) == [
        f"{path}:7:9: count expects 1 argument, got 2 (compile policy)",
        f"{path}:8:9: f expects 1 argument, got 2 (compile policy)",
    ]


def test_every_problem_is_listed_one_per_line_sorted_by_file(tmp_path: Path) -> None:
    b = write(tmp_path, "b.rego", "package b\nimport rego.v1\nx := nope1(1)\ny := sprintf()\n")
    a = write(tmp_path, "a.rego", "package a\nimport rego.v1\nx := nope2(1)\n")
    with pytest.raises(PolicyError) as err:
        check_calls(load(tmp_path), unsafe_vars=False)
    assert str(err.value).splitlines() == [
        f"{a}:3:6: unknown function nope2 (compile policy)",
        f"{b}:3:6: unknown function nope1 (compile policy)",
        f"{b}:4:6: sprintf expects 2 arguments, got 0 (compile policy)",
    ]


def test_a_given_engine_is_used_as_it_is(tmp_path: Path) -> None:
    write(tmp_path, "p.rego", V1 + "x := nope(1)\n")
    engine = regorus.Engine()
    engine.add_policy("elsewhere.rego", V1 + "y := lenght(1)\n")
    # The AST comes from the engine, so its file is the one reported.
    assert find_problems(load(tmp_path), engine=engine) == [
        Problem("elsewhere.rego", 3, 6, "unknown function lenght")
    ]


# ---------------------------------------------------------------------------------- no false positives

VALID_LIB_V0 = """package lib.k8s
import future.keywords.in

default is_pod = false
is_pod { input.kind == "Pod" }

name(obj) = n { n := obj.metadata.name }

label(obj, key) = v { v := obj.metadata.labels[key] }
label(obj, key) = "none" { not obj.metadata.labels[key] }

allowed_names := {"a", "b"}
"""

VALID_MAIN_V0 = """package main
import future.keywords.in
import future.keywords.every
import data.lib.k8s

deny[msg] {
  k8s.is_pod
  re_match("^bad", k8s.name(input))
  msg := sprintf("bad name %s", [data.lib.k8s.name(input)])
}

warn[msg] {
  some c in input.spec.containers
  endswith(c.image, ":latest")
  msg := concat(" ", ["latest:", c.name])
}

violation[{"msg": msg}] {
  every c in input.spec.containers { startswith(c.image, "registry/") }
  not k8s.label(input, "team") == "x"
  msg := "all local"
}
"""

VALID_V1 = """package main.v1
import rego.v1
import data.lib.k8s as kube
import data.io.jwt as tokens

# Rules and functions named like built-ins or built-in namespaces.
startswith(s) := true if s != ""
object.get(o) := o
time.now_ns := 0
units.parse(x) := x

f(1) := "one"
f(x) := "many" if x > 1
else := "none" if x < 1

g(x) := y if {
  y := json.marshal(x)
} else := "?"

deny contains msg if {
  input.kind == "Pod"
  startswith(input.metadata.name)
  object.get(input) == input
  regex.match("^bad", input.metadata.name)
  n := units.parse("1Ki")
  t := time.now_ns
  m := {k: v | some k, v in input.metadata.labels; v != ""}
  s := {c.name | some c in input.spec.containers}
  a := [x | some x in s]
  tokens.decode("t") == "t"
  kube.name(input) == input.metadata.name
  count(a, 1)
  msg := sprintf("%v %v %v %v %v %v", [f(1), g(input), n, t, m, a])
}

deny contains msg if {
  input.kind == "Pod"
  count(object.keys(input)) > 0 with input as {"kind": "Pod"}  # the built-in beside the local object.get
  msg := data.main.v1.f(2)
}

pod := {"kind": "Pod", "metadata": {"name": "bad-p", "labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}

test_deny if {
  count(deny) == 2 with input as pod
}
"""

VALID_IO_JWT = """package io.jwt
import rego.v1
decode(token) := token
"""


def write_valid_set(dir_: Path) -> None:
    write(dir_, "lib/k8s.rego", VALID_LIB_V0)
    write(dir_, "main.rego", VALID_MAIN_V0)
    write(dir_, "v1/main.rego", VALID_V1)
    write(dir_, "io/jwt.rego", VALID_IO_JWT)


def test_a_valid_set_with_every_construct_passes_and_really_evaluates(tmp_path: Path) -> None:
    write_valid_set(tmp_path)
    modules = load(tmp_path)
    check_calls(modules)  # no PolicyError
    # The set is valid for the engine too, so "no problem found" means something.
    evaluator = RegorusEvaluator.compile(modules, {})
    pod = {
        "kind": "Pod",
        "metadata": {"name": "bad-pod", "labels": {"team": "y"}},
        "spec": {"containers": [{"name": "c", "image": "registry/x:latest"}]},
    }
    assert evaluator.query("data.main.deny", pod) == ["bad name bad-pod"]
    assert evaluator.query("data.main.warn", pod) == ["latest: c"]
    assert evaluator.query("data.main.violation", pod) == [{"msg": "all local"}]
    assert len(evaluator.query("data.main.v1.deny", pod)) == 2
    assert evaluator.query("data.main.v1.test_deny", {}) is True


def test_the_builtin_pack_with_its_tests_has_no_problem() -> None:
    modules = discover_modules([builtin_policy_dir()], include_tests=True)
    assert len(modules) > 10
    assert find_problems(modules) == []


def test_an_undefined_variable_check_ignores_rules_from_files_it_cannot_compile(tmp_path: Path) -> None:
    # `limits` comes from a v0 file of the same package, which regorus' RVM compiler cannot read.
    write(tmp_path, "a.rego", "package main\n\nlimits = {\"cpu\": 1} { true }\n")
    write(tmp_path, "b.rego", V1 + 'deny contains msg if {\n  input.kind == "Pod"\n  msg := limits.cpu\n}\n')
    modules = load(tmp_path)
    assert RegorusEvaluator.compile(modules, {}).query("data.main.deny", {"kind": "Pod"}) == [1]
    assert find_problems(modules) == []


def test_undefined_variables_are_only_checked_on_request_and_outside_files_using_with(tmp_path: Path) -> None:
    body = 'deny contains msg if {\n  input.kind == "Pod"\n  msg := foo\n}\n'
    plain = write(tmp_path, "a.rego", "package a\nimport rego.v1\n" + body)
    # regorus' RVM compiler (the only eager planner in the binding) has no `with`: that file is left out.
    write(tmp_path, "b.rego", "package b\nimport rego.v1\n" + body + "t if { count(deny) == 0 with input as {} }\n")
    modules = load(tmp_path)
    assert find_problems(modules) == [Problem(str(plain), 5, 10, "unsafe variable foo")]
    assert find_problems(modules, unsafe_vars=False) == []


def test_the_check_runs_in_any_thread(tmp_path: Path) -> None:
    # regorus engines are bound to the thread that made them; the check makes its own.
    path = write(tmp_path, "p.rego", V1 + "x := lenght(1)\n")
    modules = load(tmp_path)
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(lambda _: find_problems(modules), range(2)))
    assert found == [[Problem(str(path), 3, 6, "unknown function lenght")]] * 2
