"""Loading a JSON report refuses values of the wrong type with one line naming the field.

Before issue 20, ``json_report.load`` accepted ``"run_id": 7`` or ``"images": "x"`` and the damage showed
later as a crash in a formatter or in ``report merge`` (exit 4). The corruption sweep lives in
``test_report_formats.py``; these tests pin the message and the CLI behaviour.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.errors import ReportError
from auditor.model import Finding, ObjectRef
from auditor.report import _shape, json_report

from .report_sample import make_report


def _doc() -> dict:
    return json.loads(json_report.render(make_report()))


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda d: d.__setitem__("run_id", 7), "run_id: expected a string, got int"),
    (lambda d: d["targets"][0]["findings"][1]["provenance"]["files"][0].__setitem__("line", "x"),
     "results[0].findings[1].provenance.files[0].line: expected an integer, got str"),
    (lambda d: d["targets"][0].__setitem__("images", [["a", "b"]]),
     "results[0].images[0]: expected a list of 4, got tuple"),
    (lambda d: d["targets"][0]["target"].__setitem__("labels", [["k", 1]]), None),  # str() by the loader: fine
    (lambda d: d["targets"][0].__setitem__("audited", "yes"), "results[0].audited: expected a boolean, got str"),
    (lambda d: d["targets"][0].__setitem__("audited", "false"), "results[0].audited: expected a boolean, got str"),
    (lambda d: d["targets"][0]["findings"][0]["provenance"]["files"][0]["commit"].__setitem__("signed", "false"),
     "results[0].findings[0].provenance.files[0].commit.signed: expected a boolean, got str"),
    (lambda d: d["targets"][0]["findings"][0].__setitem__("owners", [None]),
     "results[0].findings[0].owners[0]: expected a string, got NoneType"),
])
def test_wrong_types_are_refused_naming_the_field(mutate, where: str | None) -> None:  # type: ignore[no-untyped-def]
    doc = _doc()
    mutate(doc)
    if where is None:
        json_report.load(json.dumps(doc))
        return
    with pytest.raises(ReportError) as err:
        json_report.load(json.dumps(doc))
    assert str(err.value).startswith("load report: malformed report: ShapeError: " + where)


@pytest.mark.parametrize(("shard", "message"), [
    ("x", "load report: malformed shard: expected an object, got str"),
    ([0, 2], "load report: malformed shard: expected an object, got list"),
    ({"index": "one", "count": 2}, "load report: malformed shard {'index': 'one', 'count': 2}"),
])
def test_a_malformed_shard_is_refused_not_read_as_a_whole_run(shard: object, message: str) -> None:
    doc = _doc()
    doc["shard"] = shard
    with pytest.raises(ReportError) as err:
        json_report.load(json.dumps(doc))
    assert str(err.value) == message


def test_every_model_annotation_has_a_check() -> None:
    _shape.check(make_report())  # raises NotImplementedError for an annotation the checker does not know
    _shape.check(Finding("t", json_report.Category.DRIFT, "r", json_report.Severity.LOW, "m",
                         ref=ObjectRef("", "ConfigMap", "ns", "n"), details={"any": object()}))


def test_report_merge_of_a_corrupted_part_is_one_line_exit_2(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    doc = _doc()
    doc["targets"][0]["findings"][0]["message"] = {"not": "text"}
    part = tmp_path / "part.json"
    part.write_text(json.dumps(doc))
    code = main(["report", "merge", str(part), "--out", str(tmp_path / "merged"), "-q"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "results[0].findings[0].message: expected a string, got dict" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
