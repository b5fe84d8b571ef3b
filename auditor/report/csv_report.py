"""CSV report: one row per finding, stable documented columns, safe to open in spreadsheet tools.

Columns (stable; new columns are only ever appended):

==============  ==================================================================
run_id          the run that produced the row
target          target name
env, region     the target's environment and region
context         kubeconfig context (or ``snapshot:DIR`` for offline targets)
category        drift | policy | change-control | coverage
rule_id         the check's rule id
severity        critical | high | medium | low | info
kind            object kind (``Kind.group`` for non-core groups)
namespace       object namespace (empty when cluster-scoped)
name            object name
path            field path for drift findings
message         human message
expected        desired value (JSON for structures; secrets masked)
actual          live value (JSON for structures; secrets masked)
source_file     repository-relative file that produced the object
commit          last commit that touched the source file
author          its author (``Name <email>``)
date            its author date
owners          code owners, ``;``-separated
fingerprint     stable id of the finding across runs
status          new | persisting
suppressed_by   ignore rule / waiver hiding the finding (empty when it counts)
controls        ``framework:control`` ids the finding gives evidence for, ``;``-separated
==============  ==================================================================

Rows are in the report's deterministic order. The text starts with a UTF-8 BOM so spreadsheet
tools detect the encoding; cells that a spreadsheet could evaluate as a formula are prefixed
with an apostrophe (OWASP "CSV injection" guidance).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from auditor.model import AuditReport, Finding, Target
from auditor.report._common import controls, fingerprint, gc_paused, masked, show, target_index

COLUMNS: tuple[str, ...] = (
    "run_id",
    "target",
    "env",
    "region",
    "context",
    "category",
    "rule_id",
    "severity",
    "kind",
    "namespace",
    "name",
    "path",
    "message",
    "expected",
    "actual",
    "source_file",
    "commit",
    "author",
    "date",
    "owners",
    "fingerprint",
    "status",
    "suppressed_by",
    "controls",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")
MAX_CELL = 32000
"""Spreadsheet tools cap a cell at 32,767 characters; longer values are cut with a marker."""


def neutralise(cell: str) -> str:
    """Make a cell inert for spreadsheets: prefix ``'`` when it could start a formula; cap its length."""
    if len(cell) > MAX_CELL:
        cell = cell[:MAX_CELL] + "…(truncated)"
    if cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


def row(report: AuditReport, f: Finding, targets: Mapping[str, Target] | None = None) -> list[str]:
    """The CSV cells of one finding (before formula neutralisation)."""
    t = (targets if targets is not None else target_index(report)).get(f.target)
    env = t.env if t else ""
    region = t.region if t else ""
    context = ""
    if t is not None:
        context = t.context or (f"snapshot:{t.snapshot}" if t.snapshot else "")
    expected, actual = masked(f)
    prim = f.provenance.primary
    commit = prim.commit if prim else None
    ref = f.ref
    return [
        report.run_id,
        f.target,
        env,
        region,
        context,
        f.category.value,
        f.rule_id,
        f.severity.value,
        ref.group_kind if ref else "",
        ref.namespace if ref else "",
        ref.name if ref else "",
        f.path,
        f.message,
        show(expected),
        show(actual),
        prim.path if prim else "",
        commit.sha if commit else "",
        f"{commit.author_name} <{commit.author_email}>" if commit else "",
        commit.author_date if commit else "",
        ";".join(f.owners or (prim.owners if prim else ())),
        fingerprint(f),
        f.status.value,
        f.suppressed_by,
        ";".join(controls(f)),
    ]


@gc_paused
def render(report: AuditReport) -> str:
    """The CSV text (with a UTF-8 BOM, CRLF line endings as RFC 4180 asks)."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    targets = target_index(report)
    for f in report.findings:
        writer.writerow([neutralise(c) for c in row(report, f, targets)])
    return buf.getvalue()
