"""The per-framework view of the HTML report (templates/_frameworks.html.j2), as plain data."""

from __future__ import annotations

from typing import Any

from auditor.catalog.load import data_rules, frameworks
from auditor.catalog.scoring import change_management, framework_views
from auditor.model import AuditReport


def frameworks_view_model(report: AuditReport) -> dict[str, Any]:
    """Frameworks with their controls' tallies and scores, and the change-management rules' tallies."""
    catalog_rules = data_rules()
    views = framework_views(report.results, frameworks()[0])
    return {
        "frameworks": [
            {
                "key": v.key,
                "name": v.name,
                "version": v.version,
                "score": v.score,
                "failed": v.count("failed"),
                "passed": v.count("passed"),
                "not_evaluated": v.count("not evaluated"),
                "controls": [
                    {"control": c.control, "title": c.title, "status": c.status, "rules": c.rules,
                     **c.tally.as_dict()}
                    for c in v.controls
                ],
            }
            for v in views
        ],
        "change_management": [
            {"rule_id": rule_id, "title": catalog_rules[rule_id].title if rule_id in catalog_rules else "",
             **t.as_dict()}
            for rule_id, t in change_management(
                report.results, {k: v.category for k, v in catalog_rules.items()}
            ).items()
        ],
    }
