"""conftest's evaluation contract on top of an :class:`Evaluator`.

Rules ``deny``/``violation`` (failures) and ``warn`` (warnings), with ``_suffix`` variants; results are
strings or objects with a string ``msg`` (other keys are metadata, ``_loc`` is the location);
``exception`` rules list rule names (without the ``deny_``/``violation_``/``warn_`` prefix) whose results
are turned into exceptions; successes are counted per rule definition as conftest does.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.errors import PolicyError
from auditor.policy.engine import UNDEFINED, EvalError, Evaluator
from auditor.policy.loader import FAILURE_RULE, WARNING_RULE, RegoModule

KIND_GATE_RULE = "gitops_audit_kinds"
"""Optional set rule of a package: the only ``kind`` values its rules can fire on (a speed-up, per document)."""


@dataclass(frozen=True)
class NamespaceRules:
    """The deny/violation/warn rules of one Rego package."""

    namespace: str
    rules: tuple[str, ...]
    """Unique rule names in first-seen order."""
    rule_count: int
    """Number of rule definitions (a rule with two bodies counts twice, as in conftest)."""
    has_exception: bool = False
    kind_gate: bool = False
    """The package defines ``gitops_audit_kinds`` (a set of kinds): documents of other kinds skip it."""


@dataclass(frozen=True)
class RuleResult:
    """One message produced by a rule."""

    msg: str
    rule: str
    """Rule name, e.g. ``deny`` or ``warn_latest``."""
    namespace: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Every key of an object result except ``msg`` and ``_loc``."""
    location: Mapping[str, Any] | None = None
    """``_loc`` of the result (``{file, line}``) when the policy gave one."""

    @property
    def is_failure(self) -> bool:
        """True for deny/violation rules."""
        return bool(FAILURE_RULE.match(self.rule))


@dataclass(frozen=True)
class CheckResult:
    """conftest's per-file, per-namespace result."""

    filename: str
    namespace: str
    successes: int = 0
    failures: tuple[RuleResult, ...] = ()
    warnings: tuple[RuleResult, ...] = ()
    exceptions: tuple[RuleResult, ...] = ()
    excepted: tuple[RuleResult, ...] = ()
    """Results hidden by an ``exception`` rule (not part of conftest's output; audits report them suppressed)."""

    def merged(self, other: CheckResult) -> CheckResult:
        """Aggregate two results for the same file (multi-document YAML)."""
        return CheckResult(
            self.filename,
            self.namespace,
            self.successes + other.successes,
            self.failures + other.failures,
            self.warnings + other.warnings,
            self.exceptions + other.exceptions,
            self.excepted + other.excepted,
        )


def namespace_rules(modules: Sequence[RegoModule]) -> dict[str, NamespaceRules]:
    """Group the evaluated rules of non-test modules by package."""
    names: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    exceptions: set[str] = set()
    gated: set[str] = set()
    for mod in modules:
        if mod.is_test:
            continue
        names.setdefault(mod.package, [])
        counts.setdefault(mod.package, 0)
        for rule in mod.rules:
            if rule == "exception":
                exceptions.add(mod.package)
            if rule == KIND_GATE_RULE:
                gated.add(mod.package)
            if FAILURE_RULE.match(rule) or WARNING_RULE.match(rule):
                counts[mod.package] += 1
                if rule not in names[mod.package]:
                    names[mod.package].append(rule)
    return {
        ns: NamespaceRules(ns, tuple(names[ns]), counts[ns], ns in exceptions, ns in gated) for ns in names
    }


def build_query(spaces: Sequence[NamespaceRules], *, gates: bool = True) -> str:
    """One query returning ``{namespace: {rule: value}}``; undefined rules are simply absent.

    With ``gates=False`` the ``gitops_audit_kinds`` gates are left out (the caller already applied them).
    """
    parts = []
    for ns in spaces:
        keys = list(ns.rules) + (["exception"] if ns.has_exception else [])
        if not keys:
            continue
        # A gated package is skipped for other kinds before any of its rules runs (evaluating a rule
        # body costs tens of microseconds even when its first statement fails).
        gate = f"input.kind in data.{ns.namespace}.{KIND_GATE_RULE}; " if ns.kind_gate and gates else ""
        parts.append(
            f"{json.dumps(ns.namespace)}: {{k: v | {gate}some k in {json.dumps(keys)}; v := data.{ns.namespace}[k]}}"
        )
    return "{" + ", ".join(parts) + "}"


