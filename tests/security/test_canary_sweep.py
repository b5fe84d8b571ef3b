"""Issue 16's done-when: a canary sweep over everything a run leaves behind finds nothing.

Canaries sit in git Secrets (``data``, ``stringData``, generator literals, env and file sources), in a Flux
``postBuild.substituteFrom`` Secret variable substituted into another Secret, in a live Secret (read with
``cluster.secrets: hash``), in the kubeconfig token, and in the credentials of the repository URL. One overlay
makes kustomize fail while echoing a Secret. The runs (cold and warm caches), ``render`` and ``snapshot`` are
driven through the CLI; then every report file, bundle member, history file, metrics file, log line, terminal line,
render cache entry and clone cache file is searched for every canary and its base64 form.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cluster.conftest import CANARY_SECRET
from cluster.fakeapi import FakeAPIServer
from cluster.pki import Pki, cluster_entry, write_kubeconfig
from gitfixtures import GitHTTPServer

from .conftest import TOKEN
from .hostile import BASE_FILES, GIT_CANARIES, SUBST, URL_TOKEN, Run, leaks, outputs, run_cli, write_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flux-fleet"
ECHO = (
    "namespace: shop\nresources: [../../base]\n"
    "replacements:\n  - source: {kind: Secret, name: db, fieldPath: data.password}\n"
    "    targets:\n      - select: {kind: Secret, name: db}\n        fieldPaths: [data.password.x]\n"
)


@pytest.fixture
def served_fleet(tmp_path: Path, make_repo: Callable[..., Path]) -> Iterator[GitHTTPServer]:
    repo = make_repo({**BASE_FILES, "overlays/echo/kustomization.yaml": ECHO})
    shutil.copytree(EXAMPLE / "fleet", repo, dirs_exist_ok=True)
    # Substituted from a Secret (the `optional-vars` substituteFrom of the example's apps Kustomization).
    (repo / "clusters" / "production" / "vars" / "optional-vars.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: optional-vars, namespace: flux-system}\n"
        f"stringData: {{db_password: {SUBST}}}\n")
    (repo / "apps" / "production" / "db-secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: app-db}\nstringData: {password: '${db_password}'}\n")
    kust = repo / "apps" / "production" / "kustomization.yaml"
    kust.write_text(kust.read_text().replace("  - nested.yaml\n", "  - nested.yaml\n  - db-secret.yaml\n"))
    env = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "A",
           "GIT_COMMITTER_EMAIL": "a@example.com", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "flux fleet"], check=True, env=env)
    root = tmp_path / "served"
    root.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(root / "fleet.git")], check=True)
    shutil.rmtree(repo)
    server = GitHTTPServer(root, URL_TOKEN)
    try:
        yield server
    finally:
        server.close()


def test_canary_sweep(tmp_path: Path, served_fleet: GitHTTPServer, pki: Pki, api: FakeAPIServer) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", [cluster_entry("prod", api.url, pki.ca_cert)],
                                  [{"name": "u", "user": {"token": TOKEN}}], [("prod", "prod", "u")])
    cfg = write_config(tmp_path / "cfg.yaml", (
        f"repo: {served_fleet.url('fleet.git')}\nref: main\n"
        f"cluster: {{kubeconfig: {kubeconfig}, secrets: hash}}\n"
        f"flux:\n  clusters: clusters/*\n  snapshot: {EXAMPLE / 'snapshots'}/{{name}}\n"
        "targets:\n  - {name: live, path: overlays/prod, context: prod}\n"
        "  - {name: echo, path: overlays/echo, context: prod}\n"))
    runs: list[Run] = []
    common = ["--config", str(cfg), "--out", str(tmp_path / "reports"), "--metrics-file", str(tmp_path / "m.prom")]
    runs.append(run_cli(["-vv", "run", *common], cwd=tmp_path, cache=tmp_path / "cache"))
    runs.append(run_cli(["--log-format", "json", "-vv", "run", *common], cwd=tmp_path, cache=tmp_path / "cache"))
    assert runs[0].code == 3 and runs[1].code == 3, runs[0].stderr  # the echo overlay is not audited
    runs.append(run_cli(["render", "--config", str(cfg), "--target", "production", "--show-origin"], cwd=tmp_path,
                        cache=tmp_path / "cache"))
    runs.append(run_cli(["render", "--config", str(cfg), "--target", "echo"], cwd=tmp_path, cache=tmp_path / "cache"))
    runs.append(run_cli(["snapshot", "--context", "prod", "--kubeconfig", str(kubeconfig), "--out",
                         str(tmp_path / "snap")], cwd=tmp_path, cache=tmp_path / "cache"))
    assert runs[2].code == 0 and runs[4].code == 0, runs[2].stderr + runs[4].stderr

    texts = outputs(tmp_path / "reports", tmp_path / "m.prom", tmp_path / "snap", tmp_path / "cache")
    for i, run in enumerate(runs):
        texts |= {f"run{i}.stdout": run.stdout, f"run{i}.stderr": run.stderr}
    assert any("evidence.zip!" in k for k in texts) and any("/renders/" in k for k in texts)
    # The clone cache holds the repository itself (its Secrets are its content); everything else is checked.
    repo_objects = {k for k in texts if "/repos/" in k and "/objects/" in k}
    assert repo_objects
    assert not leaks(texts, [URL_TOKEN, TOKEN, CANARY_SECRET])
    assert not leaks({k: v for k, v in texts.items() if k not in repo_objects}, [*GIT_CANARIES, SUBST])
