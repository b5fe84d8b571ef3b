"""The report server over real HTTP on 127.0.0.1: files, downloads, methods, traversal, token."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import http.client
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.commands import serve as serve_cmd
from auditor.errors import ReportError
from auditor.report import history
from auditor.report.server import ServerConfig, make_server, read_token_file

from .report_sample import make_report

TOKEN = "t0ken-for-tests-0123456789abcdef"
OLD = "20260101T000000Z-000001"
NEW = "20260102T000000Z-000002"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = make_report()
    tmp_path = tmp_path_factory.mktemp("served")
    root = tmp_path / "reports"
    history.write_run(dataclasses.replace(report, run_id=OLD), root)
    history.write_run(dataclasses.replace(report, run_id=NEW), root)
    (tmp_path / "secret.txt").write_text("TOP-SECRET-OUTSIDE")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    (root / "escape-dir").symlink_to(tmp_path, target_is_directory=True)
    (root / ".hidden.tmp").write_text("staging leftovers")
    return root


def _start(root: Path, token: str = "") -> Iterator[tuple[str, int]]:
    server = make_server(ServerConfig(reports=root, token=token), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield str(host), int(port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(reports: Path) -> Iterator[tuple[str, int]]:
    yield from _start(reports)


@pytest.fixture(scope="module")
def token_server(reports: Path) -> Iterator[tuple[str, int]]:
    yield from _start(reports, TOKEN)


def request(
    addr: tuple[str, int], path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*addr, timeout=10)
    try:
        # skip_host/accept-encoding defaults are fine; the path is sent exactly as given
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        merged: dict[str, str] = {}
        for k, v in resp.getheaders():
            merged[k.lower()] = f"{merged[k.lower()]}, {v}" if k.lower() in merged else v
        return resp.status, merged, body
    finally:
        conn.close()


def test_index_and_latest(server: tuple[str, int]) -> None:
    status, headers, body = request(server, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert NEW.encode() in body and OLD.encode() in body
    status, headers, body = request(server, "/latest/")
    assert status == 200 and b"<!DOCTYPE html>" in body and NEW.encode() in body
    assert "content-disposition" not in headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["server"] == "gitops-audit"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_latest_csv_download(server: tuple[str, int], reports: Path) -> None:
    status, headers, body = request(server, "/latest/findings.csv")
    assert status == 200
    assert headers["content-type"] == "text/csv; charset=utf-8"
    assert headers["content-disposition"] == f'attachment; filename="gitops-audit-{NEW}-findings.csv"'
    assert body == (reports / NEW / "findings.csv").read_bytes()
    assert int(headers["content-length"]) == len(body)


@pytest.mark.parametrize(
    ("name", "ctype"),
    [
        ("report.json", "application/json"),
        ("evidence.zip", "application/zip"),
        ("report.sarif", "application/sarif+json"),
        ("junit.xml", "application/xml"),
    ],
)
def test_download_types(server: tuple[str, int], name: str, ctype: str) -> None:
    status, headers, _ = request(server, f"/{OLD}/{name}")
    assert status == 200 and headers["content-type"] == ctype
    assert headers["content-disposition"].startswith("attachment;")
    assert OLD in headers["content-disposition"]


def test_head(server: tuple[str, int], reports: Path) -> None:
    status, headers, body = request(server, "/latest/evidence.zip", method="HEAD")
    assert status == 200 and body == b""
    assert int(headers["content-length"]) == (reports / NEW / "evidence.zip").stat().st_size


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get_and_head(server: tuple[str, int], method: str) -> None:
    status, headers, _ = request(server, "/latest/findings.csv", method=method, headers={"Content-Length": "0"})
    assert status == 405 and headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/../../../../etc/passwd",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2E%2E/etc/passwd",
        "/latest/..%2f..%2fsecret.txt",
        "/latest/%2e%2e/%2e%2e/secret.txt",
        "/..%5csecret.txt",
        "/%252e%252e/secret.txt",
        "//secret.txt",
        "/escape",
        "/escape-dir/secret.txt",
        "/.hidden.tmp",
        "/latest/report.html%00.csv",
        "/nope.csv",
        f"/{NEW}/../../secret.txt",
        "http://127.0.0.1/../secret.txt",
    ],
)
def test_traversal_refused(server: tuple[str, int], path: str) -> None:
    status, _, body = request(server, path)
    assert status == 404, path
    assert b"TOP-SECRET-OUTSIDE" not in body and b"root:" not in body


def test_token_required(token_server: tuple[str, int]) -> None:
    status, headers, _ = request(token_server, "/latest/findings.csv")
    assert status == 401 and "bearer" in headers["www-authenticate"].lower()
    status, _, _ = request(token_server, "/latest/findings.csv", headers={"Authorization": "Bearer wrong"})
    assert status == 401
    status, _, _ = request(token_server, "/latest/findings.csv", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert status == 401
    status, _, body = request(token_server, "/latest/findings.csv", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and body.startswith("\ufeffrun_id".encode())
    basic = base64.b64encode(f"auditor:{TOKEN}".encode()).decode()
    status, _, _ = request(token_server, "/", headers={"Authorization": f"Basic {basic}"})
    assert status == 200
    bad_basic = base64.b64encode(b"auditor:nope").decode()
    status, _, _ = request(token_server, "/", headers={"Authorization": f"Basic {bad_basic}"})
    assert status == 401
    # traversal is still refused for an authorised client
    status, _, _ = request(token_server, "/../secret.txt", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 404


def test_token_file(tmp_path: Path) -> None:
    good = tmp_path / "token"
    good.write_text(TOKEN + "\n")
    assert read_token_file(good) == TOKEN
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ReportError, match="empty"):
        read_token_file(empty)
    short = tmp_path / "short"
    short.write_text("abc")
    with pytest.raises(ReportError, match="shorter"):
        read_token_file(short)
    with pytest.raises(ReportError):
        read_token_file(tmp_path / "missing")


def test_serve_command_parses_and_rejects_missing_dir(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    serve_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--reports", str(tmp_path / "nope"), "--port", "0"])
    assert args.func is serve_cmd.handler and args.host == "127.0.0.1"
    with pytest.raises(ReportError, match=r"serve --reports .*nope: .*nope does not exist"):
        serve_cmd.handler(args)
    (tmp_path / "file").write_text("x")
    args = parser.parse_args(["serve", "--reports", str(tmp_path / "file"), "--port", "0"])
    with pytest.raises(ReportError, match="file is not a directory"):
        serve_cmd.handler(args)
