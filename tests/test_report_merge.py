"""``report merge``: a real sharded audit of the demo fleet, merged, equals the unsharded audit.

The shards are run through ``auditor.commands.run`` (load_run_config + execute), selecting targets
with :func:`auditor.shard.select_shard` exactly as ``run --shard K/N`` does once wired.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditor import metrics
from auditor.commands import report_merge, run
from auditor.demo.fleet import DemoFleet, create_demo
from auditor.errors import UsageError
from auditor.model import AuditReport, ShardInfo
from auditor.report import json_report

pytestmark = pytest.mark.slow  # three audits of the demo fleet (~1 min)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> DemoFleet:
    return create_demo(tmp_path_factory.mktemp("merge") / "demo-fleet")


def run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    run.add_run_arguments(p)  # includes --shard and the metrics flags
    return p


def merge_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    report_merge.register(sub)
    return p


def audit(argv: list[str]) -> run.Outcome:
    """``gitops-audit run ARGV``, --shard included, through the run command's own machinery."""
    args = run_parser().parse_args(argv)
    cfg, selection = run.load_run_config(args)
    return run.execute(cfg, args, selection)


@pytest.fixture(scope="module")
def runs(fleet: DemoFleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One unsharded audit and its two shards (each a reports directory), shared by the tests."""
    base = tmp_path_factory.mktemp("runs")
    config = str(fleet.config)
    whole = audit(["--config", config, "--out", str(base / "whole"), "-q"])
    shards = []
    for k in range(2):
        out = base / f"shard-{k}"
        outcome = audit(["--config", config, "--shard", f"{k}/2", "--out", str(out), "-q"])
        assert outcome.report.results, "the demo fleet should fill both shards"
        assert outcome.report.shard == ShardInfo(k, 2, "name")  # shards record N, their index and the basis
        shards.append(out)
    return {"whole": whole, "whole_dir": base / "whole", "shards": shards, "config": config}


VOLATILE = {"run_id", "started", "finished", "duration_seconds", "timings", "time", "first_seen", "last_seen",
            # git fields that differ between targets need every target's rendered objects: a shard
            # only has its own, so a merged report has none (README: Reports)
            "fleet_fields"}


def comparable(report: AuditReport) -> Any:
    """The JSON report without what legitimately differs between two runs (ids, times, timings)."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in VOLATILE}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(json_report.to_dict(report))


def test_sharded_run_merged_equals_unsharded(runs: dict[str, Any], tmp_path: Path) -> None:
    config = runs["config"]
    whole: run.Outcome = runs["whole"]
    assert len(whole.report.results) >= 4
    parts = runs["shards"]  # reports directories: merge takes their latest run
    names = [[r.target.name for r in json_report.load((p / "latest" / "report.json").read_bytes()).results]
             for p in parts]
    assert not set(names[0]) & set(names[1])
    merged_out = tmp_path / "merged"
    args = merge_parser().parse_args(
        ["report", "merge", *map(str, parts), "--out", str(merged_out), "--config", config, "-q",
         "--max-age", "3600", "--metrics-file", str(tmp_path / "m.prom")])
    code = args.func(args)
    merged = json_report.load((merged_out / "latest" / "report.json").read_bytes())
    assert code == whole.exit_code == merged.exit_code()
    assert [r.target.name for r in merged.results] == [r.target.name for r in whole.report.results]
    assert comparable(merged) == comparable(whole.report)
    # every format was written, and the metrics describe the merged run
    assert {"report.html", "report.json", "findings.csv", "junit.xml", "report.sarif"} <= {
        p.name for p in (merged_out / "latest").iterdir()}
    # OSCAL: the merged run names the same controls with the same verdicts (from the shards' checks).
    def verdicts(run_dir: Path) -> dict[str, str]:
        doc = json.loads((run_dir / "oscal.json").read_text())
        return {f["target"]["target-id"]: f["target"]["status"]["state"]
                for f in doc["assessment-results"]["results"][0].get("findings", ())}

    assert verdicts(merged_out / "latest") == verdicts(whole.run_dir)
    assert "satisfied" in verdicts(merged_out / "latest").values()
    assert metrics.read_last_success(tmp_path / "m.prom") is not None
    prom = (tmp_path / "m.prom").read_text()
    for r in whole.report.results:
        t = r.target
        assert f'gitops_audit_target_up{{target="{t.name}",env="{t.env}",region="{t.region}"}} 1' in prom


def test_merge_orders_by_name_without_config_and_marks_persisting(runs: dict[str, Any], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITOPS_AUDIT_CONFIG", raising=False)
    part = runs["whole_dir"]
    out = tmp_path / "out"
    for _ in range(2):
        args = merge_parser().parse_args(["report", "merge", str(part / "latest" / "report.json"),
                                          "--out", str(out), "-q"])
        args.func(args)
    merged = json_report.load((out / "latest" / "report.json").read_bytes())
    names = [r.target.name for r in merged.results]
    assert names == sorted(names)
    assert merged.previous_run_id  # the second merge compared itself with the first
    assert merged.findings and all(f.status.value == "persisting" for f in merged.findings)


def _part(path: Path, **changes: Any) -> Path:
    doc = json.loads(path.read_text())
    doc.update(changes)
    if doc.get("shard") is None:
        doc.pop("shard", None)
    new = path.parent / f"edited-{len(list(path.parent.glob('edited-*')))}.json"
    new.write_text(json.dumps(doc))
    return new


def test_merge_refuses_parts_of_different_audits(runs: dict[str, Any], tmp_path: Path) -> None:
    pa = report_merge.resolve_part(runs["shards"][0])
    pb = tmp_path / "b" / "report.json"
    pb.parent.mkdir()
    pb.write_bytes(report_merge.resolve_part(runs["shards"][1]).read_bytes())
    load = report_merge.load_parts
    report_merge.check_parts(load([pa, pb]))  # the honest pair is fine
    with pytest.raises(UsageError, match="shard 0 of 2 is given twice"):
        report_merge.check_parts(load([pa, pa]))
    with pytest.raises(UsageError, match="in two parts"):  # parts that are not shards: by target
        report_merge.check_parts(load([_part(pa, shard=None), _part(pa, shard=None)]))
    with pytest.raises(UsageError, match="different commits"):
        report_merge.check_parts(load([pa, _part(pb, commit="f" * 40)]))
    with pytest.raises(UsageError, match="config_sha256"):
        report_merge.check_parts(load([pa, _part(pb, config_sha256="0" * 64)]))
    old = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds").replace("+00:00", "Z")
    with pytest.raises(UsageError, match="did that shard fail"):
        report_merge.check_parts(load([pa, _part(pb, finished=old)]), max_age=3600)
    # A shard's old part is not refused: its shard counts as missing (the merged run is partial).
    kept, dropped = report_merge.fresh_parts(load([pa, _part(pb, finished=old)]), max_age=3600)
    assert [p.run_id for p in kept] == [load([pa])[0].run_id] and "counted as missing" in dropped[0]
    unmarked = _part(pb, finished=old, shard=None)
    with pytest.raises(UsageError, match="did that shard fail"):
        report_merge.fresh_parts(load([pa, unmarked]), max_age=3600)
    # Shards agree on N and on the assignment; one given twice is refused.
    with pytest.raises(UsageError, match="different sizes"):
        report_merge.check_parts(load([pa, _part(pb, shard={"index": 1, "count": 3, "basis": "name"})]))
    with pytest.raises(UsageError, match="assigned targets differently"):
        report_merge.check_parts(load([pa, _part(pb, shard={"index": 1, "count": 2, "basis": "size:x"})]))
    with pytest.raises(UsageError, match="given twice"):
        report_merge.check_parts(load([pa, _part(pb, shard={"index": 0, "count": 2, "basis": "name"})]))
    with pytest.raises(UsageError, match="some parts are shards"):
        report_merge.check_parts(load([pa, _part(pb, shard=None)]))
    names = [r.target.name for p in load([pa, pb]) for r in p.results]
    assert report_merge.check_coverage(load([pa, pb]), names) == []
    assert report_merge.check_coverage(load([pa]), names) == [r.target.name for r in load([pb])[0].results]
    with pytest.raises(UsageError, match=r"no report\.json"):
        report_merge.resolve_part(tmp_path / "nothing")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(UsageError, match=r"broken\.json"):
        load([broken])


def test_an_empty_shard_merges(runs: dict[str, Any]) -> None:
    whole = json_report.load(report_merge.resolve_part(runs["whole_dir"]).read_bytes())
    empty = dataclasses.replace(whole, run_id="20260101T000000Z-000000", results=(), commit="", repo_url="")
    merged = report_merge.merge_reports([empty, whole], run_id=whole.run_id,
                                        order=[r.target.name for r in whole.results])
    assert comparable(merged) == comparable(whole)


def _merge(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, AuditReport, str]:
    args = merge_parser().parse_args(["report", "merge", *argv])
    code = args.func(args)
    out = Path(argv[argv.index("--out") + 1])
    return code, json_report.load((out / "latest" / "report.json").read_bytes()), capsys.readouterr().err


def test_a_missing_shard_makes_the_merged_run_partial(runs: dict[str, Any], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18: merging 1 of 2 shards is never 'partial: false'; with the config, each absent target shows."""
    one = str(runs["shards"][0])
    code, merged, err = _merge([one, "--out", str(tmp_path / "with-config"), "--config", runs["config"], "-q"],
                               capsys)
    assert code == 3 and merged.partial
    expected = [r.target.name for r in json_report.load(report_merge.resolve_part(runs["shards"][1]).read_bytes()
                                                       ).results]
    gaps = [r for r in merged.results if not r.audited]
    assert sorted(r.target.name for r in gaps) == sorted(expected)
    assert all("shard 1 of 2 is missing" in r.skip_reason for r in gaps)
    assert "shard(s) 1 of 2 missing" in err
    # Without a config: one entry for the missing shard.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITOPS_AUDIT_CONFIG", raising=False)
    code, merged, _ = _merge([one, "--out", str(tmp_path / "no-config"), "-q"], capsys)
    assert code == 3 and [r.target.name for r in merged.results if not r.audited] == ["shard 1 of 2"]
    # --shards says how many to expect even when every part present says fewer are missing.
    code, merged, _ = _merge([one, str(runs["shards"][1]), "--out", str(tmp_path / "all"), "--shards", "2", "-q"],
                             capsys)
    assert code != 3 and not merged.partial


def test_merge_waits_for_the_last_shard(runs: dict[str, Any], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """--wait polls until every shard has a part: here the second appears while the merge waits."""
    import shutil
    import threading

    late = tmp_path / "late"

    def finish_later() -> None:
        shutil.copytree(runs["shards"][1], late)

    timer = threading.Timer(1.0, finish_later)
    timer.start()
    try:
        code, merged, _ = _merge([str(runs["shards"][0]), str(late), "--out", str(tmp_path / "out"), "--wait", "120",
                                  "--config", runs["config"], "-q"], capsys)
    finally:
        timer.join()
    assert not merged.partial
    assert comparable(merged) == comparable(runs["whole"].report)
    assert code == runs["whole"].exit_code


def test_shards_balanced_by_an_earlier_report_merge_like_the_whole(runs: dict[str, Any], tmp_path: Path) -> None:
    """--shard-costs: every shard balances from the same report, records it, and the merge equals the whole."""
    config = runs["config"]
    basis = json_report.load(report_merge.resolve_part(runs["whole_dir"]).read_bytes())
    parts = []
    for k in range(3):
        out = tmp_path / f"s{k}"
        outcome = audit(["--config", config, "--shard", f"{k}/3", "--shard-costs", str(runs["whole_dir"]),
                         "--out", str(out), "-q"])
        assert outcome.report.shard == ShardInfo(k, 3, f"size:{basis.run_id}")
        parts.append(str(out))
    args = merge_parser().parse_args(["report", "merge", *parts, "--out", str(tmp_path / "m"), "--config", config,
                                      "-q"])
    code = args.func(args)
    merged = json_report.load((tmp_path / "m" / "latest" / "report.json").read_bytes())
    assert code == runs["whole"].exit_code
    assert comparable(merged) == comparable(runs["whole"].report)
    with pytest.raises(UsageError, match="--shard-costs"):
        audit(["--config", config, "--shard", "0/3", "--shard-costs", str(tmp_path / "none"), "--out",
               str(tmp_path / "x"), "-q"])
