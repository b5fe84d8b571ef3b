"""Policy evaluation in worker processes (the embedded engine holds the GIL, so threads cannot share it).

Runs in processes started with ``spawn``: this module imports only the engine and the loader, and keeps
one compiled engine per process plus one clone per audit context it has seen.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from auditor.policy.context_deps import CONTEXT_ROOT
from auditor.policy.engine import EvalError, Plan, RegorusEvaluator
from auditor.policy.loader import RegoModule

_MAX_CONTEXTS = 32
"""Clones kept per worker: a run has two contexts (desired, live) per target."""

_base: RegorusEvaluator | None = None
_contexts: dict[str, RegorusEvaluator] = {}


def init(modules: Sequence[RegoModule], data: Mapping[str, Any]) -> None:
    """Pool initializer: compile the policies once for this process."""
    global _base
    _base = RegorusEvaluator.compile(modules, data)
    _contexts.clear()


def _evaluator(context: Mapping[str, Any]) -> RegorusEvaluator:
    assert _base is not None, "worker used before init"
    key = json.dumps(context, sort_keys=True, default=str)
    found = _contexts.get(key)
    if found is None:
        if len(_contexts) >= _MAX_CONTEXTS:
            _contexts.pop(next(iter(_contexts)))
        found = _contexts[key] = _base.with_data({CONTEXT_ROOT: dict(context)})
    return found


def evaluate(context: Mapping[str, Any], jobs: Sequence[tuple[Plan, Any]]) -> tuple[list[tuple[bool, Any]], float]:
    """Evaluate ``(plan, input)`` jobs with ``context`` as ``data.gitops_audit`` (``target``, ``side``).

    Returns ``(True, value)`` or ``(False, error message)`` per job, in order (one document's runtime
    error must not lose the others' results), and the CPU seconds this call used.
    """
    started = time.process_time()
    evaluator = _evaluator(context)
    out: list[tuple[bool, Any]] = []
    for plan, doc in jobs:
        try:
            out.append((True, evaluator.evaluate(plan, doc)))
        except EvalError as exc:
            out.append((False, str(exc)))
    return out, time.process_time() - started


def ping() -> int:
    """A no-op task: submitting one per worker starts the workers ahead of the first batch."""
    return os.getpid()
