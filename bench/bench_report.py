"""Benchmark the report stage: every format for N findings, and the HTML report in headless Chromium.

Usage::

    python bench/bench_report.py [--findings 50000] [--targets 12] [--no-browser] [--keep-dir DIR]

Prints one line per measurement (seconds, sizes). The browser part needs Debian's ``chromium``
and the ``playwright`` Python package (never ``playwright install``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.model import (
    AuditReport,
    Category,
    CommitInfo,
    FileProvenance,
    Finding,
    LiveProvenance,
    ObjectRef,
    Provenance,
    Severity,
    Target,
    TargetResult,
    ToolInfo,
)

ENVS = ("dev", "staging", "production")
REGIONS = ("us-east", "us-west", "eu-west", "ap-south")
KINDS = (("apps", "Deployment"), ("", "ConfigMap"), ("", "Service"), ("", "Secret"), ("networking.k8s.io", "Ingress"))
RULES = {
    Category.DRIFT: ("drift/modified", "drift/missing", "drift/added", "drift/orphaned"),
    Category.POLICY: ("k8s.resources.limits", "k8s.image.latest", "k8s.probes.liveness", "k8s.rbac.wildcard"),
    Category.CHANGE_CONTROL: ("codeowners/unowned-path", "codeowners/unapproved-commit"),
    Category.COVERAGE: ("coverage/forbidden",),
}


def synthetic_report(n_findings: int, n_targets: int, seed: int = 7) -> AuditReport:
    """A deterministic report with ``n_findings`` spread over ``n_targets`` targets."""
    rnd = random.Random(seed)
    commits = [
        CommitInfo(
            sha=f"{i:040x}",
            author_name=f"Dev {i}",
            author_email=f"dev{i}@example.com",
            author_date="2026-01-01T00:00:00+00:00",
            subject=f"change number {i}",
        )
        for i in range(50)
    ]
    targets = [
        Target(
            name=f"{ENVS[i % 3]}-{REGIONS[(i // 3) % 4]}-{i}",
            env=ENVS[i % 3],
            region=REGIONS[(i // 3) % 4],
            path=f"overlays/{ENVS[i % 3]}/{REGIONS[(i // 3) % 4]}",
            context=f"ctx-{i}",
        )
        for i in range(n_targets)
    ]
    per_target: dict[str, list[Finding]] = {t.name: [] for t in targets}
    cats = list(RULES)
    sevs = list(Severity)
    for i in range(n_findings):
        t = targets[i % n_targets]
        cat = cats[rnd.randrange(len(cats))]
        group, kind = KINDS[rnd.randrange(len(KINDS))]
        ref = ObjectRef(group, kind, f"ns-{rnd.randrange(40)}", f"obj-{i}")
        is_image = cat is Category.DRIFT and kind == "Deployment" and rnd.random() < 0.3
        path = "spec.template.spec.containers[name=app].image" if is_image else (
            f"spec.field{rnd.randrange(20)}" if cat is Category.DRIFT else "")
        per_target[t.name].append(
            Finding(
                target=t.name,
                category=cat,
                rule_id=rnd.choice(RULES[cat]),
                severity=sevs[rnd.randrange(len(sevs))],
                message=f"synthetic finding {i} on {ref.subject}",
                ref=ref,
                path=path,
                expected=f"registry/app:1.{rnd.randrange(5)}" if is_image else ({"a": 1} if path else None),
                actual=f"registry/app:1.{rnd.randrange(5)}" if is_image else ({"a": 2} if path else None),
                provenance=Provenance(
                    files=(FileProvenance(f"base/{kind.lower()}/{i % 300}.yaml", "resource",
                                          commits[i % 50], 1 + i % 40, ("@team",)),),
                    live=(LiveProvenance("kubectl-edit", "Update", "2026-01-01T00:00:00Z"),) if path else (),
                ),
                owners=("@team",),
                suppressed_by="ignore:x" if rnd.random() < 0.03 else "",
            )
        )
    results = tuple(
        TargetResult(target=t, audited=True, commit=commits[0].sha, findings=tuple(per_target[t.name]),
                     desired_count=500, live_count=520, live_source=f"https://10.0.{i}.1:6443")
        for i, t in enumerate(targets)
    )
    return AuditReport(
        run_id="20260101T000000Z-bench0",
        tool_version="0.1.0",
        started="2026-01-01T00:00:00Z",
        finished="2026-01-01T00:05:00Z",
        repo_url="https://git.example.com/fleet.git",
        commit=commits[0].sha,
        ref="main",
        results=results,
        tools=(ToolInfo("kubectl", "/usr/bin/kubectl", "v1.31.0"),),
    )


def timed(label: str, fn: Callable[[], Any]) -> Any:
    """Run fn; print wall-clock and CPU seconds (CPU time is the steadier figure on a busy machine)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    size = f"  {len(out) / 1e6:8.2f} MB" if isinstance(out, str | bytes) else ""
    print(f"{label:<34} {dt:8.3f} s wall {dc:8.3f} s cpu{size}", flush=True)
    return out


