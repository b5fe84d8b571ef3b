"""Findings of the two sides of a target: one per fingerprint, and once when git and the cluster say the same."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any

from auditor.model import Category, Finding


def _side_free_key(f: Finding) -> tuple[Any, ...]:
    """What must match for a live finding to be the desired one again: all but the side it was found on."""
    side = str(f.details.get("source", ""))
    rest = f.path[len(side):] if f.path.startswith(side) else f.path  # ":field", "#hash" after the side
    details = {k: v for k, v in f.details.items() if k != "source"}
    return (f.rule_id, f.ref, f.message, f.severity, f.suppressed_by, rest, repr(sorted(details.items(), key=str)))


def merge_sides(findings: Sequence[Finding]) -> list[Finding]:
    """Report once a live finding that repeats a desired one exactly (issue 18); note that it holds on both sides.

    A drifted object is evaluated live too, and a rule the drift does not touch gives the same finding on
    both sides. Identical means the same rule, object, message, severity, field path, details and waiver
    state (a live object that lost its waiver annotation keeps its own, unwaived, finding). The desired
    finding stays (its fingerprint does not change) with ``details.sides = ["desired", "live"]``; findings
    only the live side has are kept as they are.
    """
    desired: dict[tuple[Any, ...], int] = {}
    for i, f in enumerate(findings):
        if f.category is Category.POLICY and f.details.get("source") == "desired":
            desired.setdefault(_side_free_key(f), i)
    both: set[int] = set()
    dropped: set[int] = set()
    for i, f in enumerate(findings):
        if f.category is Category.POLICY and f.details.get("source") == "live":
            twin = desired.get(_side_free_key(f))
            if twin is not None:
                both.add(twin)
                dropped.add(i)
    return [
        dataclasses.replace(f, details={**f.details, "sides": ["desired", "live"]}) if i in both else f
        for i, f in enumerate(findings)
        if i not in dropped
    ]


def distinct_paths(findings: Sequence[Finding]) -> list[Finding]:
    """Give findings that would share a fingerprint distinct paths (a short hash of the message).

    One rule can report several messages on one object and side; each must be comparable across runs.
    """
    prints = [f.fingerprint for f in findings]
    counts: dict[str, int] = {}
    for fp in prints:
        counts[fp] = counts.get(fp, 0) + 1
    out = []
    for f, fp in zip(findings, prints, strict=True):
        if counts[fp] > 1:
            digest = hashlib.sha256(f.message.encode()).hexdigest()[:8]
            f = dataclasses.replace(f, path=f"{f.path}#{digest}")
        out.append(f)
    return out
