"""deploy/overlays/indexed-job, run as Kubernetes would run it: every index, then the merge, two nights.

The container arguments come from the real ``kubectl kustomize`` output; only the volume paths are
moved under a temporary directory and ``$(JOB_COMPLETION_INDEX)`` is set per index, as the kubelet
does. The first night has no merged history, so shards are assigned by name; the second balances by
the first night's merged report. Each night's merge must equal an unsharded audit of the same fleet,
and a shard that never finishes makes the merge partial instead of passing as clean.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.demo.fleet import create_demo
from auditor.report import json_report
from tests.test_deploy import DEPLOY, by_kind, render

pytestmark = pytest.mark.slow  # seven audits of parts of the demo fleet (~1 min)


def _job_args(tmp: Path) -> tuple[int, list[str], list[str]]:
    """(shard count, audit arguments, merge arguments) of the overlay, with /reports moved under ``tmp``."""
    docs = render(DEPLOY / "overlays" / "indexed-job")
    crons = {d["metadata"]["name"]: d["spec"]["jobTemplate"]["spec"] for d in by_kind(docs, "CronJob")}
    audit, merge = crons["gitops-audit"], crons["gitops-audit-merge"]
    move = [a.replace("/reports", str(tmp / "reports")) for a in audit["template"]["spec"]["containers"][0]["args"]]
    mmove = [a.replace("/reports", str(tmp / "reports")) for a in merge["template"]["spec"]["containers"][0]["args"]]
    return int(audit["completions"]), move, mmove


def _index(args: list[str], k: int, config: Path) -> list[str]:
    return [re.sub(r"\$\(JOB_COMPLETION_INDEX\)", str(k), a) for a in args] + ["--config", str(config)]


def _comparable(path: Path) -> Any:
    doc = json.loads(path.read_text())
    return sorted(
        (t["target"]["name"], sorted((f["rule_id"], f["severity"], f.get("fingerprint", ""), f["suppressed_by"])
                           for f in t["findings"]))
        for t in doc["targets"]
    )


def test_indexed_job_nights_merge_like_an_unsharded_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = create_demo(tmp_path / "demo-fleet")
    n, audit, merge = _job_args(tmp_path)
    reports = tmp_path / "reports"
    reports.mkdir()  # the PVC: mounted, empty on the first night
    whole = main(["run", "--config", str(fleet.config), "--out", str(tmp_path / "whole"), "-q"])
    expected = _comparable(tmp_path / "whole" / "latest" / "report.json")

    bases = []
    for _night in range(2):
        for k in range(n):
            monkeypatch.setenv("JOB_COMPLETION_INDEX", str(k))
            assert main(_index(audit, k, fleet.config)) in (0, 1)
            part = json_report.load((reports / "shards" / str(k) / "latest" / "report.json").read_bytes())
            assert part.shard is not None and (part.shard.index, part.shard.count) == (k, n)
            bases.append(part.shard.basis)
        monkeypatch.delenv("JOB_COMPLETION_INDEX")
        assert main([*merge, "--config", str(fleet.config)]) == whole
        assert _comparable(reports / "latest" / "report.json") == expected
    first, second = bases[:n], bases[n:]
    assert set(first) == {"name"}  # no merged history yet
    (basis,) = set(second)  # every shard balanced from the same report: the first night's merge
    assert basis.startswith("size:")


def test_a_shard_that_never_finishes_makes_the_merge_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = create_demo(tmp_path / "demo-fleet")
    n, audit, merge = _job_args(tmp_path)
    (tmp_path / "reports").mkdir()
    for k in range(n - 1):  # the last index fails before writing its part
        monkeypatch.setenv("JOB_COMPLETION_INDEX", str(k))
        main(_index(audit, k, fleet.config))
    merge = [re.sub(r"^--wait=.*", "--wait=0.1", a) for a in merge]
    assert main([*merge, "--config", str(fleet.config)]) == 3
    doc = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    assert any(not t["audited"] for t in doc["targets"])

