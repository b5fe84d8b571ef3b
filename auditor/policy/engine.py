"""Rego engines behind one small interface: embedded regorus (default) and an OPA server (``opa.py``).

An engine compiles a set of modules plus a base ``data`` document once; evaluation then runs queries
with an ``input`` and an optional data overlay (``data.gitops_audit`` for the target and side).
"""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.errors import PolicyError
from auditor.policy.loader import RegoModule, strip_comments_and_strings
from auditor.policy.plan import (
    KIND_GATE_RULE,
    PackagePlan,
    Plan,
    PlanResult,
    RuleError,
    gate_admits,
    plan_query,
    plan_value,
    rego_equal,
)

__all__ = [  # the plan types are part of the engine interface: importable from here too
    "KIND_GATE_RULE", "PackagePlan", "Plan", "PlanResult", "RuleError", "gate_admits", "plan_query", "plan_value",
    "rego_equal",
]


class Undefined:
    """Marker for a query whose result is undefined (no value), distinct from ``None``/``null``."""

    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        """Singleton."""
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED = Undefined()


class EvalError(Exception):
    """Evaluating a query failed (a runtime error in a policy, not a compile error)."""


_LOCATION = re.compile(r"-->\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)")
_ERROR_LINE = re.compile(r"^\s*error:\s*(?P<msg>.+)$", re.MULTILINE)


def format_regorus_error(text: str) -> str:
    """Turn regorus' multi-line diagnostic (with a Rust backtrace) into ``file:line:col: message``."""
    loc = _LOCATION.search(text)
    err = _ERROR_LINE.search(text)
    msg = err.group("msg").strip() if err else text.strip().splitlines()[0] if text.strip() else "error"
    if loc:
        return f"{loc.group('file')}:{loc.group('line')}:{loc.group('col')}: {msg}"
    return msg


class Evaluator(ABC):
    """A compiled policy set that answers queries."""

    @abstractmethod
    def query(self, query: str, input_doc: Any) -> Any:
        """Value of the first expression of ``query`` with ``input``; :data:`UNDEFINED` when undefined.

        Raises :class:`EvalError` on a runtime error.
        """

    @abstractmethod
    def with_data(self, overlay: Mapping[str, Any]) -> Evaluator:
        """An evaluator that also sees ``overlay`` merged into ``data`` (the receiver is not changed)."""

    def rule(self, path: str, input_doc: Any) -> Any:
        """Value of the rule ``path`` (``data.ns.rule``) with ``input``; :data:`UNDEFINED` when undefined."""
        return self.query(path, input_doc)

    def evaluate(self, plan: Plan, input_doc: Any) -> PlanResult:
        """Evaluate every rule of ``plan`` by name; a rule that fails gives a :class:`RuleError`, the rest go on."""
        out: PlanResult = {}
        for pkg in plan:
            if pkg.gate:
                try:
                    gate = self.rule(f"data.{pkg.namespace}.{KIND_GATE_RULE}", input_doc)
                except EvalError as exc:
                    out[pkg.namespace] = {KIND_GATE_RULE: RuleError(str(exc))}
                    continue
                if not gate_admits(gate, input_doc):
                    continue
            values: dict[str, Any] = {}
            for name in pkg.rules:
                try:
                    value = self.rule(f"data.{pkg.namespace}.{name}", input_doc)
                except EvalError as exc:
                    value = RuleError(str(exc))
                if value is not UNDEFINED:
                    values[name] = value
            out[pkg.namespace] = values
        return out


def _expression_value(result: Mapping[str, Any]) -> Any:
    rows = result.get("result") or []
    if not rows:
        return UNDEFINED
    exprs = rows[0].get("expressions") or []
    if not exprs:
        return UNDEFINED
    return exprs[0].get("value", UNDEFINED)


def _is_interrupt(exc: BaseException) -> bool:
    # pyo3 turns a Rust panic into PanicException, a BaseException: treat it as an evaluation error,
    # but never swallow a real interrupt.
    return isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit)


@dataclass
class _Slot:
    """A regorus engine owned by one thread."""

    engine: Any


class _Recipe:
    """How to build an engine, once per thread.

    The binding's engines are bound to the thread that made them (pyo3 "unsendable"), so each thread
    builds its own from this recipe.
    """

    def __init__(self, modules: Sequence[RegoModule], data: Mapping[str, Any]) -> None:
        self.modules = tuple(modules)
        self.data = dict(data)
        self._local = threading.local()

    def build(self) -> Any:
        try:
            import regorus
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise PolicyError(
                "load policies: the embedded engine needs the 'gordon-to-regorus' package (module regorus)"
            ) from exc
        engine = regorus.Engine()
        for mod in self.modules:
            _add_policy_any_version(engine, mod)
        if self.data:
            try:
                engine.add_data(self.data)
            except Exception as exc:  # the binding raises plain RuntimeError/ValueError
                raise PolicyError(f"load data: {format_regorus_error(str(exc))}") from exc
        return engine

    def base(self) -> _Slot:
        """Engine of the calling thread, with the policies and base data."""
        slot: _Slot | None = getattr(self._local, "slot", None)
        if slot is None:
            slot = _Slot(self.build())
            self._local.slot = slot
        return slot


