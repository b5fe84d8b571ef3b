"""The fleet views of the HTML report in real Chromium: overview, grouping, URL filters, matrix,
environment comparison, version skew by app, and a 1400 px layout check of the findings table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.model import Category
from auditor.report import history

from .browser_util import Watched
from .report_sample import PROD_EU, PROD_US, SECRET_PLAIN, STAGING_EU, XSS_IMG, make_fleet_report

pytestmark = pytest.mark.browser

ROWS = "#findings-body tr[data-index]"
WIDTH, HEIGHT = 1400, 900


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return history.write_run(make_fleet_report(), tmp_path / "reports").run_dir


@pytest.fixture
def watched(browser: Any, run_dir: Path) -> Iterator[Watched]:
    w = Watched(browser, run_dir.as_uri(), viewport={"width": WIDTH, "height": HEIGHT})
    try:
        yield w
    finally:
        w.close()


def _url(run_dir: Path, fragment: str = "") -> str:
    return (run_dir / "report.html").as_uri() + fragment


def test_overview_shows_worst_finding_of_every_target_in_first_screen(watched: Watched, run_dir: Path) -> None:
    page = watched.open(_url(run_dir))
    rows = page.locator("#overview-table tbody tr")
    assert rows.count() == 4
    us = page.locator(f"#overview-table tr[data-target='{PROD_US.name}']")
    assert "critical" in us.locator("td.worst").inner_text()
    assert "Secret data differs from git" in us.locator("td.worst").inner_text()
    # drift / policy / change-control counts per target
    cells = us.locator("td.num").all_inner_texts()
    report = make_fleet_report()
    n = {c: sum(1 for f in report.findings if f.target == PROD_US.name and f.counts and f.category is c)
         for c in Category}
    assert cells == [str(n[Category.DRIFT]), str(n[Category.POLICY]), str(n[Category.CHANGE_CONTROL]),
                     str(n[Category.COVERAGE])]
    for i in range(rows.count()):
        box = rows.nth(i).locator("td").last.bounding_box()
        assert box is not None and box["y"] + box["height"] <= HEIGHT, f"overview row {i} below the first screen"
    # the worst finding links to its details
    us.locator("td.worst a").click()
    page.locator("#details").wait_for(state="visible")  # the link works through hashchange: asynchronous
    page.wait_for_function("() => document.querySelector('#d-title').innerText === 'Secret/shop/db-credentials'")
    assert page.locator("#d-actual").inner_text() == "***"
    assert watched.errors == []


def test_grouping_by_target_then_severity_and_collapse(watched: Watched, run_dir: Path) -> None:
    page = watched.open(_url(run_dir))
    report = make_fleet_report()
    groups = page.locator("#findings-body tr.group.lvl1 .glabel").all_inner_texts()
    with_findings = [r.target.name for r in report.results if r.findings]
    assert [g.split(" (")[0] for g in groups] == with_findings  # config order, not alphabetical
    sub = page.locator("#findings-body tr.group.lvl2").all_inner_texts()
    assert "critical" in sub[0]
    us_count = sum(1 for f in report.findings if f.target == PROD_US.name)
    assert page.locator(ROWS).count() == len(report.findings)
    # collapse production-us-east: its rows go, its header stays with the count
    header = page.locator("#findings-body tr.group.lvl1").first
    assert f"{us_count} findings" in header.inner_text()
    header.locator("button.toggle").click()
    assert page.locator(ROWS).count() == len(report.findings) - us_count
    first = page.locator("#findings-body tr.group.lvl1").first
    assert first.locator("button").get_attribute("aria-expanded") == "false"
    page.locator("#findings-body tr.group.lvl1").first.locator("button.toggle").click()
    assert page.locator(ROWS).count() == len(report.findings)
    page.click("#collapse-all")
    assert page.locator(ROWS).count() == 0
    assert page.locator("#findings-body tr.group.lvl1").count() == len(with_findings)
    page.click("#expand-all")
    # group by object: one header per (target, object), the Deployment's three findings together
    page.select_option("#f-group", "object")
    labels = page.locator("#findings-body tr.group.lvl1 .glabel").all_inner_texts()
    assert "Deployment.apps/shop/web — production-us-east" in labels
    web = sum(1 for f in report.findings if f.target == PROD_US.name and f.ref and f.ref.name == "web"
              and f.ref.kind == "Deployment")
    hdr = page.locator("#findings-body tr.group.lvl1", has_text="Deployment.apps/shop/web — production-us-east")
    assert f"{web} findings" in hdr.inner_text()
    assert watched.errors == []


def test_filters_live_in_the_url(watched: Watched, run_dir: Path) -> None:
    from playwright.sync_api import expect

    page = watched.open(_url(run_dir, "#env=production&category=drift"))
    report = make_fleet_report()
    expected = [f for f in report.findings if f.category is Category.DRIFT and f.target in (PROD_US.name, PROD_EU.name)]
    assert page.locator("#f-env").input_value() == "production"
    assert page.locator("#f-category").input_value() == "drift"
    assert page.locator(ROWS).count() == len(expected)
    # changing a filter rewrites the address: the link is shareable
    page.select_option("#f-severity", "high")
    # handlers and hashchange run asynchronously: wait for the state instead of reading it at once
    page.wait_for_function("() => location.hash === '#env=production&category=drift&severity=high'")
    page.fill("#f-text", "image")
    page.wait_for_function("() => location.hash.indexOf('q=image') >= 0")
    link = page.evaluate("location.href")
    page.select_option("#f-group", "rule")
    page.wait_for_function("() => location.hash.indexOf('group=rule') >= 0")
    # a fresh tab on that link shows the same view
    other = Watched(page.context.browser, run_dir.as_uri(), viewport={"width": WIDTH, "height": HEIGHT})
    try:
        p2 = other.open(link)
        assert p2.locator("#f-severity").input_value() == "high"
        assert p2.locator("#f-text").input_value() == "image"
        assert p2.locator(ROWS).count() == 1
        assert "image differs" in p2.locator(ROWS).first.inner_text()
        assert other.errors == []
    finally:
        other.close()
    # an unknown value still filters (to nothing) instead of being dropped silently
    page.goto(_url(run_dir, "#env=prod"))
    page.reload()
    page.wait_for_selector("html[data-ready='1']")
    assert page.locator("#f-env").input_value() == "prod"
    assert page.locator(ROWS).count() == 0 and page.locator("#no-findings").is_visible()
    # overview counts are links that set the filters
    page.goto(_url(run_dir))
    page.reload()
    page.wait_for_selector("html[data-ready='1']")
    page.locator(f"#overview-table tr[data-target='{PROD_US.name}'] td.num a").first.click()
    expect(page.locator("#f-target")).to_have_value(PROD_US.name)
    expect(page.locator("#f-category")).to_have_value("drift")
    n = sum(1 for f in report.findings if f.target == PROD_US.name and f.category is Category.DRIFT)
    expect(page.locator(ROWS)).to_have_count(n)
    assert watched.errors == []


def test_fleet_matrix(watched: Watched, run_dir: Path) -> None:
    page = watched.open(_url(run_dir))
    heads = page.locator("#fleet-table thead th").all_inner_texts()
    assert [h.split("\n")[0] for h in heads[1:]] == [PROD_US.name, PROD_EU.name, STAGING_EU.name]
    web = page.locator("#fleet-table tbody.app[data-app='web']")
    states = web.locator("tr.app-row td").all_inner_texts()
    assert states == ["drifted", "missing", "✓ in sync"]  # Deployment drifted; Service missing in eu-west
    assert web.locator("tr.obj").first.is_hidden()
    web.locator("button.toggle").click()
    objs = {r.locator("td").first.inner_text(): r.locator("td").all_inner_texts()[1:]
            for r in web.locator("tr.obj").all()}
    assert objs["Deployment/web"] == ["drifted", "✓ in sync", "✓ in sync"]
    assert objs["Service/web"] == ["✓ in sync", "missing", "✓ in sync"]
    orphan = page.locator("#fleet-table tbody.app", has_text="HYPERLINK")
    assert orphan.locator("tr.app-row td").all_inner_texts() == ["orphaned", "—", "—"]
    # the XSS canary app name is text
    assert page.locator("#fleet-table tbody.app", has_text=XSS_IMG).count() == 1
    page.check("#fleet-problems")
    assert page.locator("#fleet-table tbody.app[data-app='db-credentials']").is_visible()
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("window.__xss") is None
    assert watched.errors == []


def test_environment_comparison(watched: Watched, run_dir: Path) -> None:
    page = watched.open(_url(run_dir))
    # defaults: a production target against the staging target of the same region
    assert page.locator("#cmp-a").input_value() == "1"  # production-eu-west pairs with staging-eu-west
    assert page.locator("#cmp-b").input_value() == "2"  # (targets not audited are not offered)
    page.select_option("#cmp-app", "web")
    page.select_option("#cmp-a", "0")  # production-us-east
    git = {tuple(r.locator("td").all_inner_texts()[1:]) for r in page.locator("#cmp-git tbody tr").all()}
    assert ("spec.replicas", "3", "1") in git
    assert ("spec.template.spec.containers[name=web].image", "registry.local/web:1.4.2",
            "registry.local/web:1.5.0") in git
    assert ("metadata.annotations.note", "<script>window.__xss=2</script>", "(not set)") in git
    assert [t.strip() for t in page.locator("#cmp-git thead th").all_inner_texts()[2:]] == [
        PROD_US.name, STAGING_EU.name]
    live = [r.locator("td").all_inner_texts() for r in page.locator("#cmp-live tbody tr").all()]
    assert ["Deployment/web", "spec.template.spec.containers[name=web].image",
            "registry.local/web:1.4.3-hotfix  (git: registry.local/web:1.4.2)",
            "as in git (registry.local/web:1.5.0)"] in live
    # production-eu-west vs staging: the Service is missing from the eu-west cluster
    page.select_option("#cmp-a", "1")
    live = [r.locator("td").all_inner_texts() for r in page.locator("#cmp-live tbody tr").all()]
    assert ["Service/web", "(object)", "missing", "in-sync"] in live
    # Secret values never reach the page, whatever the data holds
    page.select_option("#cmp-app", "db-credentials")
    assert SECRET_PLAIN not in page.content()
    assert '"data.password",{"0":"***","1":"***","2":"***"}' in (page.locator("#audit-data").text_content() or "")
    assert page.evaluate("window.__xss") is None
    assert watched.errors == []


def test_version_skew_by_app(watched: Watched, run_dir: Path) -> None:
    page = watched.open(_url(run_dir))
    skew = page.locator("#skew table").first
    assert skew.locator("thead th").all_inner_texts() == ["App", "Container", "production", "staging"]
    row = skew.locator("tbody tr", has_text="web").first.locator("td").all_inner_texts()
    assert row[0] == "web" and row[1] == "web"  # one row for shop, shop-staging and both regions
    assert "1.4.3-hotfix (us-east)" in row[2] and "1.4.2 (eu-west)" in row[2]
    assert "us-east: live ≠ git (git: 1.4.2)" in row[2]
    assert row[3] == "1.5.0"
    charts = page.locator("#skew table").nth(1)
    assert charts.locator("tbody tr").first.locator("td").all_inner_texts() == ["web", "web-1.4.2", "web-1.5.0"]
    assert watched.errors == []


def test_findings_table_fits_1400px(watched: Watched, run_dir: Path, tmp_path: Path) -> None:
    """At 1400 px every cell of the findings table shows all its text: nothing overflows or is cut off."""
    page = watched.open(_url(run_dir))
    overflow = page.evaluate(
        """() => Array.from(document.querySelectorAll('#findings-table td, #findings-table th'))
             .filter(c => c.scrollWidth > c.clientWidth + 1 || getComputedStyle(c).textOverflow === 'ellipsis')
             .map(c => c.textContent.slice(0, 60))"""
    )
    assert overflow == []
    table = page.evaluate("(() => { const t = document.getElementById('findings-table');"
                          " return [t.scrollWidth, t.parentElement.clientWidth]; })()")
    assert table[0] <= table[1], "the findings table is wider than its card"
    # rule and message are readable in the row itself, without opening the details
    row = page.locator(ROWS, has_text="container web has no memory limit")
    assert row.locator("td").nth(4).inner_text() == "k8s.resources.limits"
    assert row.locator("td").nth(5).inner_text() == "container web has no memory limit"
    shot = Path(os.environ.get("GITOPS_AUDIT_SHOTS", tmp_path)) / "report-1400.png"
    page.locator("#findings").screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    assert watched.errors == []


def test_trend_axis_has_dates_and_severities_are_distinct(watched: Watched, run_dir: Path) -> None:
    page = watched.open(_url(run_dir))
    labels = page.locator("#trend svg text.xlabel").all_text_contents()
    assert labels == ["2026-01-01"]
    colour = page.evaluate(
        """() => ['critical', 'high'].map(s => {
             const e = document.querySelector('.tile.sev-' + s);
             return getComputedStyle(e).color; })"""
    )

    def rgb(text: str) -> tuple[int, ...]:
        return tuple(int(x) for x in text[text.index("(") + 1:text.index(")")].split(",")[:3])

    a, b = (rgb(c) for c in colour)
    assert sum(abs(x - y) for x, y in zip(a, b, strict=True)) > 150, colour
    assert watched.errors == []
