"""Precision and recall of the pack against Polaris' and Kubescape's verdicts (tests/policy/reference_cases.py).

For each labelled case the rules that claim the tool's check as an equivalent (their METADATA
`equivalents`) are looked up; the case is "detected" when one of them reports the case's object. Per tool:
precision = detected-and-failing / detected, recall = detected-and-failing / failing, both >= 0.95.
Deliberate differences are listed in the cases (`deviation`) and count against the figures.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from reference_cases import CASES, Case  # tests/policy is on sys.path (no package)

from auditor.catalog.doc import equivalence_table
from auditor.catalog.load import load_catalog, rego_sources
from auditor.model import Manifest, ObjectRef, Target, split_api_version
from auditor.policy.audit import PolicySet, evaluate_target, load_policies
from auditor.policy.builtin import builtin_policy_dir
from auditor.policy.options import PolicyOptions

MAPPING = equivalence_table(load_catalog(rego_sources([builtin_policy_dir()])))


@functools.cache
def _policies() -> PolicySet:
    # Every rule on, opt-in ones included (`enable: [all]`): the coverage claim is about all of them.
    data = Path(tempfile.mkdtemp()) / "enable-all.json"
    data.write_text(json.dumps({"gitops_audit": {"config": {"enable": ["all"]}}}))
    return load_policies(PolicyOptions(namespaces=(), workers=0, data=(str(data),)))


def _manifest(body: dict[str, Any]) -> Manifest:
    group, _ = split_api_version(body["apiVersion"])
    meta = body.get("metadata") or {}
    return Manifest(ObjectRef(group, body["kind"], meta.get("namespace", ""), meta["name"]), body["apiVersion"], body)


def detected(case: Case) -> tuple[bool, set[str]]:
    """Whether a mapped rule reports the case's object, and every rule id that reports it."""
    rules = set(MAPPING[case.tool][case.check])
    findings = evaluate_target(_policies(), Target("ref", env="staging"), [_manifest(d) for d in case.docs], [])
    assert not [f.message for f in findings if f.rule_id == "policy.error"], case
    kind, name = case.target
    on_object = {
        f.rule_id for f in findings if f.counts and f.ref is not None and (f.ref.kind, f.ref.name) == (kind, name)
    }
    return bool(on_object & rules), on_object


def test_every_case_has_mapped_rules() -> None:
    missing = sorted({(c.tool, c.check) for c in CASES if c.check not in MAPPING.get(c.tool, {})})
    assert missing == []


def test_every_claimed_equivalence_is_measured() -> None:
    measured = {(c.tool, c.check) for c in CASES}
    claimed = {("polaris", check) for check in MAPPING["polaris"]}
    assert claimed - measured == set()
    assert len({c.check for c in CASES if c.tool == "polaris"}) >= 40


@pytest.mark.parametrize("tool", ["polaris", "kubescape"])
def test_precision_and_recall(tool: str) -> None:
    counts: Counter[str] = Counter()
    wrong: list[str] = []
    for case in (c for c in CASES if c.tool == tool):
        hit, on_object = detected(case)
        outcome = {(True, True): "tp", (True, False): "fp", (False, True): "fn", (False, False): "tn"}[
            (hit, case.fails)
        ]
        counts[outcome] += 1
        agrees = hit == case.fails
        if agrees == bool(case.deviation):
            wrong.append(
                f"{case.check} {'fails' if case.fails else 'passes'} in {tool} ({case.note or case.deviation}); "
                f"we report {sorted(on_object)} on {case.target}"
            )
    precision = counts["tp"] / (counts["tp"] + counts["fp"])
    recall = counts["tp"] / (counts["tp"] + counts["fn"])
    print(f"{tool}: {sum(counts.values())} cases {dict(counts)} precision {precision:.3f} recall {recall:.3f}")
    # Every disagreement is a documented deviation, and every documented deviation still disagrees.
    assert wrong == []
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
