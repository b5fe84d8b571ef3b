"""Issue 16 item 9: an API server that sends its body slowly cannot keep the run from ending.

The server answers at once but trickles the body: 20 pieces, 9 s apart (180 s), each piece well within
the per-request timeout, so only a total deadline on the read can stop it. With a 10 s deadline the run
must end, with its reports, long before the body would be complete. Before the fix the deadline fired and
the reports were written, but the process waited for the trickle to finish.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from cluster.fakeapi import FakeAPIServer
from cluster.pki import Pki, cluster_entry, write_kubeconfig

from .conftest import TOKEN
from .hostile import BASE_FILES, run_cli, write_config


def test_trickled_body_ends_within_the_deadline(make_repo: Callable[..., Path], tmp_path: Path, pki: Pki,
                                                api: FakeAPIServer) -> None:
    make_repo(BASE_FILES)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", [cluster_entry("c", api.url, pki.ca_cert)],
                                  [{"name": "u", "user": {"token": TOKEN}}], [("c", "c", "u")])
    api.add_fault(r"/deployments$", trickle=9.0)
    cfg = write_config(tmp_path / "cfg.yaml", (
        f"repo: repo\nref: main\ncluster: {{kubeconfig: {kubeconfig}, deadline: 10, request_timeout: 30}}\n"
        "targets:\n  - {name: slow, path: overlays/prod, context: c}\n"))
    # 120 s is far above the 10 s deadline and far below the 180 s the body takes: no timing race either way.
    run = run_cli(["run", "--config", str(cfg), "--out", str(tmp_path / "reports")], cwd=tmp_path,
                  cache=tmp_path / "cache", timeout=120)
    assert run.code == 3, run.stderr
    doc = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    (target,) = doc["targets"]
    assert not target["audited"] and "deadline of 10s exceeded" in target["skip_reason"]
