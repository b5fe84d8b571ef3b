"""Issue 16 item 3: credentials in repository URLs never reach a report, the bundle, a log, an error or a cache.

The URL is given three ways (``repo:``, a target's ``repo:``, ``--repo``); the fetch itself must still
work. Credentials can instead come from an environment variable, so they need not be in any URL.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gitfixtures import GitHTTPServer

from .hostile import (
    BASE_FILES,
    URL_TOKEN,
    leaks,
    live_copy,
    outputs,
    render_with_kubectl,
    run_cli,
    snapshot_of,
    write_config,
)


@pytest.fixture
def served(tmp_path: Path, make_repo: Callable[..., Path]) -> Iterator[GitHTTPServer]:
    repo = make_repo(BASE_FILES)
    root = tmp_path / "served"
    root.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(root / "fleet.git")], check=True)
    shutil.rmtree(repo)  # only the served copy exists
    server = GitHTTPServer(root, URL_TOKEN)
    try:
        yield server
    finally:
        server.close()


def test_url_credentials_are_redacted_everywhere(tmp_path: Path, served: GitHTTPServer,
                                                 make_repo: Callable[..., Path]) -> None:
    url = served.url("fleet.git")
    wrong = served.url("fleet.git", token="nope-" + URL_TOKEN)
    assert URL_TOKEN in url
    local = make_repo(BASE_FILES, name="local")
    snap = snapshot_of(live_copy(render_with_kubectl(local, "overlays/prod")), tmp_path / "snap")
    cfg = write_config(tmp_path / "cfg.yaml", (
        f"repo: {url}\nref: main\ntargets:\n"
        "  - {name: prod, path: overlays/prod, snapshot: snap}\n"
        f"  - {{name: other, path: overlays/prod, snapshot: snap, repo: '{url}#x'}}\n"
        f"  - {{name: wrong, path: overlays/prod, snapshot: snap, repo: '{wrong}'}}\n"
    ))
    run = run_cli(["-vv", "run", "--config", str(cfg), "--out", str(tmp_path / "reports"),
                   "--metrics-file", str(tmp_path / "metrics.prom")], cwd=tmp_path, cache=tmp_path / "cache")
    assert run.code == 3, run.stderr
    doc = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    results = {t["target"]["name"]: t for t in doc["targets"]}
    assert results["prod"]["audited"], results["prod"]["skip_reason"]
    assert results["prod"]["target"]["repo"] == f"http://127.0.0.1:{served.port}/fleet.git"
    assert not results["wrong"]["audited"]
    adhoc = run_cli(["--log-format", "json", "-v", "--repo", url, "--path", "overlays/prod", "--snapshot", str(snap),
                     "--out", str(tmp_path / "adhoc")], cwd=tmp_path, cache=tmp_path / "cache")
    assert adhoc.code in (0, 1), adhoc.stderr
    texts = outputs(tmp_path / "reports", tmp_path / "adhoc", tmp_path / "cache", tmp_path / "metrics.prom")
    texts = {k: v for k, v in texts.items() if "/objects/" not in k}  # the clone's objects are the repository
    texts |= {"stdout": run.stdout, "stderr": run.stderr, "adhoc-out": adhoc.stdout, "adhoc-err": adhoc.stderr}
    assert not leaks(texts, [URL_TOKEN])


def test_token_from_the_environment(tmp_path: Path, served: GitHTTPServer, make_repo: Callable[..., Path]) -> None:
    bare = f"http://127.0.0.1:{served.port}/fleet.git"
    local = make_repo(BASE_FILES, name="local")
    snap = snapshot_of(live_copy(render_with_kubectl(local, "overlays/prod")), tmp_path / "snap")
    args = ["--repo", bare, "--path", "overlays/prod", "--snapshot", str(snap), "--out", str(tmp_path / "r"), "-q"]
    without = run_cli(args, cwd=tmp_path, cache=tmp_path / "c1")
    assert without.code == 3  # 401: the repository cannot be fetched
    env = {"GITOPS_AUDIT_GIT_USERNAME": "ci", "GITOPS_AUDIT_GIT_TOKEN": URL_TOKEN}
    run = run_cli(args, cwd=tmp_path, cache=tmp_path / "c2", env=env)
    assert run.code in (0, 1), run.stderr
    texts = {k: v for k, v in outputs(tmp_path / "r", tmp_path / "c2").items() if "/objects/" not in k}
    assert not leaks(texts | {"out": run.stdout, "err": run.stderr}, [URL_TOKEN])
