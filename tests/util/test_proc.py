"""The one process runner: no network when asked, bounded time, memory and output, no orphans."""

from __future__ import annotations

import http.server
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import ToolError
from auditor.util import proc, stop


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


def test_available_cpus_follows_a_cgroup_quota(tmp_path: Path) -> None:
    mine = len(os.sched_getaffinity(0))
    v2, v1 = tmp_path / "v2", tmp_path / "v1"
    v2.mkdir()
    (v1 / "cpu").mkdir(parents=True)
    for text, expected in (("max 100000\n", mine), ("150000 100000\n", min(mine, 2)), ("50000 100000", 1),
                           ("garbage", mine)):
        (v2 / "cpu.max").write_text(text)
        assert proc.available_cpus(v2) == expected, text
    for quota, expected in (("-1", mine), ("250000", min(mine, 3)), ("100000", 1)):
        (v1 / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
        (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
        assert proc.available_cpus(v1) == expected, quota
    assert proc.available_cpus(tmp_path / "absent") == mine


@pytest.fixture
def one_cpu_slot() -> Any:
    saved = proc._cpu_slots
    proc.configure_cpu_slots(1)
    try:
        yield
    finally:
        proc._cpu_slots = saved
        stop.reset()


def test_cpu_bound_children_take_turns(tmp_path: Path, one_cpu_slot: None) -> None:
    """With one slot, CPU-bound children never overlap; others are not held back."""
    log = tmp_path / "log"
    script = f"echo start $(date +%s%N) >> {log}; sleep 0.3; echo end $(date +%s%N) >> {log}"
    threads = [threading.Thread(target=proc.run, args=(["sh", "-c", script],),
                                kwargs={"action": f"render {i}", "cpu_bound": True}) for i in range(3)]
    for t in threads:
        t.start()
    # Not CPU-bound: runs at once while the renders queue.
    proc.run(["true"], action="git")
    for t in threads:
        t.join()
    events = [line.split() for line in log.read_text().splitlines()]
    assert [e[0] for e in events] == ["start", "end"] * 3  # strictly one after the other
    assert all(int(events[i][1]) <= int(events[i + 1][1]) for i in range(len(events) - 1))


def test_a_stop_request_ends_the_wait_for_a_cpu_slot(tmp_path: Path, one_cpu_slot: None) -> None:
    marker = tmp_path / "running"
    errors: list[str] = []

    def run(argv: list[str], action: str) -> None:
        try:
            proc.run(argv, action=action, cpu_bound=True)
        except ToolError as exc:
            errors.append(str(exc))

    holder = threading.Thread(target=run, args=(["sh", "-c", f"touch {marker}; sleep 30"], "long render"))
    holder.start()
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    waiter = threading.Thread(target=run, args=(["true"], "queued render"))
    waiter.start()  # the slot is taken: it waits
    stop.request()
    waiter.join(10)
    holder.join(10)
    assert not waiter.is_alive() and not holder.is_alive()
    assert sorted(e.split(":")[0] for e in errors) == ["long render", "queued render"]
