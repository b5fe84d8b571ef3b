"""Report-level Secret masking, the second line of defence, in every output the report stage writes.

The drift stage hashes Secret values before anything reaches a report; these tests feed the formatters
findings as if it had not (clear text under ``stringData``, keyed hashes outside ``data.*``, whole objects
with nested ``data``/``stringData`` maps) and check that no format shows them. Each case has its own
canary so a failure names the broken rule. Written against deliberate breaks of
``auditor/report/_common.py`` (issue 20).
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.model import AuditReport, Category, DriftKind, FieldChange, Finding, ObjectDrift, ObjectRef, Severity
from auditor.report import csv_report, history, html_report, json_report, junit, sarif, terminal
from auditor.report._common import mask_for
from auditor.util.secrets import HASH_PREFIX, MASK

from .report_sample import PROD_US, make_report

SECRET = ObjectRef("", "Secret", "shop", "api-token")
DEPLOY = ObjectRef("apps", "Deployment", "shop", "web")
TEMPLATE = ObjectRef("example.com", "SecretTemplate", "shop", "tmpl")

HASH_ANNOTATION = HASH_PREFIX + "a1" * 32
HASH_ANNOTATION_LIVE = HASH_PREFIX + "b2" * 32
HASH_IN_ENV = HASH_PREFIX + "c3" * 32
PLAIN_STRINGDATA = "canary-stringdata-path-7781"
PLAIN_STRINGDATA_MAP = "canary-stringdata-map-7782"
PLAIN_NESTED = "canary-nested-stringdata-7783"
PLAIN_NESTED_DATA = "Y2FuYXJ5LW5lc3RlZC1kYXRhLTc3ODQ="  # base64 of a canary: still a value, never shown
PLAIN_FOREIGN_NESTED = "canary-nested-in-other-kind-7785"

CASES: dict[str, tuple[str, ...]] = {
    "hashed value outside data.*": (HASH_ANNOTATION, HASH_ANNOTATION_LIVE, HASH_IN_ENV),
    "stringData.x path": (PLAIN_STRINGDATA, PLAIN_STRINGDATA_MAP),
    "nested stringData/data map": (PLAIN_NESTED, PLAIN_NESTED_DATA, PLAIN_FOREIGN_NESTED),
}


def _finding(ref: ObjectRef, path: str, expected: object, actual: object, rule: str = "drift.modified") -> Finding:
    return Finding(target=PROD_US.name, category=Category.DRIFT, rule_id=rule, severity=Severity.HIGH,
                   message=f"{ref.kind} {path or 'object'} differs", ref=ref, path=path,
                   expected=expected, actual=actual)


def _secret_body() -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-token", "namespace": "shop"},
            "type": "Opaque", "stringData": {"token": PLAIN_NESTED}, "data": {"ca.crt": PLAIN_NESTED_DATA}}


def leaky_findings() -> tuple[Finding, ...]:
    env = [{"name": "API_TOKEN", "value": HASH_IN_ENV}, {"name": "LOG_LEVEL", "value": "info"}]
    template = {"template": {"kind": "Secret", "stringData": {"password": PLAIN_FOREIGN_NESTED}}}
    return (
        _finding(SECRET, "metadata.annotations.checksum", HASH_ANNOTATION, HASH_ANNOTATION_LIVE),
        _finding(DEPLOY, "spec.template.spec.containers[name=web].env", env, None),
        _finding(SECRET, "stringData.token", PLAIN_STRINGDATA, None),
        _finding(SECRET, "stringData", {"token": PLAIN_STRINGDATA_MAP}, None),
        _finding(SECRET, "", _secret_body(), None, rule="drift.missing"),
        _finding(TEMPLATE, "spec", template, None),
    )


def leaky_report() -> AuditReport:
    base = make_report()
    findings = leaky_findings()
    changes = tuple(FieldChange(f.path, f.expected, f.actual) for f in findings if f.ref == SECRET)
    us = dataclasses.replace(
        base.results[0],
        findings=(*base.results[0].findings, *findings),
        drift=(*base.results[0].drift, ObjectDrift(SECRET, DriftKind.MODIFIED, changes),
               ObjectDrift(DEPLOY, DriftKind.MODIFIED, (FieldChange(findings[1].path, findings[1].expected, None),))),
    )
    return dataclasses.replace(base, results=(us, *base.results[1:]))


def _bundle_texts(run_dir: Path) -> str:
    parts = []
    for p in sorted(run_dir.rglob("*")):
        if not p.is_file():
            continue
        data = p.read_bytes()
        parts.append(data.decode("utf-8", "replace"))
        if zipfile.is_zipfile(io.BytesIO(data)):  # the evidence bundle is compressed: look inside
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                parts += [zf.read(n).decode("utf-8", "replace") for n in zf.namelist()]
    return "\n".join(parts)


FORMATS: dict[str, Callable[[AuditReport, Path], str]] = {
    "json": lambda r, _: json_report.render(r),
    "csv": lambda r, _: csv_report.render(r),
    "html": lambda r, _: html_report.render(r),
    "junit": lambda r, _: junit.render(r),
    "sarif": lambda r, _: sarif.render(r),
    "terminal": lambda r, _: terminal.summary(r, color=False) + terminal.log_lines(r),
    "run directory and evidence bundle": lambda r, tmp: _bundle_texts(
        history.write_run(r, tmp / "reports", keep=3, config_bytes=b"version: 1\n").run_dir),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_no_secret_value_in_any_format(fmt: str, case: str, tmp_path: Path) -> None:
    text = FORMATS[fmt](leaky_report(), tmp_path)
    assert text
    for canary in CASES[case]:
        assert canary not in text, f"{case}: {canary} shown in {fmt}"
        assert canary[len(HASH_PREFIX):] not in text if canary.startswith(HASH_PREFIX) else True


def test_json_shows_the_mask_where_the_values_were() -> None:
    doc = json.loads(json_report.render(leaky_report()))
    (us,) = [t for t in doc["targets"] if t["target"]["name"] == PROD_US.name]
    by_path = {(f["object"]["kind"], f["path"]): f for f in us["findings"] if f.get("object")}
    assert by_path[("Secret", "metadata.annotations.checksum")]["expected"] == MASK
    assert by_path[("Secret", "metadata.annotations.checksum")]["actual"] == MASK
    env = by_path[("Deployment", "spec.template.spec.containers[name=web].env")]["expected"]
    assert env == [{"name": "API_TOKEN", "value": MASK}, {"name": "LOG_LEVEL", "value": "info"}]
    assert by_path[("Secret", "stringData.token")]["expected"] == MASK
    assert by_path[("Secret", "stringData")]["expected"] == MASK
    whole = by_path[("Secret", "")]["expected"]
    assert whole["stringData"] == {"token": MASK} and whole["data"] == {"ca.crt": MASK}
    assert whole["metadata"]["name"] == "api-token" and whole["type"] == "Opaque"  # the rest stays readable
    assert by_path[("SecretTemplate", "spec")]["expected"] == {"template": {"kind": "Secret", "stringData": {
        "password": MASK}}}


@pytest.mark.parametrize(("ref", "path", "value", "shown"), [
    (SECRET, "stringData.token", "clear", MASK),
    (SECRET, "stringData[token]", "clear", MASK),
    (SECRET, "stringData", {"token": "clear"}, MASK),
    (SECRET, "data.token", "Y2xlYXI=", MASK),
    (SECRET, "metadata.labels.app", "web", "web"),  # not a payload: shown
    (SECRET, "metadata.annotations.x", HASH_ANNOTATION, MASK),
    (SECRET, "dataset", "shown", "shown"),  # only the data/stringData fields themselves
    (DEPLOY, "data.token", "not-a-secret", "not-a-secret"),  # payload paths matter only for Secrets
    (DEPLOY, "spec.x", [[HASH_IN_ENV]], [[MASK]]),
    (DEPLOY, "spec.x", ("a", HASH_IN_ENV), ["a", MASK]),
    (DEPLOY, "spec.x", {"stringData": "not-a-map"}, {"stringData": "not-a-map"}),
    (DEPLOY, "spec.x", 3, 3),
    (SECRET, "stringData.token", None, None),  # absent is not secret
    (None, "", {"data": {"k": "v"}}, {"data": {"k": MASK}}),
])
def test_mask_for_table(ref: ObjectRef | None, path: str, value: object, shown: object) -> None:
    assert mask_for(ref, path, value) == shown
