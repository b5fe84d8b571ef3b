"""Which parts of the audit context (``data.gitops_audit.target``) a set of policies can read.

Policy results are cached across the targets of a run (``runner.py``): two targets that share a
rendered overlay would otherwise evaluate the same documents twice. A cached result may only be reused
for a target whose context gives the policies the same values, so the cache key holds the target fields
the policies read. This module finds them by a conservative reading of the sources: any reference it
cannot resolve to a literal field (the whole target object, ``data.gitops_audit`` as a value,
``data[...]``, bare ``data``) means "every field", which makes the key the whole target.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from auditor.policy.loader import RegoModule, strip_comments_and_strings

CONTEXT_ROOT = "gitops_audit"
"""``data.gitops_audit``: set per target and side by the audit; its ``config`` and ``lib`` are static."""

_DYNAMIC = ("target",)
"""Children of ``data.gitops_audit`` that change per target (``side`` is always part of the key)."""

_DATA = re.compile(r"(?<![\w.])data\b")
_STEP = re.compile(r"\s*\.\s*([A-Za-z_]\w*)")


def _steps(code: str, pos: int) -> list[str]:
    """Dotted identifiers following ``pos`` (``.a.b`` → ``[a, b]``)."""
    names = []
    while (m := _STEP.match(code, pos)) is not None:
        names.append(m.group(1))
        pos = m.end()
    return names


def context_fields(modules: Iterable[RegoModule]) -> frozenset[str] | None:
    """Target fields (``name``, ``env``…) the modules can read; ``None`` when they may read any of them."""
    fields: set[str] = set()
    for mod in modules:
        package = mod.package
        if package == CONTEXT_ROOT or any(package.startswith(f"{CONTEXT_ROOT}.{d}") for d in _DYNAMIC):
            return None  # rules in these packages can name the context without `data.`
        code = strip_comments_and_strings(mod.source)
        for m in _DATA.finditer(code):
            steps = _steps(code, m.end())
            if not steps:
                return None  # `data` as a value, or `data[...]`
            if steps[0] != CONTEXT_ROOT:
                continue
            if len(steps) == 1:
                return None  # the whole context object (or an unresolvable `data.gitops_audit[...]`)
            if steps[1] not in _DYNAMIC:
                continue
            if len(steps) == 2:
                return None  # the whole target object
            fields.add(steps[2])
    return frozenset(fields)
