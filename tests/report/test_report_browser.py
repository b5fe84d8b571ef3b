"""The HTML report driven in real headless Chromium (Playwright, system chromium).

Skipped only when Chromium or Playwright is missing AND the environment variable CI is unset;
in CI a missing browser fails these tests. Never runs ``playwright install``: the browser is found
on PATH (see ``browser_util.find_chromium``; ``CHROME=/path/to/chrome`` overrides).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.model import AuditReport, Category, Finding, ObjectRef, Severity
from auditor.report import history
from auditor.report.server import ServerConfig, make_server

from .browser_util import Watched
from .report_sample import PROD_US, SECRET_PLAIN, make_report

pytestmark = pytest.mark.browser

@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return history.write_run(make_report(), tmp_path / "reports").run_dir


@pytest.fixture
def watched(browser: Any, run_dir: Path) -> Iterator[Watched]:
    w = Watched(browser, run_dir.as_uri())
    try:
        yield w
    finally:
        w.close()


ROWS = "#findings-body tr[data-index]"
"""Finding rows (group header rows are ``tr.group``)."""


def _visible_rows(page: Any) -> int:
    return int(page.locator(ROWS).count())


def _expect_rows(page: Any, n: int, containing: str = "") -> None:
    # Web-first assertions (retry until the debounced filter has run). A string predicate for
    # wait_for_function would need eval, which the report's CSP rightly forbids.
    from playwright.sync_api import expect

    expect(page.locator(ROWS)).to_have_count(n)
    if containing:
        expect(page.locator(ROWS).first).to_contain_text(containing)


def test_loads_clean_no_errors_no_network(watched: Watched, run_dir: Path) -> None:
    page = watched.open((run_dir / "report.html").as_uri())
    assert _visible_rows(page) == len(make_report().findings)
    n = len(make_report().findings)
    assert page.locator("#match-count").inner_text() == f"{n} of {n} findings"
    # No fixed wait for late loads: wait for the load event (every resource the document asked for has
    # finished), then ask the browser itself what it fetched. Request events reach Python asynchronously,
    # but the evaluate's answer comes after every event the browser sent before it.
    page.wait_for_load_state("load")
    fetched = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched == []
    assert watched.errors == []
    assert watched.requests == [(run_dir / "report.html").as_uri()]
    assert page.evaluate("window.__xss") is None


def test_filters(watched: Watched, run_dir: Path) -> None:
    page = watched.open((run_dir / "report.html").as_uri())
    report = make_report()
    page.select_option("#f-category", "policy")
    assert _visible_rows(page) == sum(1 for f in report.findings if f.category is Category.POLICY)
    page.select_option("#f-category", "")
    page.select_option("#f-target", "production-eu-west")
    assert _visible_rows(page) == 1
    page.select_option("#f-target", "")
    page.select_option("#f-status", "suppressed")
    assert _visible_rows(page) == 2
    page.click("#f-reset")
    page.fill("#f-text", "HYPERLINK")
    _expect_rows(page, 1, "HYPERLINK")
    page.fill("#f-text", "no-such-thing-anywhere")
    _expect_rows(page, 0)
    assert page.locator("#no-findings").is_visible()
    page.click("#f-reset")
    page.select_option("#f-namespace", "shop")
    page.select_option("#f-kind", "Deployment.apps")
    assert _visible_rows(page) == sum(1 for f in report.findings if f.ref and f.ref.kind == "Deployment")
    assert watched.errors == []


def test_sorting(watched: Watched, run_dir: Path) -> None:
    page = watched.open((run_dir / "report.html").as_uri() + "#group=none")
    first_sev = page.locator(ROWS).first.locator("td").first.inner_text()
    assert first_sev == "critical"  # default: worst first
    header = page.locator("th[data-sort='severity']")
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert page.locator(ROWS).first.locator("td").first.inner_text() == "info"
    page.locator("th[data-sort='target']").click()
    targets = page.locator(ROWS + " td:nth-child(3)").all_inner_texts()
    assert targets == sorted(targets)
    page.locator("th[data-sort='target']").click()
    targets = page.locator(ROWS + " td:nth-child(3)").all_inner_texts()
    assert targets == sorted(targets, reverse=True)
    assert watched.errors == []


def test_details_view_and_canaries_inert(watched: Watched, run_dir: Path) -> None:
    page = watched.open((run_dir / "report.html").as_uri())
    assert page.locator("#details").is_hidden()
    page.fill("#f-text", "annotation added")
    _expect_rows(page, 1, "annotation added")
    row = page.locator(ROWS).first
    assert '<img src=x onerror="window.__xss=1">' in row.inner_text()  # shown as text
    row.click()
    details = page.locator("#details")
    assert details.is_visible()
    assert page.locator("#d-title").inner_text().startswith("ConfigMap/shop/cm-<img")
    assert "<script>window.__xss=2</script>" in page.locator("#d-actual").inner_text()
    prov = page.locator("#d-files").inner_text()
    assert "base/cm.yaml:1" in prov and "Mallory" in prov and "<script>" in prov
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 2
    assert page.evaluate("window.__xss") is None
    page.keyboard.press("Escape")
    assert details.is_hidden()
    # a Secret's details never show the value
    page.fill("#f-text", "db-credentials")
    _expect_rows(page, 1, "db-credentials")
    page.locator(ROWS).first.click()
    assert page.locator("#d-expected").inner_text() == "***"
    assert page.locator("#d-actual").inner_text() == "***"
    assert SECRET_PLAIN not in page.content()
    page.click("#d-close")
    # CSV-injection canary is plain text in the page
    page.fill("#f-text", "evil.example")
    _expect_rows(page, 1, "HYPERLINK")
    assert page.locator(ROWS + " td:nth-child(6)").inner_text().startswith('=HYPERLINK("')
    assert page.evaluate("window.__xss") is None
    assert watched.errors == []
    assert watched.foreign_requests() == []


def test_paging(browser: Any, tmp_path: Path) -> None:
    base = make_report()
    extra = tuple(
        Finding(PROD_US.name, Category.POLICY, "bulk.rule", Severity.LOW, f"bulk finding {i:04d}",
                ObjectRef("", "ConfigMap", "shop", f"cm-{i:04d}"))
        for i in range(240)
    )
    results = tuple(
        dataclasses.replace(r, findings=r.findings + extra) if r.target.name == PROD_US.name else r
        for r in base.results
    )
    run_dir = history.write_run(dataclasses.replace(base, results=results), tmp_path / "reports").run_dir
    w = Watched(browser, run_dir.as_uri())
    try:
        page = w.open((run_dir / "report.html").as_uri())
        assert _visible_rows(page) == 100
        assert page.locator("#page-info").inner_text() == "Page 1 of 3"
        assert len(base.findings) + 240 <= 300
        assert page.locator("#prev").is_disabled()
        page.click("#next")
        page.click("#next")
        assert page.locator("#page-info").inner_text() == "Page 3 of 3"
        assert _visible_rows(page) == len(base.findings) + 240 - 200
        assert page.locator("#next").is_disabled()
        page.select_option("#f-severity", "low")  # filtering returns to page 1
        assert page.locator("#page-info").inner_text() == "Page 1 of 3"
        assert w.errors == []
    finally:
        w.close()


def test_browser_downloads_latest_csv_from_server(browser: Any, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    report: AuditReport = make_report()
    history.write_run(report, reports)
    server = make_server(ServerConfig(reports=reports), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    w = Watched(browser, base)
    try:
        page = w.page
        page.goto(base + "/")
        with page.expect_download() as info:
            page.click("text=Latest CSV")
        download = info.value
        assert download.suggested_filename == f"gitops-audit-{report.run_id}-findings.csv"
        saved = tmp_path / "dl.csv"
        download.save_as(saved)
        assert saved.read_bytes() == (reports / report.run_id / "findings.csv").read_bytes()
        w.open(base + "/latest/report.html")
        assert w.errors == []
        assert w.foreign_requests() == []
    finally:
        w.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_deep_link_opens_details(watched: Watched, run_dir: Path) -> None:
    report = make_report()
    target = next(f for f in report.findings if f.rule_id == "drift/missing")
    page = watched.open((run_dir / "report.html").as_uri() + f"#f={target.fingerprint}")
    assert page.locator("#details").is_visible()
    assert page.locator("#d-title").inner_text() == "Service/shop/web"
    assert page.locator("#d-rule").inner_text() == "Object defined in git is missing from the cluster"
    assert page.locator("#d-remediation").inner_text().startswith("Let the GitOps controller re-apply it")
    page.click("#d-close")
    limits = next(f for f in report.findings if f.rule_id == "k8s.resources.limits")
    page.goto((run_dir / "report.html").as_uri() + f"#f={limits.fingerprint}")
    page.reload()
    page.wait_for_selector("html[data-ready='1']")
    assert page.locator("#d-remediation").inner_text() == "Set resources.limits.memory on every container."
    page.click("#d-close")
    assert page.evaluate("location.hash") == ""
    page.locator(ROWS).first.click()
    assert page.evaluate("location.hash").startswith("#f=")
    assert watched.errors == []


def test_structured_drift_shows_unified_diff(watched: Watched, run_dir: Path) -> None:
    page = watched.open((run_dir / "report.html").as_uri())
    page.fill("#f-text", "resource limits differ")
    _expect_rows(page, 1, "resource limits differ")
    page.locator(ROWS).first.click()
    assert page.locator("#d-unified-wrap").is_visible()
    assert page.locator("#d-unified .del").all_inner_texts() == ['-   "cpu": "500m",']
    assert page.locator("#d-unified .add").all_inner_texts() == ['+   "cpu": "2",']
    page.click("#d-close")
    page.fill("#f-text", "image differs")
    _expect_rows(page, 1, "image differs")
    page.locator(ROWS).first.click()
    assert page.locator("#d-unified-wrap").is_hidden()  # scalars: side by side only
    assert watched.errors == []
