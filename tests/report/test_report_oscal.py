"""OSCAL 1.1 assessment results: valid against NIST's published schema; controls tied to findings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.model import AuditReport
from auditor.report import oscal

SCHEMA = Path(__file__).parent / "fixtures" / "oscal" / "oscal_assessment-results_schema.json"


def _python_patterns(node: Any) -> Any:
    """``\\p{L}`` / ``\\p{N}`` (not in Python's ``re``) → equivalent classes; nothing else changes."""
    if isinstance(node, dict):
        out = {k: _python_patterns(v) for k, v in node.items()}
        if isinstance(out.get("pattern"), str):
            out["pattern"] = out["pattern"].replace(r"\p{L}", r"[^\W\d_]").replace(r"\p{N}", r"\d")
        return out
    if isinstance(node, list):
        return [_python_patterns(v) for v in node]
    return node


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = _python_patterns(json.loads(SCHEMA.read_text()))
    assert schema["$id"].endswith("/1.1.3/oscal-ar-schema.json")
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def _errors(validator: jsonschema.Draft7Validator, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_sample_report_is_valid_oscal(report: AuditReport, validator: jsonschema.Draft7Validator) -> None:
    doc = json.loads(oscal.render(report, {"k8s.resources.limits": ["CIS:5.2.1", "nist-800-53:cm-6"],
                                           "drift/modified": ["nist-800-53:cm-3"]}))
    assert _errors(validator, doc) == []
    ar = doc["assessment-results"]
    assert ar["metadata"]["oscal-version"] == "1.1.3"
    result = ar["results"][0]
    assert len(result["observations"]) == len(report.findings)
    by_target = {f["target"]["target-id"]: f for f in result["findings"]}
    # The change-control and drift rules carry their controls; a counted finding makes them not satisfied.
    assert by_target["nist-800-53_cm-3"]["target"]["status"]["state"] == "not-satisfied"
    assert by_target["CIS_5.2.1"]["target"]["status"]["state"] == "not-satisfied"
    for f in result["findings"]:
        assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9._-]*", c["control-id"])
                   for sel in result["reviewed-controls"]["control-selections"] for c in sel["include-controls"])
        obs = {o["uuid"] for o in result["observations"]}
        assert all(r["observation-uuid"] in obs for r in f.get("related-observations", ()))


def test_controls_without_findings_are_satisfied(report: AuditReport, validator: jsonschema.Draft7Validator) -> None:
    doc = json.loads(oscal.render(report, {"k8s.never.fires": [{"framework": "PCI-DSS", "id": "2.2.1"}]}))
    assert _errors(validator, doc) == []
    found = {f["target"]["target-id"]: f for f in doc["assessment-results"]["results"][0]["findings"]}
    assert found["pci-dss_2.2.1"]["target"]["status"]["state"] == "satisfied"
    assert "related-observations" not in found["pci-dss_2.2.1"]


def test_empty_report_is_valid(report: AuditReport, validator: jsonschema.Draft7Validator) -> None:
    from dataclasses import replace

    empty = replace(report, results=tuple(replace(r, findings=()) for r in report.results), resolved=())
    assert _errors(validator, json.loads(oscal.render(empty))) == []


def test_deterministic(report: AuditReport) -> None:
    assert oscal.render(report) == oscal.render(report)


def test_catalogue_controls_replace_the_defaults_and_case_does_not_split_a_control(
    report: AuditReport, validator: jsonschema.Draft7Validator
) -> None:
    from dataclasses import replace

    from auditor.model import Category, Finding, Severity

    drift = Finding(target=report.results[0].target.name, category=Category.DRIFT, rule_id="drift.modified",
                    severity=Severity.MEDIUM, message="replicas: 2 → 5", path="spec.replicas",
                    details={"controls": ["soc2:CC8.1", "nist-800-53:CM-3"]})
    bare = replace(drift, rule_id="drift.added", path="metadata.labels.x", details={})  # no catalogue: defaults
    first = replace(report.results[0], findings=(drift, bare))
    doc = json.loads(oscal.render(replace(report, results=(first,), resolved=()),
                                  {"drift.modified": ["soc2:CC8.1", "nist-800-53:CM-3"]}))
    assert _errors(validator, doc) == []
    result = doc["assessment-results"]["results"][0]
    ids = [f["target"]["target-id"] for f in result["findings"]]
    assert len(ids) == len({i.casefold() for i in ids})  # soc2:CC8.1 and the default soc2:cc8.1 are one control
    assert "soc2_CC8.1" in ids and "soc2_cc8.1" not in ids
    # The catalogue's controls only (the defaults would add CM-2, CM-6, CC7.1, A.8.9, A.8.32).
    by_rule = {o["props"][0]["value"]: [p["value"] for p in o["props"] if p["name"] == "control"]
               for o in result["observations"]}
    assert by_rule["drift.modified"] == ["soc2:CC8.1", "nist-800-53:CM-3"]
    assert "nist-800-53:cm-2" in by_rule["drift.added"]  # a rule the catalogue does not know keeps the defaults


def test_writing_leaves_no_cycles_behind(report: AuditReport) -> None:
    """The writer runs with the collector paused, so it must not leave a cycle per observation.

    Each indented ``json.dumps`` call builds a cycle of encoder closures: paused, one per observation
    stayed until the end of the writer (37 MB at 13,000 findings).
    """
    import dataclasses
    import gc

    many = tuple(dataclasses.replace(report.findings[0], path=f"p{i}") for i in range(2000))
    big = dataclasses.replace(report, results=(dataclasses.replace(report.results[0], findings=many),))
    was = gc.isenabled()
    gc.enable()
    try:
        gc.collect()
        oscal.write(big, [], None)
        left = gc.collect()
    finally:
        if not was:
            gc.disable()
    assert left < 5000  # with json.dumps(indent=2) per observation: ~20,000 objects