def _result(value: Any, rule: str, namespace: str) -> RuleResult | None:
    if isinstance(value, str):
        return RuleResult(value, rule, namespace)
    if isinstance(value, Mapping):
        msg = value.get("msg")
        if not isinstance(msg, str):
            raise EvalError(f"data.{namespace}.{rule}: result objects need a string 'msg' field")
        loc = value.get("_loc")
        meta = {k: v for k, v in value.items() if k not in ("msg", "_loc")}
        return RuleResult(msg, rule, namespace, meta, loc if isinstance(loc, Mapping) else None)
    return None  # conftest ignores other value types


def _exception_names(value: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(value, list):
        for entry in value:
            if isinstance(entry, list):
                names.update(x for x in entry if isinstance(x, str))
    return names


def _strip_prefix(rule: str) -> str:
    # conftest trims each prefix in turn (so `violation_deny_x` names exception `x`).
    for prefix in ("violation_", "deny_", "warn_"):
        rule = rule.removeprefix(prefix)
    return rule


def interpret(values: Mapping[str, Any], ns: NamespaceRules, filename: str) -> CheckResult:
    """Turn the raw rule values of one namespace into a conftest :class:`CheckResult`."""
    excepted_names = _exception_names(values.get("exception")) if ns.has_exception else set()
    successes = 0
    failures: list[RuleResult] = []
    warnings: list[RuleResult] = []
    exceptions: list[RuleResult] = []
    excepted: list[RuleResult] = []
    for rule in ns.rules:
        raw = values.get(rule, UNDEFINED)
        items = raw if isinstance(raw, list) else []
        results = [r for r in (_result(v, rule, ns.namespace) for v in items) if r is not None]
        name = _strip_prefix(rule)
        if name in excepted_names:
            query = f'data.{ns.namespace}.exception[_][_] == "{name}"'
            exceptions.append(RuleResult(query, rule, ns.namespace))
            excepted.extend(results)
            continue
        if not results:
            successes += 1
        elif FAILURE_RULE.match(rule):
            failures.extend(results)
        else:
            warnings.extend(results)
    counted = len(failures) + len(warnings) + len(exceptions) + successes
    if counted < ns.rule_count:
        successes += ns.rule_count - counted
    return CheckResult(
        filename, ns.namespace, successes, tuple(failures), tuple(warnings), tuple(exceptions), tuple(excepted)
    )


def evaluate_namespaces(
    evaluator: Evaluator, spaces: Sequence[NamespaceRules], input_doc: Any, filename: str
) -> list[CheckResult]:
    """Evaluate all namespaces for one input with one query (``policy test``; audits batch via the runner)."""
    query = document_query(evaluator, spaces, input_doc)
    value = evaluator.query_always_defined(query, input_doc) if query else {}
    return check_results(value, spaces, filename)


def document_query(evaluator: Evaluator, spaces: Sequence[NamespaceRules], input_doc: Any) -> str:
    """The one query that evaluates every package of ``spaces`` applying to ``input_doc`` ("" for none).

    The query is always defined (an object literal); its value goes to :func:`check_results`.
    """
    return query_planner(evaluator, spaces)(input_doc)


def query_planner(evaluator: Evaluator, spaces: Sequence[NamespaceRules]) -> Callable[[Any], str]:
    """:func:`document_query` for the many documents of one evaluator: gates resolved once, a query per kind."""
    active = tuple(ns for ns in spaces if ns.rules)
    if not active:
        return lambda _doc: ""
    gates = _kind_gates(evaluator, active)
    if gates is None:
        query = _cached_query(active, True)
        return lambda _doc: query
    by_kind: dict[str | None, str] = {}
    everything = _cached_query(active, False)

    def plan(input_doc: Any) -> str:
        if not isinstance(input_doc, dict | Mapping):  # dict first: an ABC check per document adds up
            # A combined input (a list of documents): a gate names the kinds a package reads, and such
            # an input holds many kinds, so every package runs (as conftest --combine would run them).
            return everything
        kind = input_doc.get("kind")
        if not isinstance(kind, str):
            kind = None  # a gate admits no such document, as `input.kind in <set of strings>` would
        query = by_kind.get(kind)
        if query is None:
            # Gates applied here: a package skipped for this kind costs nothing, and a document no
            # package applies to is not evaluated at all.
            admitted = tuple(ns for ns in active if _gate_admits(gates.get(ns.namespace), kind))
            query = by_kind[kind] = _cached_query(admitted, False) if admitted else ""
        return query

    return plan


def combined_kinds(evaluator: Evaluator, spaces: Sequence[NamespaceRules]) -> frozenset[str] | None:
    """Kinds a combined input needs for ``spaces``: the union of their gates; ``None`` = every document.

    For a combined package, ``gitops_audit_kinds`` names the kinds its rules read: documents of other
    kinds can be left out of its input (most of a cluster, for RBAC or quota rules). One ungated package,
    or a gate that is not a constant set of kind names, keeps every document.
    """
    active = tuple(ns for ns in spaces if ns.rules)
    if not active or not all(ns.kind_gate for ns in active):
        return None
    gates = _kind_gates(evaluator, active)
    if gates is None or any(gates.get(ns.namespace) is _ALWAYS for ns in active):
        return None
    return frozenset().union(*(gates[ns.namespace] or () for ns in active))


def packages_reading(
    evaluator: Evaluator, spaces: Sequence[NamespaceRules], kinds: Collection[str]
) -> tuple[NamespaceRules, ...]:
    """The packages of ``spaces`` whose gate names one of ``kinds`` (or that have no usable gate)."""
    active = tuple(ns for ns in spaces if ns.rules)
    gates = _kind_gates(evaluator, active)
    if gates is None:
        return active
    return tuple(ns for ns in active if (g := gates.get(ns.namespace)) is _ALWAYS or not g.isdisjoint(kinds))


def has_results(value: Any) -> bool:
    """Whether a query value holds any rule result (else every namespace simply passed)."""
    if not isinstance(value, dict):  # values come from JSON: plain dicts
        return False
    return any(
        isinstance(rules, dict) and any(v for k, v in rules.items() if k != "exception")
        for rules in value.values()
    )


def check_results(value: Any, spaces: Sequence[NamespaceRules], filename: str) -> list[CheckResult]:
    """Conftest results per namespace from the value of a :func:`document_query` query."""
    if value is UNDEFINED or not isinstance(value, Mapping):
        value = {}
    out = []
    for ns in spaces:
        if ns.rules:
            out.append(interpret(value.get(ns.namespace) or {}, ns, filename))
        else:
            out.append(CheckResult(filename, ns.namespace))
    return out


@functools.lru_cache(maxsize=256)
def _cached_query(spaces: tuple[NamespaceRules, ...], gates: bool) -> str:
    # Few distinct combinations of packages occur (one per kind family): build each once.
    return build_query(spaces, gates=gates)


_ALWAYS = None
"""Gate of an ungated package: every document."""

_GATES: weakref.WeakKeyDictionary[Evaluator, dict[tuple[NamespaceRules, ...], dict[str, frozenset[str] | None] | None]]
_GATES = weakref.WeakKeyDictionary()


def _gate_admits(gate: frozenset[str] | None, kind: Any) -> bool:
    # Same outcome as `input.kind in <set of strings>`: a missing or non-string kind matches nothing.
    return gate is _ALWAYS or (isinstance(kind, str) and kind in gate)


def _kind_gates(
    evaluator: Evaluator, spaces: tuple[NamespaceRules, ...]
) -> dict[str, frozenset[str] | None] | None:
    """Kinds each package applies to (``None`` = all), evaluated once per evaluator; ``None`` when unknown.

    ``gitops_audit_kinds`` is evaluated once per evaluator (target and side) without input: it must be
    a constant set of kind names. Evaluating it in the per-document query cost up to 0.2 ms per package
    and document, most of a non-workload document's time. When a gate is not a set of strings or fails
    to evaluate, the gates stay in the query (the previous, exact behaviour).
    """
    if not any(ns.kind_gate for ns in spaces):
        return None
    per_evaluator = _GATES.setdefault(evaluator, {})
    if spaces in per_evaluator:
        return per_evaluator[spaces]
    found: dict[str, frozenset[str] | None] = {}
    usable = True
    for ns in spaces:
        if not ns.kind_gate:
            found[ns.namespace] = _ALWAYS
            continue
        try:
            value = evaluator.query(f"data.{ns.namespace}.{KIND_GATE_RULE}", {})
        except EvalError:
            usable = False
            break
        if value is UNDEFINED:
            found[ns.namespace] = frozenset()  # `input.kind in <undefined>` never holds
        elif isinstance(value, list) and all(isinstance(k, str) for k in value):
            found[ns.namespace] = frozenset(value)
        else:  # an object or mixed values: keep Rego's own `in`
            usable = False
            break
    gates = found if usable else None
    per_evaluator[spaces] = gates
    return gates


def select_namespaces(
    all_spaces: Mapping[str, NamespaceRules], wanted: Sequence[str], all_namespaces: bool
) -> list[NamespaceRules]:
    """Namespaces to evaluate: all of them, or the wanted ones (missing ones evaluate to nothing)."""
    if all_namespaces:
        return [all_spaces[k] for k in sorted(all_spaces)]
    if not wanted:
        raise PolicyError("evaluate policies: no namespace selected")
    return [all_spaces.get(ns) or NamespaceRules(ns, (), 0) for ns in dict.fromkeys(wanted)]
