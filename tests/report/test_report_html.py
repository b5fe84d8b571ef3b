"""Static checks of the HTML report: CSP first and strict, hashes match, nothing external,
canaries escaped, data block escaped, autoescape on, no |safe in templates."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest

from auditor.model import AuditReport
from auditor.report import history, html_data, html_report

from .report_sample import CSV_CANARY, SECRET_HASH, SECRET_PLAIN, XSS_IMG, XSS_SCRIPT


class Collector(HTMLParser):
    """Collects start tags (in order) and the raw text of script/style elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.head_children: list[tuple[str, dict[str, str | None]]] = []
        self.in_head = False
        self.raw: list[tuple[str, dict[str, str | None], str]] = []
        self._open: tuple[str, dict[str, str | None]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "head":
            self.in_head = True
        elif self.in_head:
            self.head_children.append((tag, a))
        if tag in ("script", "style"):
            self._open = (tag, a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.raw.append((self._open[0], self._open[1], data))
            self._open = None


@pytest.fixture
def page(report: AuditReport) -> str:
    return html_report.render(report)


def _parse(text: str) -> Collector:
    c = Collector()
    c.feed(text)
    return c


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_csp_meta_is_first_in_head_and_strict(page: str) -> None:
    c = _parse(page)
    tag, attrs = c.head_children[0]
    assert tag == "meta" and attrs["http-equiv"] == "Content-Security-Policy"
    policy = attrs["content"] or ""
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "*" not in policy
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'none'"
    # every inline script/style is allowed by exactly its hash
    scripts = [t for kind, a, t in c.raw if kind == "script" and a.get("type") != "application/json"]
    styles = [t for kind, _, t in c.raw if kind == "style"]
    assert len(scripts) == 1 and len(styles) == 1
    assert directives["script-src"] == _sha(scripts[0])
    assert directives["style-src"] == _sha(styles[0])


def test_nothing_external(page: str) -> None:
    c = _parse(page)
    for tag, attrs in c.tags:
        for name in ("src", "href", "action", "xlink:href", "srcset", "poster", "data"):
            value = (attrs.get(name) or "").strip().lower()
            assert not re.match(r"^(https?:|//|ftp:|ws:|wss:|file:)", value), (tag, name, value)
        assert not (tag == "link" and attrs.get("rel") == "stylesheet")
        assert tag not in ("iframe", "object", "embed", "base", "form")
    styles = [t for kind, _, t in c.raw if kind == "style"]
    assert "@import" not in styles[0]
    assert all(u.startswith("data:") for u in re.findall(r"url\(([^)]*)\)", styles[0]))
    assert "style=" not in page  # inline style attributes would need 'unsafe-inline'


def test_canaries_are_escaped(page: str) -> None:
    assert XSS_IMG not in page
    assert XSS_SCRIPT not in page
    assert "<img" not in page
    # the only <script tags are ours
    assert page.count("<script") == 2
    assert SECRET_PLAIN not in page and SECRET_HASH not in page
    assert "&lt;script&gt;window.__xss=2&lt;/script&gt;" in page  # skip reason, escaped text


def test_data_block_round_trips(page: str, report: AuditReport) -> None:
    m = re.search(r'<script id="audit-data" type="application/json">(.*?)</script>', page, re.S)
    assert m is not None
    raw = m.group(1)
    assert "<" not in raw and ">" not in raw
    data = json.loads(raw)
    assert len(data["rows"]) == len(report.findings) == len(data["details"])
    names = {row[data["columns"].index("name")] for row in data["rows"]}
    assert f"cm-{XSS_IMG}" in names
    messages = {row[data["columns"].index("message")] for row in data["rows"]}
    assert CSV_CANARY in messages


def test_script_json_escaping() -> None:
    text = str(html_data.script_json({"a": "</script><!-- \u2028 & '\""}))
    assert "</" not in text and "<!--" not in text and "\u2028" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><!-- \u2028 & '\""}


def test_templates_autoescape_and_no_safe_filter() -> None:
    env = html_report._env()
    assert env.autoescape is True
    for name in ("report.html.j2", "index.html.j2"):
        src = resources.files("auditor.report").joinpath("templates", name).read_text("utf-8")
        assert "|safe" not in src.replace(" ", "") and "autoescape false" not in src


def test_sections_present(page: str, report: AuditReport) -> None:
    for section in ("summary", "metadata", "matrix", "targets", "not-audited", "totals", "findings", "changes",
                    "skew", "trend"):
        assert f'id="{section}"' in page
    for link in ("findings.csv", "report.json", "evidence.zip"):
        assert f'href="{link}"' in page
    assert report.commit in page and "v1.31.0" in page and "system:serviceaccount:audit:gitops-audit" in page
    assert "https://10.0.0.1:6443" in page
    assert "<svg" in page and "<polyline" in page


def test_view_model(report: AuditReport) -> None:
    vm = html_report.view_model(report)
    cells = vm["matrix"]["cells"]
    assert cells["production"]["us-east"]["cls"] == "critical"
    assert cells["production"]["eu-west"]["cls"] == "high"
    assert cells["staging"]["us-east"]["cls"] == "skipped"
    assert cells["production"]["us-east"]["count"] == sum(
        1 for f in report.findings if f.target == "production-us-east" and f.counts
    )
    skew = vm["skew"]
    assert skew["envs"] == ["production"]  # one column per environment, regions folded in
    row = skew["rows"][0]
    assert row["app"] == "Deployment/shop/web" and row["skew"] and row["drifted"]
    cell = row["cells"][0]
    assert cell["split"] and [i["where"] for i in cell["images"]] == [["eu-west"], ["us-east"]]
    assert cell["drift"] == [{"where": "us-east", "git": "1.4.2", "image": "registry.local/web:1.4.2"}]
    assert vm["resolved_total"] == 1 and vm["not_audited"][0]["name"] == "staging-us-east"


def test_trend_uses_history(tmp_path: Path, report: AuditReport) -> None:
    import dataclasses

    for i in range(1, 4):
        history.write_run(dataclasses.replace(report, run_id=f"2026010{i}T000000Z-00000{i}"), tmp_path)
    page = (tmp_path / "20260103T000000Z-000003" / "report.html").read_text()
    assert "Trend (3 runs)" in page
    index = (tmp_path / "index.html").read_text()
    c = _parse(index)
    assert c.head_children[0][1].get("http-equiv") == "Content-Security-Policy"
    assert "script-src 'none'" in (c.head_children[0][1]["content"] or "")
    assert index.count("<circle") >= 3


def test_version_skew_from_images_field(report: AuditReport) -> None:
    """TargetResult.images feeds the skew table with every workload, drifted or not."""
    import dataclasses

    us, eu, staging = report.results
    us2 = dataclasses.replace(us, images=(("Deployment/shop/api", "api", "reg/api:2.0", "reg/api:2.0"),))
    eu2 = dataclasses.replace(eu, images=(("Deployment/shop/api", "api", "reg/api:1.9", "reg/api:1.9"),))
    r = dataclasses.replace(report, results=(us2, eu2, staging))
    rows = {row["app"]: row for row in html_report.view_model(r)["skew"]["rows"]}
    api = rows["Deployment/shop/api"]  # no AppObjects in this report: keyed by the workload itself
    assert api["skew"] and not api["drifted"]
    assert [[i["image"] for i in c["images"]] for c in api["cells"]] == [["reg/api:1.9", "reg/api:2.0"]]

    from auditor.report import json_report

    data = json.loads(json_report.render(r))
    assert data["targets"][0]["images"] == [["Deployment/shop/api", "api", "reg/api:2.0", "reg/api:2.0"]]
    import jsonschema

    jsonschema.Draft202012Validator(json.loads(json_report.schema_text())).validate(data)


def test_streamed_data_block_is_script_json_of_the_payload(report: AuditReport) -> None:
    """The page's data is written finding by finding; it must be exactly ``script_json(payload(report))``,
    with hostile text cut across the escaping batches, and the marker it replaced must not survive."""
    hostile = "</script><!-- \u2028\u2029 & \u202e \x1b[31m \ud800"
    findings = tuple(
        dataclasses.replace(report.findings[0], message=f"{i} {hostile}", path=f"p{i}") for i in range(1500)
    )
    first = dataclasses.replace(report.results[0], findings=findings)
    big = dataclasses.replace(report, results=(first, *report.results[1:]))
    page = html_report.render(big)
    m = re.search(r'<script id="audit-data" type="application/json">(.*?)</script>', page, re.S)
    assert m is not None
    assert m.group(1) == str(html_data.script_json(html_data.payload(big)))
    assert "gitops-audit-data-" not in page
    assert len(json.loads(m.group(1))["rows"]) == len(big.findings)


def test_a_message_that_spells_a_marker_does_not_move_the_data(report: AuditReport) -> None:
    fake = "gitops-audit-data-" + "0" * 32
    f = dataclasses.replace(report.findings[0], message=fake)
    first = dataclasses.replace(report.results[0], findings=(f,))
    page = html_report.render(dataclasses.replace(report, results=(first,)))
    assert page.count('<script id="audit-data" type="application/json">{') == 1
    assert "<" not in re.search(r'id="audit-data" type="application/json">(.*?)</script>', page, re.S).group(1)
