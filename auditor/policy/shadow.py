"""OPA's scoping of a variable declared again inside a comprehension, for the embedded engine.

In OPA, a comprehension body may read a variable of the enclosing rule and then declare a variable of the same
name with ``:=``: the statements before the declaration read the enclosing one, the declaration and everything
after it (and the comprehension's head) the new one. conftest's ``--combine`` example relies on it::

    name := input[_].contents.metadata.name
    occurrences := [name | some i; input[i].contents.metadata.name == name; name := input[i].metadata.name]

regorus stops with "var `name` used before definition below" when such a rule is evaluated. This module gives
the inner variable a name of its own (``name`` → ``name__inner1``) in the text handed to regorus, which is
exactly OPA's reading (OPA renames every local variable this way when it compiles). Line numbers do not change;
columns after a renamed variable on the same line shift by the added length.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from auditor.policy.loader import RegoModule

_COMPREHENSIONS = ("ArrayCompr", "SetCompr", "ObjectCompr")
_HEAD_TERMS = ("term", "key", "value")


def _vars(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every ``Var`` node under ``node``, comprehensions included."""
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            var = cur.get("Var")
            if isinstance(var, dict) and "value" in var:
                yield var
            stack.extend(v for k, v in cur.items() if k != "span")
        elif isinstance(cur, list):
            stack.extend(cur)


def _outer_vars(node: Any) -> Iterator[Mapping[str, Any]]:
    """``Var`` nodes under ``node`` outside any comprehension."""
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            if any(k in cur for k in _COMPREHENSIONS):
                continue
            var = cur.get("Var")
            if isinstance(var, dict) and "value" in var:
                yield var
            stack.extend(v for k, v in cur.items() if k != "span")
        elif isinstance(cur, list):
            stack.extend(cur)


def _assignment(stmt: Mapping[str, Any]) -> Mapping[str, Any] | None:
    expr = ((stmt.get("literal") or {}).get("Expr") or {}).get("expr") or {}
    assign = expr.get("AssignExpr") if isinstance(expr, dict) else None
    return assign if isinstance(assign, dict) and assign.get("op") == "ColEq" else None


