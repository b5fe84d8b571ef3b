"""Prometheus metrics: exposition format, naming rules, success timestamp semantics, textfile, Pushgateway."""

from __future__ import annotations

import argparse
import base64
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from auditor import metrics
from auditor.errors import ReportError
from auditor.model import AuditReport, Category, Finding, ObjectRef, Severity, Target, TargetResult

FINISHED = datetime(2026, 11, 22, 5, 2, 5, tzinfo=UTC).timestamp()
SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$')
LABEL = re.compile(r'(?P<k>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<v>(?:[^"\\]|\\.)*)"(?:,|$)')


def parse(text: str) -> dict[str, Any]:
    """A strict reader of the text format: returns {name: {"help", "type", "samples": {labels: value}}}."""
    assert text.endswith("\n")
    fams: dict[str, Any] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in fams, f"duplicate family {name}"
            fams[name] = {"help": help_text, "type": None, "samples": {}}
            current = name
        elif line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            assert name == current and fams[name]["type"] is None
            fams[name]["type"] = typ
        else:
            m = SAMPLE.match(line)
            assert m, f"bad sample line {line!r}"
            name = m.group("name")
            assert name == current, f"sample {name} outside its family"
            raw = m.group("labels") or ""
            labels = tuple((x.group("k"), x.group("v")) for x in LABEL.finditer(raw))
            assert ",".join(f'{k}="{v}"' for k, v in labels) == raw, f"bad labels {raw!r}"
            assert labels not in fams[name]["samples"], f"duplicate series {line}"
            fams[name]["samples"][labels] = float(m.group("value"))
    return fams


def _finding(target: str, cat: Category, sev: Severity, name: str, suppressed: str = "") -> Finding:
    return Finding(target=target, category=cat, rule_id=f"{cat.value}.x", severity=sev, message="m",
                   ref=ObjectRef("apps", "Deployment", "shop", name), suppressed_by=suppressed)


def make_report() -> AuditReport:
    odd = 'prod "eu"\\west'
    audited = TargetResult(
        target=Target(name="prod-us", context="prod-us", env="production", region="us-east"),
        audited=True,
        findings=(
            _finding("prod-us", Category.DRIFT, Severity.HIGH, "a"),
            _finding("prod-us", Category.DRIFT, Severity.HIGH, "b"),
            _finding("prod-us", Category.POLICY, Severity.MEDIUM, "c"),
            _finding("prod-us", Category.POLICY, Severity.CRITICAL, "d", suppressed="waiver:x"),
        ),
        desired_count=12,
        live_count=15,
    )
    odd_result = TargetResult(target=Target(name=odd, context="x"), audited=True, desired_count=1, live_count=1)
    skipped = TargetResult(target=Target(name="dev", context="dev"), audited=False, skip_reason="unreachable")
    return AuditReport(
        run_id="20261122T050000Z-abcdef", tool_version="0.1.0", started="2026-11-22T05:00:00Z",
        finished="2026-11-22T05:02:05Z", repo_url="file:///r", commit="c" * 40, ref="main",
        results=(audited, odd_result, skipped),
    )


def test_success_metrics_values() -> None:
    fams = parse(metrics.render_textfile(make_report(), success=True))
    assert fams["gitops_audit_last_success_timestamp_seconds"]["samples"][()] == FINISHED
    assert fams["gitops_audit_run_duration_seconds"]["samples"][()] == 125.0
    up = fams["gitops_audit_target_up"]["samples"]
    assert up[(*PROD_US,)] == 1.0
    assert up[(("target", "dev"), ("env", ""), ("region", ""))] == 0.0
    found = fams["gitops_audit_findings"]["samples"]
    assert found[(*PROD_US, ("category", "drift"), ("severity", "high"))] == 2.0
    assert found[(*PROD_US, ("category", "policy"), ("severity", "medium"))] == 1.0
    # suppressed findings do not count
    assert found[(*PROD_US, ("category", "policy"), ("severity", "critical"))] == 0.0
    # every category x severity pair is present for audited targets, none for skipped ones
    assert sum(1 for k in found if k[:3] == PROD_US) == len(Category) * len(Severity)
    assert not any(k[0] == ("target", "dev") for k in found)
    objs = fams["gitops_audit_objects"]["samples"]
    assert objs[(*PROD_US, ("source", "desired"))] == 12.0
    assert objs[(*PROD_US, ("source", "live"))] == 15.0


PROD_US = (("target", "prod-us"), ("env", "production"), ("region", "us-east"))


def test_label_values_are_escaped() -> None:
    text = metrics.render_textfile(make_report(), success=True)
    assert 'target="prod \\"eu\\"\\\\west"' in text
    fams = parse(text)
    odd = (("target", 'prod \\"eu\\"\\\\west'), ("env", ""), ("region", ""))
    assert odd in fams["gitops_audit_target_up"]["samples"]


def test_failed_run_has_no_success_timestamp_unless_carried() -> None:
    fams = parse(metrics.render_textfile(make_report(), success=False))
    assert "gitops_audit_last_success_timestamp_seconds" not in fams
    assert "gitops_audit_run_duration_seconds" in fams
    carried = parse(metrics.render_textfile(make_report(), success=False, last_success=1700000000.0))
    assert carried["gitops_audit_last_success_timestamp_seconds"]["samples"][()] == 1700000000.0


