"""Issue 16 item 10: SIGTERM/SIGINT stop a run promptly with a partial report; no signal leaves children behind.

kustomize is replaced by a script that records its pid and sleeps (a render that would take 5 minutes).
Before the fix, SIGTERM/SIGKILL of the audit left the sleeping "kustomize" running, and SIGINT waited for
its timeout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .hostile import BASE_FILES, cli_env, snapshot_of, write_config


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait(predicate: Callable[[], bool], seconds: float = 60.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def slow_fleet(make_repo: Callable[..., Path], tmp_path: Path) -> tuple[Path, Path]:
    files = dict(BASE_FILES)
    files["overlays/other/kustomization.yaml"] = "namespace: other\nresources: [../../base]\n"
    make_repo(files)
    pids = tmp_path / "pids"
    pids.mkdir()
    fake = tmp_path / "kustomize"
    fake.write_text(f"#!/bin/sh\nif [ \"$1\" = version ]; then echo v5.5.0; exit 0; fi\n"
                    f"echo $$ > {pids}/$$\nexec sleep 300\n")
    fake.chmod(0o755)
    snapshot_of([], tmp_path / "snap")
    cfg = write_config(tmp_path / "cfg.yaml", (
        f"repo: repo\nref: main\ntools: {{kustomize: {fake}}}\nsource: {{render_timeout: 600}}\ntargets:\n"
        "  - {name: a, path: overlays/prod, snapshot: snap}\n  - {name: b, path: overlays/other, snapshot: snap}\n"))
    return cfg, pids


def _start(cfg: Path, tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "auditor", "run", "--config", str(cfg), "--out",
                             str(tmp_path / "reports"), "--no-render-cache"], cwd=tmp_path,
                            env=cli_env(tmp_path / "cache"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)


def _children(pids: Path) -> list[int]:
    assert _wait(lambda: len(list(pids.iterdir())) == 2), "the renders never started"
    out = [int(p.name) for p in pids.iterdir()]
    assert all(_alive(p) for p in out)
    return out


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 3), (signal.SIGINT, 130)])
def test_stop_signal_gives_a_partial_report_and_no_orphans(
    slow_fleet: tuple[Path, Path], tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    cfg, pids = slow_fleet
    audit = _start(cfg, tmp_path)
    children = _children(pids)
    audit.send_signal(sig)
    # The renders would take 300 s; a prompt stop is seconds. 120 s cannot be reached by a working stop.
    _out, err = audit.communicate(timeout=120)
    assert audit.returncode == code, err
    assert all(_wait(lambda p=p: not _alive(p), 30) for p in children)
    assert f"{sig.name}: stopping" in err and "Traceback" not in err
    doc = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    assert doc["partial"] is True
    for t in doc["targets"]:
        assert not t["audited"] and f"interrupted ({sig.name})" in t["skip_reason"], t["skip_reason"]


def test_sigkill_of_the_audit_kills_its_children(slow_fleet: tuple[Path, Path], tmp_path: Path) -> None:
    cfg, pids = slow_fleet
    audit = _start(cfg, tmp_path)
    children = _children(pids)
    audit.send_signal(signal.SIGKILL)
    audit.communicate(timeout=60)
    assert all(_wait(lambda p=p: not _alive(p), 30) for p in children)
