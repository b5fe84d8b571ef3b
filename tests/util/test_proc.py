"""The one process runner: no network when asked, bounded time, memory and output, no orphans."""

from __future__ import annotations

import http.server
import os
import threading
import time
from pathlib import Path

import pytest

from auditor.errors import ToolError
from auditor.util import proc


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, seconds: float = 30.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def test_no_network_means_no_request(tmp_path: Path) -> None:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_a: object) -> None:
            pass

        def do_GET(self) -> None:
            hits.append(self.path)
            body = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {x: fetched}\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/p.yaml"
        (tmp_path / "kustomization.yaml").write_text(f"resources: [cm.yaml]\npatches:\n  - path: {url}\n")
        (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: b}\n")
        with_net = proc.run(["kubectl", "kustomize", str(tmp_path)], action="build", check=False)
        assert b"fetched" in with_net.stdout and hits == ["/p.yaml"]
        res = proc.run(["kubectl", "kustomize", str(tmp_path)], action="build", check=False, network=False)
        assert res.returncode != 0 and b"fetched" not in res.stdout
        assert hits == ["/p.yaml"]
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert proc.network_isolation() in ("namespace", "proxy")


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = f"sleep 300 & echo $! > {pidfile}; wait"
    with pytest.raises(ToolError, match="timed out after 1s"):
        proc.run(["sh", "-c", script], action="sleepy", timeout=1)
    assert _wait_gone(int(pidfile.read_text()))


def test_memory_and_output_are_bounded(tmp_path: Path) -> None:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "data: {x: y}", "bombs:",
             '  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"  a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    (tmp_path / "kustomization.yaml").write_text("resources: [bomb.yaml]\n")
    with pytest.raises(ToolError, match=r"ran out of memory \(limit 256 MiB"):
        proc.run(["kubectl", "kustomize", str(tmp_path)], action="bomb", memory_mb=256, timeout=300)
    with pytest.raises(ToolError, match="printed more than 1000 bytes"):
        proc.run(["sh", "-c", "yes | head -c 100000"], action="chatty", max_output=1000)


def test_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    """SIGKILL of the caller leaves nothing behind (PR_SET_PDEATHSIG through setpriv)."""
    if proc.process_guard() != "pdeathsig":
        pytest.skip("setpriv --pdeathsig is not available here")
    import signal
    import subprocess
    import sys

    pidfile = tmp_path / "pid"
    code = (
        "from auditor.util import proc\n"
        f"proc.run(['sh', '-c', 'echo $$ > {pidfile}; exec sleep 300'], action='x', timeout=600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], env={**os.environ})
    end = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < end:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert _wait_gone(child)