NAMING_UNITS = {"_timestamp_seconds", "_seconds"}


def test_naming_rules() -> None:
    fams = parse(metrics.render_textfile(make_report(), success=True))
    expected = {
        "gitops_audit_last_success_timestamp_seconds", "gitops_audit_run_duration_seconds",
        "gitops_audit_target_up", "gitops_audit_findings", "gitops_audit_objects",
    }
    assert set(fams) == expected
    for name, fam in fams.items():
        assert metrics.METRIC_NAME.match(name) and name.startswith("gitops_audit_")
        assert name == name.lower() and "__" not in name
        assert fam["help"] and fam["type"] == "gauge"
        # gauges never end in _total (counters' suffix); times are in seconds, with the unit last
        assert not name.endswith("_total")
        if "timestamp" in name or "duration" in name:
            assert name.endswith("_seconds"), name
        for unit in ("_milliseconds", "_minutes", "_hours", "_ms"):
            assert unit not in name
        for labels in fam["samples"]:
            for key, _ in labels:
                assert metrics.LABEL_NAME.match(key) and not key.startswith("__")
    assert set(k for lab in fams["gitops_audit_findings"]["samples"] for k, _ in lab) == {
        "target", "env", "region", "category", "severity"}
    assert set(k for lab in fams["gitops_audit_objects"]["samples"] for k, _ in lab) == {
        "target", "env", "region", "source"}


def test_textfile_is_written_atomically_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "collector" / "gitops_audit.prom"
    metrics.write_textfile(path, metrics.render_textfile(make_report(), success=True))
    assert path.stat().st_mode & 0o777 == 0o644
    assert metrics.read_last_success(path) == FINISHED
    assert [p.name for p in path.parent.iterdir()] == ["gitops_audit.prom"]  # no temp file left
    assert metrics.read_last_success(tmp_path / "absent.prom") is None


def test_emit_carries_the_last_success_forward(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    args = argparse.Namespace(metrics_file=str(path), pushgateway="", pushgateway_job="gitops-audit")
    metrics.emit(make_report(), args, success=True)
    metrics.emit(make_report(), args, success=False)
    assert metrics.read_last_success(path) == FINISHED


# --- Pushgateway ----------------------------------------------------------------------------------


class Gateway:
    def __init__(self, status: int = 200) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = status
        gw = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                gw.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                    "body": self.rfile.read(length).decode()})
                body = b"" if gw.status < 400 else b"pushed metrics are invalid\nmore"
                self.send_response(gw.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_PUT = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()
    yield gw
    gw.close()


def test_push_puts_the_group(gateway: Gateway) -> None:
    text = metrics.render_textfile(make_report(), success=True)
    metrics.push(gateway.url, text, "nightly")
    (req,) = gateway.requests
    assert req["method"] == "PUT"
    assert req["path"] == "/metrics/job/nightly"
    assert req["headers"]["Content-Type"].startswith("text/plain; version=0.0.4")
    assert req["body"] == text


def test_push_without_replace_posts_and_encodes_odd_values(gateway: Gateway) -> None:
    metrics.push(gateway.url + "/", "x 1\n", "fleet/eu", replace=False, grouping=(("shard", "0"),))
    (req,) = gateway.requests
    assert req["method"] == "POST"
    encoded = base64.urlsafe_b64encode(b"fleet/eu").decode()
    assert req["path"] == f"/metrics/job@base64/{encoded}/shard/0"


def test_push_basic_auth_from_url_never_in_errors(gateway: Gateway) -> None:
    host = gateway.url.removeprefix("http://")
    metrics.push(f"http://bot:s3cr%40t@{host}", "x 1\n", "j")
    auth = gateway.requests[0]["headers"]["Authorization"]
    assert base64.b64decode(auth.removeprefix("Basic ")).decode() == "bot:s3cr@t"
    gateway.status = 500
    with pytest.raises(ReportError) as err:
        metrics.push(f"http://bot:s3cr%40t@{host}", "x 1\n", "j")
    msg = str(err.value)
    assert "HTTP 500" in msg and "pushed metrics are invalid" in msg
    assert "s3cr" not in msg and "bot" not in msg and "\n" not in msg


def test_push_unreachable_and_bad_url(refused_url: str) -> None:
    with pytest.raises(ReportError, match="push metrics"):
        metrics.push(refused_url, "x 1\n", "j", timeout=2)
    with pytest.raises(ReportError, match="not an http"):
        metrics.push("file:///etc/passwd", "x 1\n", "j")


def test_emit_push_failure_is_a_warning(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
                                        refused_url: str) -> None:
    args = argparse.Namespace(metrics_file=None, pushgateway=refused_url, pushgateway_job="j")
    import logging

    # caplog listens on the root logger; the CLI's logging setup stops propagation. Restored after the test.
    monkeypatch.setattr(logging.getLogger("gitops_audit"), "propagate", True)
    with caplog.at_level(logging.WARNING, logger="gitops_audit"):
        metrics.emit(make_report(), args, success=True)
    assert any("push metrics" in r.getMessage() for r in caplog.records)
