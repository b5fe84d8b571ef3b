"""Issue 16 items 5 and 6: a repository cannot make the audit fetch anything the config did not allow.

Every field kustomize resolves as a path or URL goes through the remote allow-list (not only
``resources``), kustomize runs without network unless an allow-listed remote entry needs it, and the
render cache never serves a render made under more permissive options.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .hostile import BASE_FILES, leaks, outputs, run_cli, snapshot_of, write_config

SSRF = "SSRF-CANARY-BODY-3e9a"
BODY = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm}}\ndata: {{fetched: {SSRF}}}\n"


class Served:
    def __init__(self) -> None:
        self.hits: list[str] = []
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_a: object) -> None:
                pass

            def do_GET(self) -> None:
                served.hits.append(self.path)
                body = (f"K={SSRF}\n" if self.path.endswith(".env") else BODY).encode()
                if self.path.endswith("/kustomization.yaml"):
                    body = b"resources: [cm.yaml]\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def served() -> Iterator[Served]:
    s = Served()
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()


def _overlays(url: str) -> dict[str, str]:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: b}\n"
    head = "namespace: shop\nresources: [cm.yaml]\n"
    fields = {
        "patches": f"patches:\n  - path: {url}/p.yaml\n",
        "psm": f"patchesStrategicMerge:\n  - {url}/p.yaml\n",
        "json6902": "patchesJson6902:\n  - target: {kind: ConfigMap, name: cm, version: v1}\n"
        f"    path: {url}/j.yaml\n",
        "replacements": f"replacements:\n  - path: {url}/r.yaml\n",
        "configurations": f"configurations:\n  - {url}/c.yaml\n",
        "crds": f"crds:\n  - {url}/crd.yaml\n",
        "openapi": f"openapi:\n  path: {url}/o.json\n",
        "gen-files": f"configMapGenerator:\n  - name: g\n    files: [{url}/f.yaml]\n",
        "gen-envs": f"configMapGenerator:\n  - name: g\n    envs: [{url}/x.env]\n",
        "components": f"components:\n  - {url}/comp\n",
    }
    files: dict[str, str] = {}
    for name, body in fields.items():
        files[f"overlays/{name}/cm.yaml"] = cm
        files[f"overlays/{name}/kustomization.yaml"] = head + body
    return files


def test_every_path_field_is_checked_against_the_allow_list(
    make_repo: Callable[..., Path], tmp_path: Path, served: Served
) -> None:
    files = _overlays(served.url)
    make_repo({**BASE_FILES, **files})
    snapshot_of([], tmp_path / "snap")
    names = sorted({k.split("/")[1] for k in files})
    cfg = write_config(tmp_path / "cfg.yaml", "repo: repo\nref: main\ntargets:\n" + "".join(
        f"  - {{name: {n}, path: overlays/{n}, snapshot: snap}}\n" for n in names))
    run = run_cli(["run", "--config", str(cfg), "--out", str(tmp_path / "reports")], cwd=tmp_path,
                  cache=tmp_path / "cache")
    assert run.code == 3, run.stderr
    doc = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    for t in doc["targets"]:
        assert not t["audited"], t["target"]["name"]
        assert "is not allowed" in t["skip_reason"] and "allow_remote_bases" in t["skip_reason"], t["skip_reason"]
    assert served.hits == []
    assert not leaks(outputs(tmp_path / "reports", tmp_path / "cache") | {"o": run.stdout, "e": run.stderr}, [SSRF])


def test_allowed_remote_is_fetched_and_a_strict_run_is_not_served_from_cache(
    make_repo: Callable[..., Path], tmp_path: Path, served: Served
) -> None:
    files = {
        "overlays/remote/kustomization.yaml": f"namespace: shop\nresources: [{served.url}/base/cm.yaml]\n",
        "overlays/local/kustomization.yaml": "namespace: shop\nresources: [../../base]\n",
    }
    make_repo({**BASE_FILES, **files})
    snapshot_of([], tmp_path / "snap")
    targets = ("targets:\n  - {name: remote, path: overlays/remote, snapshot: snap}\n"
               "  - {name: local, path: overlays/local, snapshot: snap}\n")
    permissive = write_config(tmp_path / "permissive.yaml",
                              f"repo: repo\nref: main\nsource: {{allow_remote_bases: ['{served.url}/base/']}}\n"
                              + targets)
    strict = write_config(tmp_path / "strict.yaml", "repo: repo\nref: main\n" + targets)
    first = run_cli(["run", "--config", str(permissive), "--out", str(tmp_path / "r1")], cwd=tmp_path,
                    cache=tmp_path / "cache")
    doc = json.loads((tmp_path / "r1" / "latest" / "report.json").read_text())
    assert all(t["audited"] for t in doc["targets"]), first.stderr
    assert served.hits == ["/base/cm.yaml"]  # the allowed fetch happened, with network
    second = run_cli(["run", "--config", str(strict), "--out", str(tmp_path / "r2")], cwd=tmp_path,
                     cache=tmp_path / "cache")
    assert second.code == 3
    doc = json.loads((tmp_path / "r2" / "latest" / "report.json").read_text())
    results = {t["target"]["name"]: t for t in doc["targets"]}
    assert not results["remote"]["audited"] and "is not allowed" in results["remote"]["skip_reason"]
    assert results["local"]["audited"]
    assert served.hits == ["/base/cm.yaml"]
    # Remote content may change between runs: it is never kept in the render cache.
    cached = outputs(tmp_path / "cache" / "gitops-audit" / "renders")
    assert cached and not leaks(cached, [SSRF])
