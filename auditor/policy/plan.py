"""What an engine evaluates on one input: rules of packages, each asked for by its full name.

Shared by every engine (``engine.py``, ``opa_go.py``, ``opa.py``) and the planner (``check.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PackagePlan:
    """Rules of one package to evaluate on a document, each queried by its full name (``data.<ns>.<rule>``).

    Rules are never read through a comprehension over the package (``data.ns[k]``): an engine bug there
    (regorus evaluating a whole package resolves the second module's imports wrongly) would empty results
    without an error. Asking for every rule by name is what conftest does too.
    """

    namespace: str
    rules: tuple[str, ...]
    """Rule names (``deny``, ``warn_x``, ``exception``…), in the order they are reported."""
    gate: bool = False
    """Evaluate ``data.<ns>.gitops_audit_kinds`` on the document first and skip the package unless
    ``input.kind in`` it (a gate that is not a constant set of kinds; constant gates are applied by the planner)."""


Plan = tuple[PackagePlan, ...]
"""What to evaluate on one input; an empty plan evaluates nothing (``{}``)."""


@dataclass(frozen=True)
class RuleError:
    """A rule whose evaluation failed on this input (its value is unknown; the other rules still count)."""

    message: str


PlanResult = dict[str, dict[str, Any]]
"""``{namespace: {rule: value | RuleError}}``: undefined rules are absent, a gated-out package is absent."""

KIND_GATE_RULE = "gitops_audit_kinds"
"""Optional set rule of a package: the only ``kind`` values its rules can fire on (a speed-up, per document)."""


def rego_equal(a: Any, b: Any) -> bool:
    """Equality of two JSON values as Rego compares them (``true`` is not ``1``; ``1`` equals ``1.0``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(rego_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(rego_equal(v, b[k]) for k, v in a.items())
    return bool(a == b)


def gate_admits(gate: Any, input_doc: Any) -> bool:
    """``input.kind in gate`` as Rego evaluates it (membership in a set/array, or among an object's values)."""
    if not isinstance(input_doc, dict) or "kind" not in input_doc:
        return False
    kind = input_doc["kind"]
    values = gate.values() if isinstance(gate, dict) else gate if isinstance(gate, list) else ()
    return any(rego_equal(kind, v) for v in values)


def plan_query(plan: Plan) -> str:
    """One Rego expression reading every rule of ``plan`` by its full name (for OPA, whose semantics are the reference).

    ``[v | v := data.ns.rule]`` is ``[]`` for an undefined rule and ``[value]`` otherwise; a gated package reads
    its rules (and a ``__gate`` marker) behind ``input.kind in data.ns.gitops_audit_kinds``. Decode with
    :func:`plan_value`.
    """
    parts = []
    for pkg in plan:
        gate = f"input.kind in data.{pkg.namespace}.{KIND_GATE_RULE}; " if pkg.gate else ""
        rules = [f"{json.dumps(r)}: [v | {gate}v := data.{pkg.namespace}.{r}]" for r in pkg.rules]
        if pkg.gate:
            rules.append(f'"__gate": [true | {gate}true]')
        parts.append(f"{json.dumps(pkg.namespace)}: {{{', '.join(rules)}}}")
    return "{" + ", ".join(parts) + "}"


def plan_value(plan: Plan, value: Any) -> PlanResult:
    """The :class:`PlanResult` of a :func:`plan_query` value."""
    out: PlanResult = {}
    if not isinstance(value, dict):
        return out
    for pkg in plan:
        found = value.get(pkg.namespace) or {}
        if pkg.gate and not found.get("__gate"):
            continue  # turned away by the gate, as with the other engines
        out[pkg.namespace] = {r: found[r][0] for r in pkg.rules if isinstance(found.get(r), list) and found[r]}
    return out
