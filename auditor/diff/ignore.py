"""Ignore rules (Argo CD ``ignoreDifferences`` semantics), from config and from an object annotation.

A rule never deletes a difference: it marks it ``suppressed_by`` so reports still count and list
it. Rules whose selector matched no object, or whose pointers/expressions/managers matched nothing
in the objects it selected, are reported as unmatched (a typo in a rule should not go unnoticed).
"""

from __future__ import annotations

import copy
import fnmatch
import importlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.diff.normalize import numbers_equal
from auditor.diff.options import IGNORE_ANNOTATION, IgnoreRule
from auditor.model import ObjectRef
from auditor.util import yamlio

_jq: Any
try:  # optional: the jq binding (PyPI `jq`) evaluates Argo CD's jqPathExpressions
    _jq = importlib.import_module("jq")
except ImportError:  # pragma: no cover - depends on the environment
    _jq = None

JQ_AVAILABLE = _jq is not None


def rule_label(rule: IgnoreRule, index: int) -> str:
    """Display name of a config rule: its ``id``, else ``ignore[i] kind/namespace/name``."""
    if rule.id:
        return rule.id
    sel = "/".join(p for p in (rule.group, rule.kind, rule.namespace, rule.name or rule.name_pattern) if p)
    return f"ignore[{index}]" + (f" {sel}" if sel else "")


def selects(rule: IgnoreRule, ref: ObjectRef) -> bool:
    """True when the rule's selector matches the object (empty fields match anything)."""
    if rule.group and not fnmatch.fnmatchcase(ref.group, rule.group):
        return False
    if rule.kind and not fnmatch.fnmatchcase(ref.kind, rule.kind):
        return False
    if rule.namespace and not fnmatch.fnmatchcase(ref.namespace, rule.namespace):
        return False
    if rule.name:
        return ref.name == rule.name
    if rule.name_pattern:
        return fnmatch.fnmatchcase(ref.name, rule.name_pattern)
    return True


def parse_annotation(value: str) -> IgnoreRule | None:
    """The ignore rule held by the ``gitops-audit.io/ignore-differences`` annotation, or None.

    Accepted forms: pointers separated by newlines/commas, or a JSON/YAML mapping with
    ``jsonPointers``, ``jqPathExpressions`` and ``managedFieldsManagers`` (Argo CD's keys).
    """
    text = value.strip()
    if not text:
        return None
    if text.startswith("/"):
        ptrs = tuple(p.strip() for p in text.replace(",", "\n").splitlines() if p.strip())
        return IgnoreRule(json_pointers=ptrs, id=f"annotation {IGNORE_ANNOTATION}")
    try:
        # Bounded parse: the annotation may come from the cluster (alias bombs, self-referencing aliases).
        doc = yamlio.load_one(text, f"annotation {IGNORE_ANNOTATION}")
    except yamlio.YamlError:
        return None
    if isinstance(doc, list):
        doc = {"jsonPointers": doc}
    if not isinstance(doc, Mapping):
        return None

    def strs(key: str) -> tuple[str, ...]:
        val = doc.get(key) or ()
        return tuple(str(v) for v in val) if isinstance(val, list) else ()

    return IgnoreRule(
        json_pointers=strs("jsonPointers"),
        jq_path_expressions=strs("jqPathExpressions"),
        managed_fields_managers=strs("managedFieldsManagers"),
        id=f"annotation {IGNORE_ANNOTATION}",
    )


@dataclass
class ActiveRule:
    """A rule applied to one object: its resolved pointers and managers."""

    label: str
    rule: IgnoreRule
    pointers: tuple[tuple[str, ...], ...] = ()
    managers: frozenset[str] = frozenset()

    @property
    def whole_object(self) -> bool:
        """A pure selector (no pointers/jq/managers) ignores the whole object."""
        r = self.rule
        return not (r.json_pointers or r.jq_path_expressions or r.managed_fields_managers)


