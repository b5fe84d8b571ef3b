"""Issue 18 (disk full): a report that cannot be written is one line naming the file, exit 2, never exit 4.

ENOSPC comes from a 48 KiB tmpfs mounted in a user and mount namespace (no privileges needed where the
kernel allows unprivileged namespaces); EFBIG from RLIMIT_FSIZE (``prlimit --fsize``), which any machine has.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .hostile import BASE_FILES, live_copy, render_with_kubectl, run_cli, snapshot_of, write_config


def _tmpfs_prefix(mountpoint: Path) -> list[str] | None:
    unshare = shutil.which("unshare")
    if not unshare:
        return None
    script = f'mount -t tmpfs -o size=48k tmpfs "{mountpoint}" && exec "$0" "$@"'
    probe = subprocess.run([unshare, "--user", "--map-root-user", "--mount", "sh", "-c", script, "true"],
                           capture_output=True, check=False)
    return [unshare, "--user", "--map-root-user", "--mount", "sh", "-c", script] if probe.returncode == 0 else None


@pytest.fixture
def fleet(make_repo: Callable[..., Path], tmp_path: Path) -> Path:
    repo = make_repo(BASE_FILES)
    snapshot_of(live_copy(render_with_kubectl(repo, "overlays/prod")), tmp_path / "snap")
    return write_config(tmp_path / "cfg.yaml", "repo: repo\nref: main\ntargets:\n"
                        "  - {name: prod, path: overlays/prod, snapshot: snap}\n")


@pytest.mark.parametrize("vehicle", ["enospc", "efbig"])
def test_unwritable_report_is_one_line_exit_2(fleet: Path, tmp_path: Path, vehicle: str) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    if vehicle == "enospc":
        prefix = _tmpfs_prefix(out)
        if prefix is None:
            pytest.skip("no unprivileged user/mount namespaces here (the EFBIG case covers the path)")
        expected = "No space left on device"
    else:
        prefix = ["prlimit", "--fsize=30000"]  # the HTML report is larger; inputs and caches are not
        expected = "File too large"
    run = run_cli(["run", "--config", str(fleet), "--out", str(out)], cwd=tmp_path, cache=tmp_path / "cache",
                  prefix=prefix)
    assert run.code == 2, run.stderr
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("gitops-audit: error:")]
    assert len(errors) == 1 and expected in errors[0] and f"write report {out}/" in errors[0], run.stderr
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr
    assert "prod" in run.stdout  # the audit's summary is still shown