def _opa_scoped(modules: Sequence[RegoModule], engine: Any) -> list[RegoModule] | None:
    """The modules with OPA's scoping of redeclared comprehension variables spelled out (``shadow.py``), or None.

    regorus refuses (at evaluation) a comprehension that reads an enclosing variable and then declares one of
    the same name; OPA accepts it. A textual pre-check keeps the AST export off the common path.
    """
    if not any(":=" in mod.source and ("[" in mod.source or "{" in mod.source) for mod in modules):
        return None
    get_ast = getattr(engine, "get_ast_as_json", None)
    if get_ast is None:
        return None
    from auditor.policy.shadow import rename_shadowed

    try:
        renamed, sites = rename_shadowed(modules, get_ast())
    except Exception:  # the binding raises plain RuntimeError; without an AST nothing is renamed
        return None
    return renamed if sites else None


def _rule_value(engine: Any, path: str) -> Any:
    try:
        raw = engine.eval_rule_as_json(path)
    except RuntimeError as exc:
        if "not a valid rule path" not in str(exc):
            raise
        # Not a rule of any module (a package without that rule): what a query of that path gives.
        return _expression_value(json.loads(engine.eval_query_as_json(path)))
    # regorus reports an undefined rule as the JSON string "<undefined>"; a rule whose value is that string
    # would read the same, so it is confirmed with a query (rare: only for that exact string).
    value = json.loads(raw)
    if value == "<undefined>":
        return _expression_value(json.loads(engine.eval_query_as_json(path)))
    return value


class RegorusEvaluator(Evaluator):
    """Embedded engine: Microsoft's regorus (Rust) through the ``gordon-to-regorus`` binding (module ``regorus``).

    Thread-safe: every thread lazily gets its own engine (a clone of its thread's base engine plus this
    evaluator's data overlays).
    """

    def __init__(self, recipe: _Recipe, overlays: tuple[Mapping[str, Any], ...] = ()) -> None:
        self._recipe = recipe
        self._overlays = overlays
        self._local = threading.local()

    @classmethod
    def compile(cls, modules: Sequence[RegoModule], data: Mapping[str, Any]) -> RegorusEvaluator:
        """Load modules (v1 syntax, falling back to v0 per file) and data; raise PolicyError with file:line:col."""
        recipe = _Recipe(modules, data)
        engine = recipe.base().engine  # compile now, in the caller's thread, so errors surface at load time
        renamed = _opa_scoped(modules, engine)
        if renamed is not None:
            recipe = _Recipe(renamed, data)
            recipe.base()
        return cls(recipe)

    def _slot(self) -> _Slot:
        slot: _Slot | None = getattr(self._local, "slot", None)
        if slot is None:
            base = self._recipe.base()
            if not self._overlays:
                slot = base
            else:
                slot = _Slot(base.engine.clone())
                for overlay in self._overlays:
                    try:
                        slot.engine.add_data(dict(overlay))
                    except Exception as exc:
                        raise PolicyError(f"load data: {format_regorus_error(str(exc))}") from exc
            self._local.slot = slot
        return slot

    def query(self, query: str, input_doc: Any) -> Any:
        """See :meth:`Evaluator.query`."""
        engine = self._slot().engine
        try:
            engine.set_input(input_doc)
            raw = engine.eval_query_as_json(query)
        except BaseException as exc:
            if _is_interrupt(exc):
                raise
            raise EvalError(format_regorus_error(str(exc))) from exc
        return _expression_value(json.loads(raw))

    def rule(self, path: str, input_doc: Any) -> Any:
        """See :meth:`Evaluator.rule` (``eval_rule``: no query to parse and plan on each call)."""
        engine = self._slot().engine
        try:
            engine.set_input(input_doc)
            return _rule_value(engine, path)
        except BaseException as exc:
            if _is_interrupt(exc):
                raise
            raise EvalError(format_regorus_error(str(exc))) from exc

    def evaluate(self, plan: Plan, input_doc: Any) -> PlanResult:
        """See :meth:`Evaluator.evaluate`: the input is set once, then each rule is evaluated with ``eval_rule``."""
        if not plan:
            return {}
        engine = self._slot().engine
        try:
            # The binding converts Python values directly: about 3x cheaper than json.dumps + set_input_json
            # (same values for JSON-compatible inputs, which manifests are).
            engine.set_input(input_doc)
        except BaseException as exc:
            if _is_interrupt(exc):
                raise
            raise EvalError(format_regorus_error(str(exc))) from exc
        out: PlanResult = {}
        for pkg in plan:
            if pkg.gate:
                try:
                    gate = _rule_value(engine, f"data.{pkg.namespace}.{KIND_GATE_RULE}")
                except BaseException as exc:
                    if _is_interrupt(exc):
                        raise
                    out[pkg.namespace] = {KIND_GATE_RULE: RuleError(format_regorus_error(str(exc)))}
                    continue
                if not gate_admits(gate, input_doc):
                    continue
            values: dict[str, Any] = {}
            for name in pkg.rules:
                try:
                    value = _rule_value(engine, f"data.{pkg.namespace}.{name}")
                except BaseException as exc:
                    if _is_interrupt(exc):
                        raise
                    value = RuleError(format_regorus_error(str(exc)))
                if value is not UNDEFINED:
                    values[name] = value
            out[pkg.namespace] = values
        return out

    def with_data(self, overlay: Mapping[str, Any]) -> RegorusEvaluator:
        """See :meth:`Evaluator.with_data`."""
        evaluator = RegorusEvaluator(self._recipe, (*self._overlays, dict(overlay)))
        evaluator._slot()  # apply the overlay now so a conflict with the data files raises here
        return evaluator