class _Renamer:
    """Collects byte-span edits for one module."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.edits: dict[tuple[int, int], str] = {}
        self.sites: list[tuple[int, int, str]] = []
        """(line, col, variable) of each declaration given a name of its own."""
        self._count = 0

    def fresh(self, name: str) -> str:
        while True:
            self._count += 1
            candidate = f"{name}__inner{self._count}"
            if candidate not in self.source:
                return candidate

    def rename(self, node: Any, old: str, new: str) -> None:
        for var in _vars(node):
            span = var.get("span") or {}
            if var["value"] == old and "start" in span:
                self.edits[(int(span["start"]), int(span["end"]))] = new

    def rules(self, rules: Sequence[Any]) -> None:
        """Every rule body (function arguments count as declared there) and rule head."""
        for rule in rules:
            spec = rule.get("Spec") if isinstance(rule, dict) else None
            if not isinstance(spec, dict):
                self.visit(rule, frozenset())
                continue
            args: set[str] = set()
            for head in (spec.get("head") or {}).values():
                if isinstance(head, dict):
                    args.update(str(v["value"]) for v in _vars(head.get("args") or []))
            for body in spec.get("bodies") or []:
                query = (body or {}).get("query") or {}
                self.query(query.get("stmts") or [], frozenset(args))
            # Head values are read after the body; a comprehension there sees no body declaration here, which
            # only means fewer renames (regorus then reports the error itself, as before).
            self.visit(spec.get("head"), frozenset())

    def declared_by(self, stmt: Mapping[str, Any]) -> set[str]:
        """Names a statement declares: ``x := …``, ``some x``, ``some k, v in …``."""
        literal = stmt.get("literal") or {}
        assign = _assignment(stmt)
        if assign is not None:
            return {str(v["value"]) for v in _vars(assign.get("lhs"))}
        some = literal.get("SomeVars")
        if isinstance(some, dict):
            raw = self.source.encode("utf-8")
            return {raw[int(sp["start"]) : int(sp["end"])].decode("utf-8", "replace") for sp in some.get("vars") or []}
        some_in = literal.get("SomeIn")
        if isinstance(some_in, dict):
            return {str(v["value"]) for k in ("key", "value") for v in _vars(some_in.get(k))}
        return set()

    def query(self, stmts: Sequence[Any], declared: frozenset[str]) -> None:
        """Statements in order: each sees what the enclosing scopes and the statements before it declared."""
        local = set(declared)
        for i, stmt in enumerate(stmts):
            self.visit(stmt, frozenset(local))
            if isinstance(stmt, dict):
                local |= self.declared_by(stmt) - self.closure_only_some(stmt, stmts[i + 1 :])

    def closure_only_some(self, stmt: Mapping[str, Any], rest: Sequence[Any]) -> set[str]:
        """Names of a ``some x`` that the rest of its body uses only inside comprehensions (dropped, see below).

        Such an ``x`` is never bound in its own body, so OPA makes each comprehension's ``x`` local to that
        comprehension: the ``some`` changes nothing there. regorus instead fails with "duplicated definition of
        local variable" (conftest's ``--combine`` example), so the declaration becomes ``true``.
        """
        some = (stmt.get("literal") or {}).get("SomeVars")
        if not isinstance(some, dict):
            return set()
        names = self.declared_by(stmt)
        outer = {str(v["value"]) for v in _outer_vars(list(rest))}
        inner = {str(v["value"]) for v in _vars(list(rest))}
        if not names or names & outer or not names <= inner:
            return set()
        span = stmt.get("span") or {}
        if "start" in span:
            self.edits[(int(span["start"]), int(span["end"]))] = "true"
            self.sites.append((int(span.get("line", 0)), int(span.get("col", 0)), "some " + ", ".join(sorted(names))))
        return names

    def visit(self, node: Any, declared: frozenset[str]) -> None:
        """Find the comprehensions in ``node`` (outermost first) and handle each with ``declared`` around it."""
        if isinstance(node, list):
            for item in node:
                self.visit(item, declared)
            return
        if not isinstance(node, dict):
            return
        for kind in _COMPREHENSIONS:
            compr = node.get(kind)
            if isinstance(compr, dict) and isinstance(compr.get("query"), dict):
                self.comprehension(compr, declared)
                return
        for key, value in node.items():
            if key != "span":
                self.visit(value, declared)

    def comprehension(self, compr: Mapping[str, Any], declared: frozenset[str]) -> None:
        """Rename the body's declarations of enclosing names, then handle the comprehensions inside (theirs win).

        A comprehension body is a scope of its own in OPA: ``x := …``, ``some x`` or ``some x in …`` there
        declares a new ``x`` even when an enclosing scope has one, and statements before the declaration
        still read the enclosing ``x``. regorus refuses both forms ("used before definition", "duplicated
        definition of local variable"), so the inner variable gets a name of its own.
        """
        stmts: Sequence[Any] = compr["query"].get("stmts") or []
        for i, stmt in enumerate(stmts):
            if not isinstance(stmt, dict):
                continue
            for old in sorted(self.declared_by(stmt) & declared):
                if old == "_":
                    continue
                new = self.fresh(old)
                self.rename_declaration(stmt, old, new)
                self.rename(list(stmts[i + 1 :]), old, new)
                self.rename([compr.get(t) for t in _HEAD_TERMS], old, new)
        self.query(stmts, declared)
        body_declared = set(declared)
        for stmt in stmts:
            if isinstance(stmt, dict):
                body_declared |= self.declared_by(stmt)
        self.visit([compr.get(t) for t in _HEAD_TERMS], frozenset(body_declared))

    def rename_declaration(self, stmt: Mapping[str, Any], old: str, new: str) -> None:
        """Rename ``old`` where ``stmt`` declares it (not where it reads it: ``x := x + 1`` reads the outer ``x``)."""
        literal = stmt.get("literal") or {}
        assign = _assignment(stmt)
        where: Any = None
        if assign is not None:
            where = assign.get("lhs")
        elif isinstance(literal.get("SomeIn"), dict):
            where = [literal["SomeIn"].get("key"), literal["SomeIn"].get("value")]
        elif isinstance(literal.get("SomeVars"), dict):
            raw = self.source.encode("utf-8")
            for sp in literal["SomeVars"].get("vars") or []:
                start, end = int(sp["start"]), int(sp["end"])
                if raw[start:end].decode("utf-8", "replace") == old:
                    self.edits[(start, end)] = new
                    self.sites.append((int(sp.get("line", 0)), int(sp.get("col", 0)), old))
            return
        for var in _vars(where):
            span = var.get("span") or {}
            if var["value"] == old and "start" in span:
                self.edits[(int(span["start"]), int(span["end"]))] = new
                self.sites.append((int(span.get("line", 0)), int(span.get("col", 0)), old))

    def apply(self) -> str:
        raw = self.source.encode("utf-8")
        for (start, end), new in sorted(self.edits.items(), reverse=True):
            raw = raw[:start] + new.encode("utf-8") + raw[end:]
        return raw.decode("utf-8")


def rename_shadowed(modules: Sequence[RegoModule], ast_json: str) -> tuple[list[RegoModule], list[str]]:
    """``modules`` with inner redeclared comprehension variables renamed, from the engine's ``get_ast_as_json()``.

    Returns the modules (unchanged objects where nothing was renamed) and one ``file:line:col: name`` per
    renamed declaration. ``ast_json`` must describe the same modules (the engine holds them as parsed, after
    ``v0_compat``: its text is the one edited).
    """
    by_path = {entry["source"]["file"]: entry for entry in json.loads(ast_json)}
    out: list[RegoModule] = []
    sites: list[str] = []
    for mod in modules:
        entry = by_path.get(mod.path)
        if entry is None:
            out.append(mod)
            continue
        renamer = _Renamer(str(entry["source"]["contents"]))
        renamer.rules(entry["ast"].get("rules") or [])
        if not renamer.edits:
            out.append(mod)
            continue
        sites.extend(f"{mod.path}:{line}:{col}: {name}" for line, col, name in renamer.sites)
        out.append(replace(mod, source=renamer.apply()))
    return out, sites
