"""The HTML report's findings data: the JSON its script reads, escaped for a ``<script>`` block.

Compact rows (one per finding, :data:`ROW_COLUMNS`) and a details record per row, with rule texts,
commits and the fleet comparison sent once. :func:`write_data` writes it finding by finding (a fleet's
data is tens of MB); :func:`payload` and :func:`script_json` give the same data and text whole.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

from markupsafe import Markup

from auditor.model import AuditReport, Finding, Target
from auditor.report import fleet_view
from auditor.report._common import fingerprint, mask_for, masked, remediation, rule_description
from auditor.report._text import Sink
from auditor.util.text import visible

_LINE_SEPARATORS = {"\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(value: Any) -> Markup:
    r"""JSON for a ``<script type="application/json">`` block.

    ``<``, ``>`` and ``&`` become ``\\u003c`` etc., so ``</script>`` and ``<!--`` cannot appear in
    the block; U+2028/2029 are escaped for old JavaScript parsers. The result is valid JSON
    and is marked safe because it has been escaped for exactly this context.
    """
    return Markup(_script_text(_compact(value)))  # noqa: S704 - escaped above for the script-data context


def _provenance(f: Finding, commits: dict[str, int], table: list[dict[str, Any]]) -> list[list[Any]]:
    """Provenance files as ``[path, role, line, owners, commit index or -1]``.

    A fleet's findings come from a few hundred commits at most, so commits go into one table
    and each file refers to its index: at 50,000 findings this keeps the page a third smaller.
    """
    out: list[list[Any]] = []
    credited = (dataclasses.replace(f.credit.git, role="credited: set the value"),) if f.credit.git else ()
    for p in (*credited, *f.provenance.files):
        c = p.commit
        index = -1
        if c is not None:
            key = c.sha
            if key not in commits:
                commits[key] = len(table)
                table.append(
                    {
                        "sha": c.sha,
                        "author": f"{c.author_name} <{c.author_email}>",
                        "date": c.author_date,
                        "subject": c.subject,
                        "signed": c.signed,
                        "trailers": [f"{k}: {v}" for k, v in c.trailers],
                    }
                )
            index = commits[key]
        out.append([p.path, p.role, p.line, list(p.owners), index])
    return out


ROW_COLUMNS = (
    "severity",
    "category",
    "target",
    "env",
    "region",
    "kind",
    "namespace",
    "name",
    "path",
    "rule",
    "message",
    "status",
    "suppressed",
    "fingerprint",
)


def _row(f: Finding, targets: dict[str, Target]) -> list[Any]:
    t = targets.get(f.target)
    ref = f.ref
    return [
        f.severity.value,
        f.category.value,
        f.target,
        t.env if t else "",
        t.region if t else "",
        ref.group_kind if ref else "",
        ref.namespace if ref else "",
        ref.name if ref else "",
        f.path,
        f.rule_id,
        f.message,
        f.status.value,
        f.suppressed_by,
        fingerprint(f),
    ]


def _payload_parts(report: AuditReport) -> Iterator[tuple[str, Any]]:
    """The payload's members in order; ``rows`` and ``details`` as iterators (one item per finding).

    ``rules`` and ``commits`` are filled while ``details`` is consumed, so each member must be
    consumed before the next is asked for (both :func:`payload` and :func:`_write_data` do).
    """
    findings = report.findings
    targets = {r.target.name: r.target for r in report.results}
    # Rule description and remediation are the same for most findings of a rule: sent once per
    # rule, and per finding only where they differ (keeps a 50,000-finding page much smaller).
    rules: dict[str, list[str]] = {}
    commit_index: dict[str, int] = {}
    commits: list[dict[str, Any]] = []

    def detail(f: Finding) -> dict[str, Any]:
        ref = f.ref
        expected, actual = masked(f)
        extra = {
            k: mask_for(f.ref, f.path, v)
            for k, v in f.details.items()
            if k not in ("remediation", "description", "title")
        }
        record: dict[str, Any] = {
            "subject": ref.subject if ref else "(repository)",
            "expected": expected,
            "actual": actual,
            "files": _provenance(f, commit_index, commits),
            "live": [[lp.manager, lp.operation, lp.time] for lp in f.provenance.live],
            "owners": list(f.owners),
            "details": extra,
        }
        texts = [rule_description(f), remediation(f)]
        if rules.setdefault(f.rule_id, texts) != texts:
            record["rule"], record["remediation"] = texts
        return record

    yield "columns", list(ROW_COLUMNS)
    yield "rows", (_row(f, targets) for f in findings)
    yield "details", (detail(f) for f in findings)
    yield "rules", rules
    yield "commits", commits
    yield "targets", [r.target.name for r in report.results]
    yield "fleet", fleet_view.env_payload(report)


def payload(report: AuditReport) -> dict[str, Any]:
    """The findings data the page's script reads: compact rows plus a details record per row."""
    return {k: _whole(v) for k, v in _payload_parts(report)}


def _streamed(value: Any) -> bool:
    """True for a dict (string keys) holding iterators: written member by member."""
    return isinstance(value, dict) and any(isinstance(v, Iterator) for v in value.values()) \
        and all(isinstance(k, str) for k in value)


def _whole(value: Any) -> Any:
    """``value`` with its iterators (and those of its streamed dicts) made lists."""
    if isinstance(value, Iterator):
        return [_whole(v) for v in value]
    if _streamed(value):
        return {k: _whole(v) for k, v in value.items()}
    return value


def _stream(value: Any, emit: Callable[[str], None]) -> None:
    """Emit ``_compact(_whole(value))``'s text, an iterator's items (and a streamed dict's members) one by one."""
    if isinstance(value, Iterator):
        emit("[")
        for n, item in enumerate(value):
            if n:
                emit(",")
            _stream(item, emit)
        emit("]")
    elif _streamed(value):
        emit("{")
        for i, (key, item) in enumerate(value.items()):
            emit(("," if i else "") + _compact(key) + ":")
            _stream(item, emit)
        emit("}")
    else:
        emit(_compact(value))


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _script_text(text: str) -> str:
    """JSON text made safe inside ``<script type="application/json">`` (see :func:`script_json`)."""
    text = visible(text).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    for ch, esc in _LINE_SEPARATORS.items():
        text = text.replace(ch, esc)
    return text


def write_data(report: AuditReport, out: Sink) -> None:
    """Append ``script_json(payload(report))``'s text, one finding's row or details at a time."""
    pieces: list[str] = []

    def emit(text: str) -> None:
        pieces.append(text)
        if len(pieces) >= 512:  # escaped per batch: every escape works per character
            out.append(_script_text("".join(pieces)))
            pieces.clear()

    emit("{")
    for i, (key, value) in enumerate(_payload_parts(report)):
        emit(("," if i else "") + _compact(key) + ":")
        _stream(value, emit)
    emit("}")
    out.append(_script_text("".join(pieces)))
