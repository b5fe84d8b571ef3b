"""Shared fixtures for the render, provenance and repo tests: real git repositories holding a small kustomize fleet."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from auditor.repo.options import SourceOptions
from auditor.util import proc

_GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Alice",
    "GIT_AUTHOR_EMAIL": "alice@example.com",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "Alice",
    "GIT_COMMITTER_EMAIL": "alice@example.com",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
}


class GitRepo:
    """A throw-away git repository in tmp_path."""

    def __init__(self, root: Path, *, bare: bool = False) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main", *(["--bare"] if bare else []))

    def git(self, *args: str) -> str:
        res = proc.run(["git", *args], cwd=self.root, env=_GIT_ENV, action="test git")
        return res.stdout.decode().strip()

    def write(self, rel: str, text: str) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def commit(self, message: str, files: dict[str, str] | None = None) -> str:
        for rel, text in (files or {}).items():
            self.write(rel, text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


BASE = {
    "base/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx:1.25
          ports:
            - containerPort: 80
""",
    "base/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - port: 80
      targetPort: 80
""",
    "base/namespace-reader.yaml": """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: web-reader
rules:
  - apiGroups: [""]
    resources: [pods]
    verbs: [get, list]
""",
    "base/app.properties": "color=blue\nsize=small\n",
    "base/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
# the shared base
resources:
  - deployment.yaml
  - service.yaml
  - namespace-reader.yaml
configMapGenerator:
  - name: web-config
    files:
      - app.properties
""",
    "components/monitoring/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
  - target:
      kind: Service
    patch: |-
      - op: add
        path: /metadata/annotations
        value:
          prometheus.io/scrape: "true"
""",
    "overlays/production/us-east/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../../base
components:
  - ../../../components/monitoring
namePrefix: prod-
namespace: prod-us-east
labels:
  - pairs:
      env: production
images:
  - name: nginx
    newTag: "1.27"
replicas:
  - name: web
    count: 3
patches:
  - path: deployment-patch.yaml
  - path: service-port.json.yaml
    target:
      kind: Service
      name: web
configMapGenerator:
  - name: region
    literals:
      - region=us-east
""",
    "overlays/production/us-east/deployment-patch.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          resources:
            limits:
              cpu: "1"
              memory: 512Mi
""",
    "overlays/production/us-east/service-port.json.yaml": """\
- op: replace
  path: /spec/ports/0/port
  value: 8080
""",
    "overlays/staging/kustomization.yaml": """\
resources:
  - ../../base
namespace: staging
""",
}


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., GitRepo]:
    """Factory: ``make_repo("name", files={...})`` → a repository with one commit of ``files``."""

    def make(name: str = "repo", files: dict[str, str] | None = None, *, bare: bool = False) -> GitRepo:
        repo = GitRepo(tmp_path / name, bare=bare)
        if files is not None and not bare:
            repo.commit("initial", files)
        return repo

    return make


@pytest.fixture
def fleet_repo(make_repo: Callable[..., GitRepo]) -> GitRepo:
    """A repository with a base, a component, a production overlay (every common transformer) and staging."""
    return make_repo("fleet", BASE)


@pytest.fixture
def source_options(tmp_path: Path) -> SourceOptions:
    """Options with a private clone cache."""
    return SourceOptions(cache_dir=str(tmp_path / "cache"), render_timeout=60.0, git_timeout=60.0)


class GitHTTPServer:
    """Smart-HTTP git server on 127.0.0.1 (``git http-backend``) that demands Basic auth ``ci:<token>``."""

    def __init__(self, root: Path, token: str) -> None:
        self.root = root
        self.token = token
        self.authorized: list[str] = []
        self.rejected = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                expected = "Basic " + base64.b64encode(f"ci:{server.token}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    server.rejected += 1
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                server.authorized.append(self.path)
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                env = {
                    "GIT_PROJECT_ROOT": str(server.root), "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
                    "QUERY_STRING": query, "REQUEST_METHOD": self.command, "REMOTE_USER": "ci",
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                    "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""), "GIT_CONFIG_NOSYSTEM": "1",
                }
                out = proc.run(["git", "http-backend"], env=env, input_bytes=body, action="http-backend").stdout
                sep = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
                head, _, payload = out.partition(sep)
                status = 200
                headers: list[tuple[str, str]] = []
                for line in head.decode("latin-1").splitlines():
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif key:
                        headers.append((key, value.strip()))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, repo: str, *, token: str | None = None) -> str:
        """``http://ci:<token>@127.0.0.1:<port>/<repo>``."""
        return f"http://ci:{token or self.token}@127.0.0.1:{self.port}/{repo}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def git_http(tmp_path: Path) -> Iterator[GitHTTPServer]:
    """A smart-HTTP git server over ``tmp_path / "served"`` demanding a token."""
    root = tmp_path / "served"
    root.mkdir()
    server = GitHTTPServer(root, "s3cr3t-token")
    try:
        yield server
    finally:
        server.close()
