"""CSV report: one row per finding, one meaning per column, safe to open in spreadsheet tools.

Columns (one meaning each; dates are UTC ISO-8601 with ``Z``):

================  ==================================================================
run_id            the run that produced the row
target            target name
env, region       the target's environment and region
context           kubeconfig context (or ``snapshot:DIR`` for offline targets)
category          drift | policy | change-control | coverage
rule_id           the check's rule id
severity          critical | high | medium | low | info
title             one-line description of the rule
kind              object kind (``Kind.group`` for non-core groups)
namespace         object namespace (empty when cluster-scoped)
name              object name
side              ``desired`` or ``live`` for policy findings (which state the rule judged)
field_path        the field: drift's changed field, or the field a policy rule names
message           human message
expected          desired value (JSON for structures; secrets masked)
actual            live value (JSON for structures; secrets masked)
git_file          what git says: the file that set the value (field blame), else the object's origin
                  file; for change control the unowned file or the commit's first file
git_line          line in ``git_file`` (empty when unknown)
git_commit        the commit that last wrote that line (field blame) or file; the judged commit
                  for change control
git_author        its author (``Name <email>``)
git_date          its author date
git_owners        CODEOWNERS owners of ``git_file``, ``;``-separated
approval          how that commit was approved, from the change ledger (empty: not in the ledger)
live_manager      what the cluster says: the field manager of the live change
live_operation    its operation (``Update``, ``Apply``)
live_time         its time
object_file       the object's own origin file (its provenance), which may differ from ``git_file``
owners            owners responsible for the finding, ``;``-separated
first_seen        first run of the same scope that reported the finding
last_seen         latest run that reported it
status            new | persisting
suppressed_by     ignore rule / waiver hiding the finding (empty when it counts)
remediation       what to do about it
controls          ``framework:control`` ids the finding gives evidence for, ``;``-separated
fingerprint       stable id of the finding across runs
================  ==================================================================

Rows are in the report's deterministic order. The text starts with a UTF-8 BOM so spreadsheet
tools detect the encoding; cells that a spreadsheet could evaluate as a formula are prefixed
with an apostrophe (OWASP "CSV injection" guidance); control and bidi characters are written as
visible ``<U+202E>`` marks, so neither a terminal nor a spreadsheet obeys them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from auditor.model import AuditReport, Finding, Target
from auditor.report._common import (
    controls,
    fingerprint,
    gc_paused,
    masked,
    remediation,
    rule_description,
    show,
    side_and_field,
    target_index,
    utc_z,
)
from auditor.report._text import Sink
from auditor.util.text import csv_safe

COLUMNS: tuple[str, ...] = (
    "run_id", "target", "env", "region", "context", "category", "rule_id", "severity", "title",
    "kind", "namespace", "name", "side", "field_path", "message", "expected", "actual",
    "git_file", "git_line", "git_commit", "git_author", "git_date", "git_owners", "approval",
    "live_manager", "live_operation", "live_time", "object_file", "owners",
    "first_seen", "last_seen", "status", "suppressed_by", "remediation", "controls", "fingerprint",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")
MAX_CELL = 32000
"""Spreadsheet tools cap a cell at 32,767 characters; longer values are cut with a marker."""


def neutralise(cell: str) -> str:
    """Make a cell inert: controls and bidi characters shown as ``<U+001B>``, ``'`` before a formula, length capped."""
    cell = csv_safe(cell)
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
    side, field_path = side_and_field(f)
    git, live = f.credit.git, f.credit.live
    commit = git.commit if git else None
    prim = f.provenance.primary
    ref = f.ref
    return [
        report.run_id, f.target, env, region, context, f.category.value, f.rule_id, f.severity.value,
        rule_description(f),
        ref.group_kind if ref else "", ref.namespace if ref else "", ref.name if ref else "",
        side, field_path, f.message, show(expected), show(actual),
        git.path if git else "", str(git.line) if git and git.line else "",
        commit.sha if commit else "",
        f"{commit.author_name} <{commit.author_email}>" if commit else "",
        utc_z(commit.author_date) if commit else "",
        ";".join(git.owners) if git else "",
        f.credit.approval,
        live.manager if live else "", live.operation if live else "", utc_z(live.time) if live else "",
        prim.path if prim else "",
        ";".join(f.owners),
        f.first_seen, f.last_seen, f.status.value, f.suppressed_by, remediation(f),
        ";".join(controls(f)), fingerprint(f),
    ]


@gc_paused
def write(report: AuditReport, out: Sink) -> None:
    """Append the CSV text (with a UTF-8 BOM, CRLF line endings as RFC 4180 asks), a batch of rows at a time."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    targets = target_index(report)
    for n, f in enumerate(report.findings, 1):
        writer.writerow([neutralise(c) for c in row(report, f, targets)])
        if n % 1000 == 0:
            out.append(buf.getvalue())
            buf.seek(0)
            buf.truncate()
    out.append(buf.getvalue())


def render(report: AuditReport) -> str:
    """The CSV text as one string (see :func:`write`)."""
    out: list[str] = []
    write(report, out)
    return "".join(out)