def bench_formats(report: AuditReport, out_dir: Path) -> Path:
    from auditor.report import csv_report, history, html_report, json_report, junit, sarif

    timed("import pandas (lazy, first use)", lambda: __import__("pandas"))
    timed("json", lambda: json_report.render(report))
    timed("csv", lambda: csv_report.render(report))
    timed("html", lambda: html_report.render(report))
    timed("junit", lambda: junit.render(report))
    timed("sarif", lambda: sarif.render(report))
    text = json_report.render(report)
    loaded = timed("json load (previous run)", lambda: json_report.load(text))
    timed("compare with previous", lambda: history.compare_with_previous(report, loaded))
    paths = timed("write_run (all formats + bundle)", lambda: history.write_run(report, out_dir))
    from auditor.report import bundle

    timed("verify-bundle", lambda: bundle.verify(paths.bundle))
    for p in (paths.html, paths.json, paths.csv, paths.junit, paths.sarif, paths.bundle):
        print(f"  {p.name:<16} {p.stat().st_size / 1e6:8.2f} MB")
    return Path(paths.html)


def bench_browser(html: Path) -> None:
    chromium = os.environ.get("GITOPS_AUDIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("browser: playwright not installed; skipped")
        return
    if not Path(chromium).exists():
        print(f"browser: {chromium} not found; skipped")
        return
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=args, headless=True)
        page = b.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        for attempt in range(3):
            t0 = time.perf_counter()
            page.goto(html.as_uri())
            page.wait_for_selector("html[data-ready='1']", timeout=120_000)
            wall = time.perf_counter() - t0
            # Inside the page: navigation start to the end of the report script's first render.
            in_page = page.evaluate("() => performance.now()") / 1000
            label = f"html load to interactive #{attempt + 1}"
            print(f"{label:<34} {wall:8.3f} s wall {in_page:8.3f} s in page", flush=True)
        # Interaction costs measured inside the page (performance.now), free of CDP round trips.
        t_filter = page.evaluate(
            """() => { const s = document.getElementById('f-severity'); const t0 = performance.now();
                       s.value = 'critical'; s.dispatchEvent(new Event('change'));
                       return performance.now() - t0; }"""
        )
        print(f"{'filter by severity (in page)':<34} {t_filter / 1000:8.3f} s")
        t_sort = page.evaluate(
            """() => { const h = document.querySelector("th[data-sort='target']"); const t0 = performance.now();
                       h.click(); return performance.now() - t0; }"""
        )
        print(f"{'sort by target (in page)':<34} {t_sort / 1000:8.3f} s")
        t_text = page.evaluate(
            """() => new Promise(resolve => {
                 const s = document.getElementById('f-severity'); s.value = '';
                 s.dispatchEvent(new Event('change'));
                 const mc = document.getElementById('match-count');
                 const i = document.getElementById('f-text');
                 const obs = new MutationObserver(() => { obs.disconnect(); resolve(performance.now() - t0); });
                 obs.observe(mc, {childList: true, characterData: true, subtree: true});
                 const t0 = performance.now();
                 i.value = 'obj-4999'; i.dispatchEvent(new Event('input'));
               })"""
        )
        print(f"{'free-text search incl. 120ms debounce':<34} {t_text / 1000:8.3f} s")
        if errors:
            print("page errors:", errors)
        b.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--findings", type=int, default=50_000)
    ap.add_argument("--targets", type=int, default=12)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--keep-dir", help="write reports here instead of a temp dir (kept)")
    a = ap.parse_args()
    report = timed(f"build synthetic report ({a.findings})", lambda: synthetic_report(a.findings, a.targets))
    report = dataclasses.replace(report)
    out = Path(a.keep_dir) if a.keep_dir else Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        html = bench_formats(report, out)
        if not a.no_browser:
            bench_browser(html)
    finally:
        if not a.keep_dir:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
