"""Issue 16 item 17: how live state was read is part of the evidence.

Plain HTTP and ``insecure-skip-tls-verify`` are findings on their target plus one warning line in our words
(urllib3's per-request InsecureRequestWarning is silenced). Exec credential plugins run as kubectl runs
them, unless ``cluster.allow_exec_plugins: false`` refuses them for kubeconfigs you do not trust.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cluster.conftest import load_live_objects
from cluster.fakeapi import FakeAPIServer
from cluster.pki import Pki, cluster_entry, write_kubeconfig

from .conftest import TOKEN
from .hostile import BASE_FILES, run_cli, write_config


@pytest.fixture
def plain_api() -> Iterator[FakeAPIServer]:
    with FakeAPIServer(load_live_objects(), token=TOKEN) as srv:
        yield srv


def test_insecure_transports_are_findings(make_repo: Callable[..., Path], tmp_path: Path, pki: Pki,
                                          api: FakeAPIServer, plain_api: FakeAPIServer) -> None:
    make_repo(BASE_FILES)
    marker = tmp_path / "plugin-ran"
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        f"import json, pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', 'kind': 'ExecCredential',"
        f" 'status': {{'token': {TOKEN!r}}}}}))\n")
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig",
        [cluster_entry("secure", api.url, pki.ca_cert), {"name": "plain", "cluster": {"server": plain_api.url}},
         {"name": "skip", "cluster": {"server": api.url, "insecure-skip-tls-verify": True}}],
        [{"name": "u", "user": {"token": TOKEN}},
         {"name": "sso", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                           "command": sys.executable, "args": [str(plugin)],
                                           "interactiveMode": "Never"}}}],
        [("secure", "secure", "u"), ("plain", "plain", "u"), ("skip", "skip", "u"), ("sso", "secure", "sso")])
    targets = "targets:\n" + "".join(f"  - {{name: {n}, path: overlays/prod, context: {n}}}\n"
                                     for n in ("secure", "plain", "skip", "sso"))
    cfg = write_config(tmp_path / "cfg.yaml", f"repo: repo\nref: main\ncluster: {{kubeconfig: {kubeconfig}}}\n"
                       + targets)
    run = run_cli(["run", "--config", str(cfg), "--out", str(tmp_path / "r")], cwd=tmp_path, cache=tmp_path / "c")
    assert run.code in (0, 1), run.stderr
    assert marker.exists()  # exec plugins run by default, as kubectl runs them
    doc = json.loads((tmp_path / "r" / "latest" / "report.json").read_text())
    rules = {t["target"]["name"]: {f["rule_id"] for f in t["findings"]} for t in doc["targets"]}
    assert "cluster.plain-http" in rules["plain"] and "cluster.tls-not-verified" in rules["skip"]
    assert not {"cluster.plain-http", "cluster.tls-not-verified"} & (rules["secure"] | rules["sso"])
    assert "InsecureRequestWarning" not in run.stderr and "Unverified HTTPS" not in run.stderr
    warnings = [ln for ln in run.stderr.splitlines() if "plain HTTP" in ln or "not verified" in ln]
    assert len(warnings) == 2, run.stderr

    marker.unlink()
    strict = write_config(tmp_path / "strict.yaml", "repo: repo\nref: main\n"
                          f"cluster: {{kubeconfig: {kubeconfig}, allow_exec_plugins: false}}\n" + targets)
    run = run_cli(["run", "--config", str(strict), "--out", str(tmp_path / "r2")], cwd=tmp_path, cache=tmp_path / "c")
    assert run.code == 3
    assert not marker.exists()
    doc = json.loads((tmp_path / "r2" / "latest" / "report.json").read_text())
    results = {t["target"]["name"]: t for t in doc["targets"]}
    assert not results["sso"]["audited"] and "allow_exec_plugins is false" in results["sso"]["skip_reason"]
    assert results["secure"]["audited"]
