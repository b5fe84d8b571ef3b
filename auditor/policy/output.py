"""conftest's output formats for ``policy test``: stdout, json, table, junit, sarif."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

from auditor.policy.check import CheckResult, RuleResult
from auditor.policy.conftest import TestOutcome, result_dict

FORMATS = ("stdout", "json", "table", "junit", "sarif")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(results: Sequence[CheckResult]) -> str:
    """``N tests, N passed, N warnings, N failures, N exceptions``."""
    s = sum(r.successes for r in results)
    w = sum(len(r.warnings) for r in results)
    f = sum(len(r.failures) for r in results)
    e = sum(len(r.exceptions) for r in results)
    return f"{_plural(s + w + f + e, 'test')}, {s} passed, {_plural(w, 'warning')}, {_plural(f, 'failure')}, " + (
        _plural(e, "exception")
    )


def render_stdout(results: Sequence[CheckResult]) -> str:
    """Human lines ``FAIL - file - namespace - msg`` then the summary (no colour)."""
    lines: list[str] = []
    for r in results:
        # Standard input is shown as a bare "-", as conftest does.
        where = "-" if r.filename == "-" else f"- {r.filename}"
        ns = f"{where} - {r.namespace} -"
        total = r.successes + len(r.warnings) + len(r.failures) + len(r.exceptions)
        if total == 0:
            lines.append(f"? {ns} no policies found")
            continue
        lines += [f"WARN {ns} {x.msg}" for x in r.warnings]
        lines += [f"FAIL {ns} {x.msg}" for x in r.failures]
        lines += [f"EXCP {ns} {x.msg}" for x in r.exceptions]
    lines += ["", summary(results)]
    return "\n".join(lines) + "\n"


def render_json(results: Sequence[CheckResult]) -> str:
    """A list of ``{filename, namespace, successes, warnings?, failures?, exceptions?}`` (tab-indented)."""
    out = []
    for r in results:
        name = "" if r.filename == "-" else r.filename  # conftest blanks standard input's name
        item: dict[str, Any] = {"filename": name, "namespace": r.namespace, "successes": r.successes}
        for key, values in (("warnings", r.warnings), ("failures", r.failures), ("exceptions", r.exceptions)):
            if values:
                item[key] = [result_dict(x) for x in values]
        out.append(item)
    return json.dumps(out, indent="\t") + "\n"


def render_table(results: Sequence[CheckResult]) -> str:
    """A plain table: RESULT | FILE | NAMESPACE | MESSAGE."""
    rows = [("RESULT", "FILE", "NAMESPACE", "MESSAGE")]
    for r in results:
        rows += [("success", r.filename, r.namespace, "SUCCESS")] * r.successes
        rows += [("warning", r.filename, r.namespace, x.msg) for x in r.warnings]
        rows += [("failure", r.filename, r.namespace, x.msg) for x in r.failures]
        rows += [("exception", r.filename, r.namespace, x.msg) for x in r.exceptions]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    fmt = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    sep = "|-" + "-|-".join("-" * w for w in widths) + "-|"
    lines = [fmt.format(*rows[0]), sep] + [fmt.format(*row) for row in rows[1:]]
    return "\n".join(lines) + "\n"


def _junit_name(r: CheckResult, msg: str) -> str:
    # conftest names a testcase "file - namespace - first line of the message", a success "file - namespace".
    return f"{r.filename} - {r.namespace} - {msg.splitlines()[0]}" if msg else f"{r.filename} - {r.namespace}"


def render_junit(results: Sequence[CheckResult]) -> str:
    """JUnit XML like conftest's: warnings and failures as failing testcases, then one passing testcase per success.

    Exceptions are left out, as conftest does (so its test counts are matched).
    """
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name="conftest")
    count = fails = 0

    def case(r: CheckResult, failure: RuleResult | None, kind: str) -> None:
        nonlocal count, fails
        count += 1
        name = _junit_name(r, failure.msg if failure is not None else "")
        tc = ET.SubElement(suite, "testcase", classname="conftest", name=name)
        if failure is not None:
            fails += 1
            el = ET.SubElement(tc, "failure", message=failure.msg, type=kind)
            el.text = failure.msg

    for r in results:
        for x in r.warnings:
            case(r, x, "warning")
        for x in r.failures:
            case(r, x, "failure")
        for _ in range(r.successes):
            case(r, None, "")
    suite.set("tests", str(count))
    suite.set("failures", str(fails))
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def render_sarif(results: Sequence[CheckResult]) -> str:
    """SARIF 2.1.0: one run, a rule per policy rule name, results at error/warning level."""
    rules: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for r in results:
        for level, items in (("error", r.failures), ("warning", r.warnings)):
            for x in items:
                rule_id = str(x.metadata.get("rule_id") or f"{x.namespace}.{x.rule}")
                rules.setdefault(
                    rule_id,
                    {"id": rule_id, "shortDescription": {"text": str(x.metadata.get("title") or rule_id)}},
                )
                out.append(
                    {
                        "ruleId": rule_id,
                        "level": level,
                        "message": {"text": x.msg},
                        "locations": [{"physicalLocation": {"artifactLocation": {"uri": r.filename}}}],
                    }
                )
    doc = {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{"tool": {"driver": {"name": "gitops-audit policy", "rules": list(rules.values())}}, "results": out}],
    }
    return json.dumps(doc, indent=2) + "\n"


def render(results: Sequence[CheckResult], fmt: str) -> str:
    """Render in one of :data:`FORMATS`."""
    renderers = {
        "stdout": render_stdout,
        "json": render_json,
        "table": render_table,
        "junit": render_junit,
        "sarif": render_sarif,
    }
    return renderers[fmt](results)


def render_verify(outcomes: Sequence[TestOutcome]) -> str:
    """``conftest verify`` text: failing tests, then the summary line with the skipped (``todo_test_*``) count.

    conftest gives verify results no namespace, hence the empty field in ``FAIL - file -  - data.pkg.test_x``.
    """
    lines = []
    for o in outcomes:
        if not o.passed and not o.skipped:
            why = f" ({o.error})" if o.error else ""
            lines.append(f"FAIL - {o.file} -  - {o.name}{why}")
    passed = sum(o.passed for o in outcomes)
    skipped = sum(o.skipped for o in outcomes)
    failed = len(outcomes) - passed - skipped
    total = _plural(len(outcomes), "test")
    lines += [
        "",
        f"{total}, {passed} passed, 0 warnings, {_plural(failed, 'failure')}, 0 exceptions, {skipped} skipped",
    ]
    return "\n".join(lines) + "\n"
