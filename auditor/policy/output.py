"""conftest's output formats for ``policy test``: stdout, json, table, junit, sarif."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

from auditor.policy.check import CheckResult, RuleResult
from auditor.policy.conftest import TestOutcome, exit_code, result_dict

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


# conftest's SARIF rule descriptions, one per result type (output/sarif.go).
_SARIF_DESCRIPTIONS = {
    "deny": "Policy violation",
    "warn": "Policy warning",
    "allow": "Policy exception",
    "success": "Policy was satisfied successfully",
    "skip": "Policy check was skipped",
}


def render_sarif(results: Sequence[CheckResult]) -> str:
    """SARIF 2.1.0 shaped like conftest's: rule ids ``<namespace>/deny|warn|allow|success|skip``.

    Failures are ``error``, warnings ``warning``, exceptions ``note``; a file with neither failures nor warnings
    gets one ``none`` result (success, or skip when nothing was evaluated). The invocation carries the exit code.
    A result's metadata (our ``rule_id``, ``severity``…) is kept in its ``properties``; each rule's
    ``properties`` hold the metadata of its first result, as in conftest.
    """
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    out: list[dict[str, Any]] = []

    def add(r: CheckResult, kind: str, level: str, msg: str, x: RuleResult | None) -> None:
        rule_id = f"{r.namespace}/{kind}"
        metadata = dict(x.metadata) if x is not None else {"description": _SARIF_DESCRIPTIONS[kind]}
        if rule_id not in index:
            index[rule_id] = len(rules)
            desc = {"text": _SARIF_DESCRIPTIONS[kind]}
            rule: dict[str, Any] = {"id": rule_id, "shortDescription": desc, "fullDescription": desc}
            if metadata:
                rule["properties"] = metadata
            rules.append(rule)
        location: dict[str, Any] = {"artifactLocation": {"uri": r.filename}}
        if x is not None and x.location and x.location.get("file"):
            location = {"artifactLocation": {"uri": str(x.location["file"])}}
            line = x.location.get("line")
            if isinstance(line, int) or (isinstance(line, str) and line.isdigit()):
                location["region"] = {"startLine": int(line), "endLine": int(line)}
        item: dict[str, Any] = {
            "ruleId": rule_id,
            "ruleIndex": index[rule_id],
            "level": level,
            "message": {"text": msg},
            "locations": [{"physicalLocation": location}],
        }
        if x is not None and x.metadata:
            item["properties"] = dict(x.metadata)
        out.append(item)

    for r in results:
        for x in r.failures:
            add(r, "deny", "error", x.msg, x)
        for x in r.warnings:
            add(r, "warn", "warning", x.msg, x)
        for x in r.exceptions:
            add(r, "allow", "note", x.msg, x)
        if r.failures or r.warnings:
            continue
        kind = "success" if r.successes or r.exceptions else "skip"
        add(r, kind, "none", _SARIF_DESCRIPTIONS[kind], None)
    code = exit_code(results)
    failures = any(r.failures for r in results)
    warnings = any(r.warnings for r in results)
    invocation = {
        "executionSuccessful": True,
        "exitCode": code,
        "exitCodeDescription": "Policy violations found" if failures else "Policy warnings found" if warnings
        else "No policy violations found",
    }
    doc = {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [
            {
                "tool": {"driver": {"name": "gitops-audit policy", "rules": rules}},
                "invocations": [invocation],
                "results": out,
            }
        ],
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