@dataclass
class Ignorer:
    """Applies config rules and annotation rules; remembers which rules matched something."""

    rules: Sequence[IgnoreRule]
    matched: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)
    """Rule label → why it could not be evaluated (bad jq expression, jq binding missing)."""

    def __post_init__(self) -> None:
        self._labels = [rule_label(r, i) for i, r in enumerate(self.rules)]
        self._jq_cache: dict[str, Any] = {}

    def for_object(
        self,
        ref: ObjectRef,
        desired: Mapping[str, Any] | None,
        live: Mapping[str, Any] | None,
        live_managers: Iterable[str] = (),
    ) -> list[ActiveRule]:
        """Rules that apply to this object, with pointers resolved against both bodies."""
        out: list[ActiveRule] = []
        candidates: list[tuple[str, IgnoreRule]] = [
            (label, r) for label, r in zip(self._labels, self.rules, strict=True) if selects(r, ref)
        ]
        if desired is not None:
            ann = ((desired.get("metadata") or {}).get("annotations") or {}).get(IGNORE_ANNOTATION)
            if isinstance(ann, str):
                parsed = parse_annotation(ann)
                if parsed is not None:
                    candidates.append((parsed.id, parsed))
        if not candidates:
            return out
        managers_live = set(live_managers)
        bodies = [b for b in (desired, live) if b is not None]
        for label, rule in candidates:
            active = ActiveRule(label, rule)
            ptrs: list[tuple[str, ...]] = [_tokens(p) for p in rule.json_pointers]
            hit = active.whole_object
            if any(_exists(b, t) for b in bodies for t in ptrs):
                hit = True
            for expr in rule.jq_path_expressions:
                for b in bodies:
                    paths = self._jq_paths(label, expr, b)
                    if paths:
                        hit = True
                        ptrs.extend(paths)
            active.pointers = tuple(dict.fromkeys(ptrs))
            active.managers = frozenset(rule.managed_fields_managers)
            if active.managers & managers_live:
                hit = True
            if hit:
                self.matched.add(label)
            out.append(active)
        return out

    def _jq_paths(self, label: str, expr: str, body: Mapping[str, Any]) -> list[tuple[str, ...]]:
        if _jq is None:
            self.errors[label] = "jqPathExpressions need the `jq` Python package"
            return []
        prog = self._jq_cache.get(expr)
        if prog is None:
            try:
                prog = _jq.compile(f"[path({expr})]")
            except ValueError as exc:
                self.errors[label] = f"invalid jq path expression: {str(exc).splitlines()[0][:200]}"
                return []
            self._jq_cache[expr] = prog
        try:
            result = prog.input_value(body).first()
        except ValueError:
            return []
        return [tuple(str(t) for t in p) for p in result or () if isinstance(p, list)]

    def unmatched(self) -> tuple[str, ...]:
        """Config rules that matched nothing, in config order (annotation rules are per object)."""
        return tuple(label for label in self._labels if label not in self.matched)


def suppressing_rule(
    rules: Sequence[ActiveRule], pointer: str, expected: Any, actual: Any, manager: str
) -> str:
    """Label of the first rule hiding a difference at ``pointer``, or ''.

    A rule pointer at or above the difference hides it. A rule pointer *below* it (the difference
    is a whole atomic list, the rule names one field inside) hides it when removing that field
    from both values leaves them equal — what Argo CD gets by deleting the field before diffing.
    """
    tokens = _tokens(pointer)
    n = len(tokens)
    for r in rules:
        if r.whole_object:
            return r.label
        if manager and manager in r.managers:
            return r.label
        for p in r.pointers:
            if p[:n] == tokens and len(p) >= n:
                if len(p) == n:
                    return r.label
                rest = p[n:]
                if _equal_without(expected, actual, rest):
                    return r.label
            elif tokens[: len(p)] == p:
                return r.label
    return ""


def _tokens(pointer: str) -> tuple[str, ...]:
    if not pointer or pointer == "/":
        return ()
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/"))


def _exists(body: Any, tokens: tuple[str, ...]) -> bool:
    cur = body
    for t in tokens:
        if isinstance(cur, Mapping) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list) and t.isdigit() and int(t) < len(cur):
            cur = cur[int(t)]
        else:
            return False
    return True


def _remove(value: Any, tokens: tuple[str, ...]) -> Any:
    out = copy.deepcopy(value)
    cur = out
    for t in tokens[:-1]:
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list) and t.isdigit() and int(t) < len(cur):
            cur = cur[int(t)]
        else:
            return out
    last = tokens[-1]
    if isinstance(cur, dict):
        cur.pop(last, None)
    elif isinstance(cur, list) and last.isdigit() and int(last) < len(cur):
        del cur[int(last)]
    return out


def _equal_without(expected: Any, actual: Any, tokens: tuple[str, ...]) -> bool:
    return _subset_equal(_remove(expected, tokens), _remove(actual, tokens))


def _subset_equal(d: Any, live: Any) -> bool:
    """Desired-subset equality used after removing an ignored field."""
    if isinstance(d, dict) and isinstance(live, dict):
        return all(_subset_equal(v, live.get(k)) for k, v in d.items() if v not in (None, {}, [], ""))
    if isinstance(d, list) and isinstance(live, list):
        return len(d) == len(live) and all(_subset_equal(a, b) for a, b in zip(d, live, strict=True))
    return bool(d == live or numbers_equal(d, live))


def dumps_rule(rule: IgnoreRule) -> str:
    """Compact JSON of a rule for reports."""
    return json.dumps(
        {
            "group": rule.group,
            "kind": rule.kind,
            "namespace": rule.namespace,
            "name": rule.name or rule.name_pattern,
            "jsonPointers": list(rule.json_pointers),
            "jqPathExpressions": list(rule.jq_path_expressions),
            "managedFieldsManagers": list(rule.managed_fields_managers),
        },
        sort_keys=True,
    )
