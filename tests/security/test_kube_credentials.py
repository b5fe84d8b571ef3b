"""Issue 16 item 1: kubeconfig tokens with a trailing newline work; any other token problem is a per-target
error that never shows the token (stdout, stderr, logs, every report file, the bundle).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from cluster.fakeapi import FakeAPIServer
from cluster.pki import Pki, cluster_entry, write_kubeconfig

from .conftest import TOKEN
from .hostile import BASE_FILES, leaks, outputs, run_cli, write_config

EURO_TOKEN = "canary-euro-\u20ac-token-77aa"
CTRL_TOKEN = "canary-ctrl-\x07-token-88bb"


def test_token_newline_is_trimmed_and_bad_tokens_fail_one_target(
    make_repo: Callable[..., Path], tmp_path: Path, pki: Pki, api: FakeAPIServer
) -> None:
    make_repo(BASE_FILES)
    (tmp_path / "token").write_text(TOKEN + "\n")  # what `echo $T > token` writes
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig",
        [cluster_entry("c", api.url, pki.ca_cert)],
        [{"name": "inline", "user": {"token": TOKEN + "\n"}},
         {"name": "file", "user": {"tokenFile": str(tmp_path / "token")}},
         {"name": "euro", "user": {"token": EURO_TOKEN}},
         {"name": "ctrl", "user": {"token": CTRL_TOKEN}}],
        [("inline", "c", "inline"), ("file", "c", "file"), ("euro", "c", "euro"), ("ctrl", "c", "ctrl")],
    )
    cfg = write_config(tmp_path / "cfg.yaml", (
        f"repo: repo\nref: main\ncluster: {{kubeconfig: {kubeconfig}, deadline: 20}}\ntargets:\n"
        + "".join(f"  - {{name: {n}, path: overlays/prod, context: {n}}}\n" for n in ("inline", "file", "euro", "ctrl"))
    ))
    run = run_cli(["-vv", "--debug", "run", "--config", str(cfg), "--out", str(tmp_path / "reports")],
                  cwd=tmp_path, cache=tmp_path / "cache")
    assert run.code == 3, run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    doc = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    results = {t["target"]["name"]: t for t in doc["targets"]}
    assert results["inline"]["audited"] and results["file"]["audited"], run.stderr
    for name in ("euro", "ctrl"):
        reason = results[name]["skip_reason"]
        assert not results[name]["audited"]
        assert "cannot carry" in reason and "\n" not in reason, reason
    texts = outputs(tmp_path / "reports", tmp_path / "cache") | {"stdout": run.stdout, "stderr": run.stderr}
    assert not leaks(texts, [TOKEN, EURO_TOKEN, CTRL_TOKEN, EURO_TOKEN.split("\u20ac")[1]])
    assert not [w for w, t in texts.items() if "Bearer canary" in t]

    snap = run_cli(["--debug", "snapshot", "--context", "euro", "--kubeconfig", str(kubeconfig),
                    "--out", str(tmp_path / "snap")], cwd=tmp_path, cache=tmp_path / "cache")
    assert snap.code == 2 and len(snap.stderr.strip().splitlines()) == 1, snap.stderr
    assert not leaks({"out": snap.stdout, "err": snap.stderr}, [EURO_TOKEN, EURO_TOKEN.split("\u20ac")[1]])
