"""The fleet matrix's object cells: one per (state, object), shared by every target that shows it."""

from __future__ import annotations

import dataclasses
import json

from auditor.model import AppObject, AuditReport, DriftKind, ObjectRef, Target, TargetResult
from auditor.report import fleet_view


def _report(states: list[DriftKind]) -> AuditReport:
    web = ObjectRef("apps", "Deployment", "shop", "web")
    cm = ObjectRef("", "ConfigMap", "shop", "web-config")
    results = tuple(
        TargetResult(target=Target(name=f"t{i}"), audited=True,
                     apps=(AppObject(web, "web", "Deployment/web", state),
                           AppObject(dataclasses.replace(cm), "web", "ConfigMap/web-config", DriftKind.IN_SYNC)))
        for i, state in enumerate(states)
    )
    return AuditReport(run_id="r", tool_version="0", started="", finished="", repo_url="", commit="", ref="",
                       results=results)


def test_equal_cells_are_one_and_the_matrix_reads_the_same() -> None:
    matrix = fleet_view.fleet_matrix(_report([DriftKind.IN_SYNC, DriftKind.MODIFIED, DriftKind.IN_SYNC]))
    (row,) = matrix["rows"]
    objects = {o["key"]: o["cells"] for o in row["objects"]}
    web, cm = objects["Deployment/web"], objects["ConfigMap/web-config"]
    assert web[0] is web[2] and web[1] is not web[0]
    assert cm[0] is cm[1] is cm[2]  # equal refs built separately share one cell
    assert json.loads(json.dumps(web)) == [
        {"state": "in-sync", "subject": "Deployment/shop/web"},
        {"state": "drifted", "subject": "Deployment/shop/web"},
        {"state": "in-sync", "subject": "Deployment/shop/web"},
    ]
    assert row["cells"][1]["state"] == "drifted" and row["problem"]
