"""conftest's evaluation contract on top of an :class:`Evaluator`.

Rules ``deny``/``violation`` (failures) and ``warn`` (warnings), with ``_suffix`` variants; results are
strings or objects with a string ``msg`` (other keys are metadata, ``_loc`` is the location);
``exception`` rules list rule names (without the ``deny_``/``violation_``/``warn_`` prefix) whose results
are turned into exceptions; successes are counted per rule definition as conftest does.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.errors import PolicyError
from auditor.policy.engine import (
    KIND_GATE_RULE,
    UNDEFINED,
    EvalError,
    Evaluator,
    PackagePlan,
    Plan,
    RuleError,
)
from auditor.policy.loader import FAILURE_RULE, WARNING_RULE, RegoModule

__all__ = ["KIND_GATE_RULE"]  # re-exported: callers name the gate rule through this module


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
    errors: tuple[tuple[str, str], ...] = ()
    """``(data.<ns>.<rule>, error)`` of each rule that failed to evaluate: its results are unknown."""

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
            self.errors + other.errors,
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


def package_plan(ns: NamespaceRules, *, gate: bool = False) -> PackagePlan:
    """The rules of ``ns`` to ask for by name (``exception`` last, when the package has one)."""
    return PackagePlan(ns.namespace, ns.rules + (("exception",) if ns.has_exception else ()), gate)


def build_plan(spaces: Sequence[NamespaceRules], *, gates: bool = True) -> Plan:
    """What evaluates every rule of ``spaces`` on one input; with ``gates``, gated packages check the kind first.

    With ``gates=False`` the ``gitops_audit_kinds`` gates are left out (the caller already applied them).
    """
    return tuple(package_plan(ns, gate=gates and ns.kind_gate) for ns in spaces if ns.rules)


def _result(value: Any, rule: str, namespace: str) -> RuleResult | None:
    if isinstance(value, str):
        return RuleResult(value, rule, namespace)
    if isinstance(value, Mapping):
        msg = value.get("msg")
        if not isinstance(msg, str):
            raise EvalError("result objects need a string 'msg' field")
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
    errors: list[tuple[str, str]] = [
        (f"data.{ns.namespace}.{rule}", value.message)
        for rule, value in values.items()
        if isinstance(value, RuleError) and rule not in ns.rules
    ]  # the kind gate and the exception rule
    exception_value = values.get("exception") if ns.has_exception else None
    excepted_names = _exception_names(exception_value)
    successes = 0
    failures: list[RuleResult] = []
    warnings: list[RuleResult] = []
    exceptions: list[RuleResult] = []
    excepted: list[RuleResult] = []
    for rule in ns.rules:
        raw = values.get(rule, UNDEFINED)
        if isinstance(raw, RuleError):
            errors.append((f"data.{ns.namespace}.{rule}", raw.message))
            continue
        items = raw if isinstance(raw, list) else []
        try:
            results = [r for r in (_result(v, rule, ns.namespace) for v in items) if r is not None]
        except EvalError as exc:
            errors.append((f"data.{ns.namespace}.{rule}", str(exc)))
            continue
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
    counted = len(failures) + len(warnings) + len(exceptions) + successes + len(errors)
    if counted < ns.rule_count:
        successes += ns.rule_count - counted
    return CheckResult(
        filename,
        ns.namespace,
        successes,
        tuple(failures),
        tuple(warnings),
        tuple(exceptions),
        tuple(excepted),
        tuple(errors),
    )


def evaluate_namespaces(
    evaluator: Evaluator, spaces: Sequence[NamespaceRules], input_doc: Any, filename: str
) -> list[CheckResult]:
    """Evaluate all namespaces for one input, rule by rule (``policy test``; audits batch via the runner)."""
    plan = document_plan(evaluator, spaces, input_doc)
    value = evaluator.evaluate(plan, input_doc) if plan else {}
    return check_results(value, spaces, filename)


def document_plan(evaluator: Evaluator, spaces: Sequence[NamespaceRules], input_doc: Any) -> Plan:
    """The rules of ``spaces`` that apply to ``input_doc`` (``()`` for none); evaluate with ``Evaluator.evaluate``."""
    return planner(evaluator, spaces)(input_doc)


def planner(evaluator: Evaluator, spaces: Sequence[NamespaceRules]) -> Callable[[Any], Plan]:
    """:func:`document_plan` for the many documents of one evaluator: gates resolved once, a plan per kind."""
    active = tuple(ns for ns in spaces if ns.rules)
    if not active:
        return lambda _doc: ()
    gates = _kind_gates(evaluator, active)
    if gates is None:
        plan_all = _cached_plan(active, True)
        return lambda _doc: plan_all
    by_kind: dict[str | None, Plan] = {}
    everything = _cached_plan(active, False)

    def plan(input_doc: Any) -> Plan:
        if not isinstance(input_doc, dict | Mapping):  # dict first: an ABC check per document adds up
            # A combined input (a list of documents): a gate names the kinds a package reads, and such
            # an input holds many kinds, so every package runs (as conftest --combine would run them).
            return everything
        kind = input_doc.get("kind")
        if not isinstance(kind, str):
            kind = None  # a gate admits no such document, as `input.kind in <set of strings>` would
        found = by_kind.get(kind)
        if found is None:
            # Gates applied here: a package skipped for this kind costs nothing, and a document no
            # package applies to is not evaluated at all.
            admitted = tuple(ns for ns in active if _gate_admits(gates.get(ns.namespace), kind))
            found = by_kind[kind] = _cached_plan(admitted, False) if admitted else ()
        return found

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
    """Whether a plan's value holds any rule result or error (else every namespace simply passed)."""
    if not isinstance(value, dict):  # values come from JSON: plain dicts
        return False
    return any(
        isinstance(rules, dict)
        and any((v and k != "exception") or isinstance(v, RuleError) for k, v in rules.items())
        for rules in value.values()
    )


def check_results(value: Any, spaces: Sequence[NamespaceRules], filename: str) -> list[CheckResult]:
    """Conftest results per namespace from the value of a plan (:meth:`Evaluator.evaluate`)."""
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
def _cached_plan(spaces: tuple[NamespaceRules, ...], gates: bool) -> Plan:
    # Few distinct combinations of packages occur (one per kind family): build each once.
    return build_plan(spaces, gates=gates)


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
    a constant set of kind names. Evaluating it in the per-document evaluation cost up to 0.2 ms per package
    and document, most of a non-workload document's time. When a gate is not a set of strings or fails
    to evaluate (or is undefined without input), each document evaluates the gate first (exact, slower).
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
            value = evaluator.rule(f"data.{ns.namespace}.{KIND_GATE_RULE}", {})
        except EvalError:
            usable = False
            break
        if value is UNDEFINED:
            # Undefined without input: it may depend on the document, so it is checked per document.
            usable = False
            break
        if isinstance(value, list) and all(isinstance(k, str) for k in value):
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