# Strings and comments, removed before looking for keywords: `msg := "deny if ..."` is no v1 syntax.
_V1_KEYWORD = re.compile(r"\bif\b|\bcontains\b(?!\s*\()")
_FUTURE_KEYWORDS = re.compile(r"^\s*import\s+future\.keywords\b", re.MULTILINE)


def _looks_v0(source: str) -> bool:
    # v0 heads: `deny[msg] {` or `name { ... }` without the `if` keyword. `contains` is not a hint: v0 policies
    # call the built-in `contains(...)`, only the keyword form (`deny contains msg`) is v1.
    return not _V1_KEYWORD.search(strip_comments_and_strings(source))


def _v1_only(source: str) -> bool:
    # `if`/`contains` keywords without `import future.keywords…` are not v0 (OPA's v0 parser rejects them;
    # regorus' v0 parser reads them as identifiers and loads a policy that fails when evaluated).
    return not _looks_v0(source) and not _FUTURE_KEYWORDS.search(source)


# v1 parse errors that mean "this rule head is v0 syntax": the v1 parser stops at the first v0 head, so the v0
# parser's error (further into the file) is the real mistake.
_V1_ONLY_KEYWORD = re.compile(r"`(?:if|contains)` keyword is required")
_ERROR_POSITION = re.compile(r":(\d+):(\d+): ")


def _error_position(error: str) -> tuple[int, int]:
    m = _ERROR_POSITION.search(error)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _v0_or_v1_error(source: str, v1_error: str, v0_error: str) -> str:
    """The more useful of the two parse errors of a file that neither parser accepts.

    Each parser stops at the first thing it cannot read, so the one that got further into the file understood
    more of it: the v1 parser stops at the first v0 rule head ("`if` keyword is required"), the v0 parser at the
    first v1 keyword. A file with no v1 keyword at all is v0; on a tie, a v1 "keyword is required" error
    means a v0 head, so the v0 error is shown. A v1 file that forgot one `if` keeps the v1 error (further on).
    """
    if _looks_v0(source):
        return v0_error
    p0, p1 = _error_position(v0_error), _error_position(v1_error)
    if p0 != p1:
        return v0_error if p0 > p1 else v1_error
    return v0_error if _V1_ONLY_KEYWORD.search(v1_error) else v1_error


# Built-ins that OPA deprecated (still accepted by OPA/conftest for v0 policies) and regorus lacks,
# with their drop-in replacements. Only applied to files that need the v0 parser.
_DEPRECATED_V0_BUILTINS = {"re_match": "regex.match"}
_DEPRECATED_CALL = re.compile(r"(?<![\w.])(re_match)\(")


def v0_compat(source: str) -> str:
    """Rewrite deprecated v0 built-ins that have an exact modern equivalent (``re_match`` → ``regex.match``)."""
    return _DEPRECATED_CALL.sub(lambda m: _DEPRECATED_V0_BUILTINS[m.group(1)] + "(", source)


def _add_policy_any_version(engine: Any, mod: RegoModule) -> None:
    """Add one module as Rego v1; when that fails, retry as v0 (conftest's ``--rego-version v0``)."""
    engine.set_rego_v0(False)
    try:
        engine.add_policy(mod.path, mod.source)
        return
    except Exception as exc:
        v1_error = format_regorus_error(str(exc))
    if mod.v1 or _v1_only(mod.source):
        raise PolicyError(f"{v1_error} (compile policy)")
    # The parser state is per call, so retrying the same file in v0 mode is safe.
    engine.set_rego_v0(True)
    try:
        engine.add_policy(mod.path, v0_compat(mod.source))
    except Exception as exc:
        v0_error = format_regorus_error(str(exc))
        raise PolicyError(f"{_v0_or_v1_error(mod.source, v1_error, v0_error)} (compile policy)") from None
    finally:
        engine.set_rego_v0(False)
