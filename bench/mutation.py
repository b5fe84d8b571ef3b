"""Mutation testing of the modules where a silent bug costs most (issue 20), with mutmut, outside CI.

Usage (from the repository root, in an environment with the ``mutation`` extra: ``pip install -e '.[mutation]'``)::

    python bench/mutation.py                      # every group below, fresh, 2 workers
    python bench/mutation.py diff.orphans waivers # some groups
    python bench/mutation.py --list               # the groups, their modules and tests
    python bench/mutation.py --survivors          # also print the diff of every surviving mutant

Each group mutates one module (or only some functions of it: the masking helpers of ``report/_common.py``,
the verdict of ``model.py``) and runs only the test files mapped to it below: the whole suite per mutant
is far too slow on two shared cores. mutmut additionally runs, for each mutant, only the tests of that list
which call the mutated function. Work happens in ``.mutation/<group>/`` (a copy of the tracked and new
files, git-ignored), so the working tree is never touched and groups can be re-run one at a time.

Output: one Markdown table row per group (ready to paste into ``bench/RESULTS.md``) and the names of the
survivors; ``.mutation/summary.json`` keeps the same data. Exit status 0 when the run completed (the score
is information, not a gate), 2 when mutmut is missing or a group could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"


@dataclass(frozen=True)
class Group:
    """One module (or part of one) and the test files that guard it."""

    module: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()
    """Mutant name globs (``auditor.model.xǁAuditReportǁexit_code*``); empty: every function of the module."""


def _fn(module: str, *names: str) -> tuple[str, ...]:
    """Globs for module functions (``x_name``) or methods (``Class.method`` → ``xǁClassǁmethod``)."""
    dotted = module.removesuffix(".py").replace("/", ".")
    out = []
    for n in names:
        cls, _, meth = n.rpartition(".")
        out.append(f"{dotted}.xǁ{cls}ǁ{meth}__mutmut_*" if cls else f"{dotted}.x_{n}__mutmut_*")
    return tuple(out)


DIFF_ENGINE_TESTS = ("tests/diff/test_engine_basic.py", "tests/diff/test_engine_misc.py", "tests/diff/test_corpus.py")
GROUPS: dict[str, Group] = {
    "diff.normalize": Group("auditor/diff/normalize.py", (
        "tests/diff/test_normalize.py", "tests/diff/test_guards_normalize.py", "tests/diff/test_guards_quantities.py",
        *DIFF_ENGINE_TESTS,
        "tests/diff/test_defaults.py", "tests/diff/test_secrets_canary.py")),
    "diff.compare": Group("auditor/diff/compare.py", (
        *DIFF_ENGINE_TESTS, "tests/diff/test_guards_quantities.py", "tests/diff/test_guards_compare.py",
        "tests/diff/test_defaults.py", "tests/diff/test_command_diff.py", "tests/diff/test_render_golden.py")),
    "diff.orphans": Group("auditor/diff/orphans.py", (
        *DIFF_ENGINE_TESTS, "tests/diff/test_guards_orphans.py", "tests/diff/test_ignore.py")),
    "report.masking": Group("auditor/report/_common.py", (
        "tests/report/test_guards_masking.py", "tests/report/test_report_formats.py",
        "tests/report/test_report_smoke.py"),
        _fn("auditor/report/_common.py", "_is_secret_kind", "_mask_tree", "mask_for", "mask_value", "masked")),
    "report.csv": Group("auditor/report/csv_report.py", (
        "tests/report/test_guards_csv.py", "tests/report/test_report_formats.py", "tests/report/test_report_golden.py",
        "tests/report/test_report_smoke.py")),
    "policy.waivers": Group("auditor/policy/waivers.py", (
        "tests/policy/test_waivers.py", "tests/policy/test_guards_waivers.py")),
    "provenance.changecontrol": Group("auditor/provenance/changecontrol.py", (
        "tests/provenance/test_changecontrol.py", "tests/provenance/test_guards_changecontrol.py",
        "tests/provenance/test_approvals.py")),
    "model.exit_code": Group("auditor/model.py", (
        "tests/test_guards_exit_code.py", "tests/report/test_report_formats.py"),
        _fn("auditor/model.py", "AuditReport.exit_code", "AuditReport.failing", "AuditReport.partial",
            "Finding.counts", "Severity.at_least", "Severity.rank")),
    "provenance.codeowners": Group("auditor/provenance/codeowners.py", (
        "tests/provenance/test_codeowners.py", "tests/provenance/test_guards_codeowners.py",
        "tests/provenance/test_changecontrol.py")),
}

KILLED = {"killed", "timeout"}


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, capture_output=True).stdout.decode()
    return [p for p in out.split("\0") if p and (ROOT / p).is_file()]


def _workspace(name: str, group: Group) -> Path:
    """A fresh copy of the repository with the group's mutmut configuration."""
    ws = WORK / name
    if ws.exists():
        shutil.rmtree(ws)
    ws.mkdir(parents=True)
    for rel in _tracked_files():
        if rel.startswith(".mutation/"):
            continue
        dest = ws / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest)
    top = sorted({p.split("/", 1)[0] for p in _tracked_files() if "/" in p} - {"auditor", ".mutation", "tests"})
    config = {
        "source_paths": ["auditor"],
        "only_mutate": [group.module],
        "also_copy": [*top, *(p for p in os.listdir(ws) if (ws / p).is_file())],
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-p", "no:randomly"],
        "pytest_add_cli_args_test_selection": list(group.tests),
        "use_git_change_detection": False,
    }
    with (ws / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n[tool.mutmut]\n")
        for key, value in config.items():
            fh.write(f"{key} = {json.dumps(value)}\n")
    # The mutated copy must exist before mutmut starts: a PYTHONPATH entry that does not exist yet is
    # cached as "nothing here" by the import system, and the tests would import the unmutated package.
    (ws / "mutants").mkdir()
    return ws


def _statuses(ws: Path, group: Group) -> dict[str, str]:
    from fnmatch import fnmatchcase

    from mutmut.stats import status_by_exit_code  # type: ignore[import-not-found]

    meta = json.loads((ws / "mutants" / (group.module + ".meta")).read_text())
    out = {}
    for name, code in meta["exit_code_by_key"].items():
        if group.functions and not any(fnmatchcase(name, g) for g in group.functions):
            continue
        out[name] = status_by_exit_code[code]
    return out


def run_group(name: str, group: Group, workers: int, survivors: bool) -> dict[str, object]:
    """Run mutmut for one group; returns its counts and survivors."""
    for t in group.tests:
        if not (ROOT / t).is_file():
            raise SystemExit(f"mutation: group {name}: test file {t} does not exist")
    ws = _workspace(name, group)
    env = {**os.environ, "PYTHONPATH": str(ws / "mutants")}
    env.pop("CI", None)  # a mutant that makes a test skip must not turn into a "kill" through tests/ci_skips.py
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(workers), *group.functions]
    began = time.monotonic()
    with (ws / "mutmut.log").open("w", encoding="utf-8") as log:
        proc = subprocess.run(cmd, cwd=ws, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - began
    if proc.returncode != 0 or not (ws / "mutants" / (group.module + ".meta")).is_file():
        tail = (ws / "mutmut.log").read_text(errors="replace").replace("\r", "\n").splitlines()[-5:]
        return {"group": name, "error": f"mutmut exited {proc.returncode}: " + " | ".join(tail)}
    statuses = _statuses(ws, group)
    counts: dict[str, int] = {}
    for s in statuses.values():
        counts[s] = counts.get(s, 0) + 1
    total = len(statuses)
    killed = sum(counts.get(s, 0) for s in KILLED)
    survived = sorted(n for n, s in statuses.items() if s not in KILLED)
    diffs = {}
    if survivors:
        for n in survived:
            shown = subprocess.run([sys.executable, "-m", "mutmut", "show", n], cwd=ws, env=env, capture_output=True,
                                   text=True, check=False)
            diffs[n] = shown.stdout
    return {"group": name, "module": group.module, "total": total, "killed": killed, "counts": counts,
            "score": round(100 * killed / total, 1) if total else 0.0, "seconds": round(seconds),
            "survivors": {n: statuses[n] for n in survived}, "diffs": diffs}


def main() -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("groups", nargs="*", help=f"groups to run (default: all): {', '.join(GROUPS)}")
    p.add_argument("--workers", type=int, default=2, help="parallel mutant runs (default 2)")
    p.add_argument("--survivors", action="store_true", help="print the diff of every surviving mutant")
    p.add_argument("--list", action="store_true", help="list the groups and exit")
    p.add_argument("--print", action="store_true", help="print the last run's table from .mutation/summary.json")
    args = p.parse_args()
    if args.print:
        return _print(json.loads((WORK / "summary.json").read_text()))
    if args.list:
        for name, g in GROUPS.items():
            print(f"{name}: {g.module}{' (' + ', '.join(g.functions) + ')' if g.functions else ''}")
            print("    " + " ".join(g.tests))
        return 0
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        p.error(f"unknown group(s): {', '.join(unknown)}")
    try:
        import mutmut  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        print("mutation: mutmut is not installed: pip install -e '.[mutation]'", file=sys.stderr)
        return 2
    merged: list[dict[str, object]] = []
    for name in args.groups or list(GROUPS):
        print(f"== {name}", file=sys.stderr, flush=True)
        merged = _record(run_group(name, GROUPS[name], args.workers, args.survivors))
    return _print(merged)


def _record(result: dict[str, object]) -> list[dict[str, object]]:
    """Merge one group's result into ``.mutation/summary.json`` at once (an interrupted run keeps what it did)."""
    WORK.mkdir(exist_ok=True)
    previous = json.loads((WORK / "summary.json").read_text()) if (WORK / "summary.json").is_file() else []
    merged = [r for r in previous if r.get("group") != result["group"] and r.get("group") in GROUPS] + [result]
    merged.sort(key=lambda r: list(GROUPS).index(r["group"]))
    (WORK / "summary.json").write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
    return merged


def _print(results: list[dict[str, object]]) -> int:
    """The Markdown table and survivors of ``results``; 2 when a group failed to run."""
    print("| group | module | mutants | killed | score | survivors | time |")
    print("|---|---|---:|---:|---:|---:|---:|")
    failed = False
    for r in results:
        if "error" in r:
            failed = True
            print(f"| {r['group']} | error: {r['error']} | | | | | |")
            continue
        print(f"| {r['group']} | `{r['module']}` | {r['total']} | {r['killed']} | {r['score']} % "
              f"| {len(r['survivors'])} | {r['seconds']} s |")  # type: ignore[arg-type]
    done = [r for r in results if "error" not in r]
    total = sum(int(r["total"]) for r in done)  # type: ignore[call-overload]
    killed = sum(int(r["killed"]) for r in done)  # type: ignore[call-overload]
    if total:
        print(f"| **all** | | {total} | {killed} | {round(100 * killed / total, 1)} % | {total - killed} | |")
    for r in results:
        survivors = r.get("survivors") or {}
        if survivors:
            print(f"\n#### {r['group']}: {len(survivors)} survivors\n")  # type: ignore[arg-type]
        for n, status in survivors.items():  # type: ignore[union-attr]
            diff = (r.get("diffs") or {}).get(n, "")  # type: ignore[union-attr]
            print(f"- `{n.rsplit('.', 1)[-1]}` ({status}){_one_line(diff)}")
    return 2 if failed else 0


def _one_line(diff: str) -> str:
    """The changed line of a mutant's diff as ``: `old` → `new```, or ``""`` without a diff."""
    old = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    new = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    if not old and not new:
        return ""
    return f": `{' '.join(old)[:110]}` → `{' '.join(new)[:110]}`"


if __name__ == "__main__":
    sys.exit(main())
