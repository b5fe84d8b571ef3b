"""Helpers for the hostile-input tests: fleets with canaries, the CLI in a child process, every output read back.

The CLI runs as ``python -m auditor`` in a child process (real signals, real exit codes, real stderr),
with private clone/render caches. :func:`outputs` reads every file a run left behind (report files,
evidence.zip members, history, caches, logs) so a test can assert that no canary appears anywhere.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

WORKTREE = Path(__file__).resolve().parents[2]

GIT_DATA = "CANARY-git-data-7f3a91"
GIT_STRINGDATA = "CANARY-git-stringdata-91bd2c"
GEN_LITERAL = "CANARY-gen-literal-4c2e55"
GEN_ENV = "CANARY-gen-env-d81f07"
GEN_FILE = "CANARY-gen-file-0a9c3e"
SUBST = "CANARY-subst-5e6b48"
URL_TOKEN = "CANARY-url-token-2b7d19"
GIT_CANARIES = (GIT_DATA, GIT_STRINGDATA, GEN_LITERAL, GEN_ENV, GEN_FILE)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def forms(canaries: Iterable[str]) -> list[str]:
    """Each canary as written and base64-encoded (how Secrets and tools carry it)."""
    out: list[str] = []
    for c in canaries:
        out += [c, b64(c)]
    return out


DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0.0
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 256Mi}
"""

SECRET = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: db
type: Opaque
data:
  password: {b64(GIT_DATA)}
stringData:
  token: {GIT_STRINGDATA}
"""

BASE_FILES: dict[str, str] = {
    "base/deployment.yaml": DEPLOY,
    "base/secret.yaml": SECRET,
    "base/app.env": f"API_KEY={GEN_ENV}\n",
    "base/cert.pem": f"-----BEGIN-----\n{GEN_FILE}\n-----END-----\n",
    "base/kustomization.yaml": (
        "resources: [deployment.yaml, secret.yaml]\n"
        "secretGenerator:\n"
        "  - name: gen\n"
        f"    literals: [pw={GEN_LITERAL}]\n"
        "    envs: [app.env]\n"
        "    files: [cert.pem]\n"
        "generatorOptions: {disableNameSuffixHash: true}\n"
    ),
    "overlays/prod/kustomization.yaml": "namespace: shop\nresources: [../../base]\n",
}


@dataclass
class Run:
    """One finished CLI run."""

    code: int
    stdout: str
    stderr: str


def cli_env(cache: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITOPS_AUDIT", "KUBECONFIG"))}
    env.update({"PYTHONPATH": str(WORKTREE), "XDG_CACHE_HOME": str(cache), "PYTHONDONTWRITEBYTECODE": "1",
                "NO_COLOR": "1"})
    env.update(extra or {})
    return env


def run_cli(args: list[str], *, cwd: Path, cache: Path, env: Mapping[str, str] | None = None,
            timeout: float = 300, prefix: list[str] | None = None) -> Run:
    """``python -m auditor ARGS`` in a child process (stdin closed)."""
    proc = subprocess.run([*(prefix or []), sys.executable, "-m", "auditor", *args], cwd=cwd,
                          env=cli_env(cache, env), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def outputs(*roots: Path) -> dict[str, str]:
    """Every file under ``roots`` as text (zip archives member by member): reports, bundles, caches, logs."""
    out: dict[str, str] = {}
    for root in roots:
        if not root.exists():
            continue
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in paths:
            data = p.read_bytes()
            if zipfile.is_zipfile(p):
                with zipfile.ZipFile(p) as zf:
                    for name in zf.namelist():
                        out[f"{p}!{name}"] = zf.read(name).decode("utf-8", "replace")
            out[str(p)] = data.decode("utf-8", "replace")
    return out


def leaks(texts: Mapping[str, str], canaries: Iterable[str]) -> list[str]:
    """``where: canary`` for every canary (or its base64 form) found in ``texts``."""
    found = []
    for c in forms(canaries):
        for where, text in texts.items():
            if c in text:
                found.append(f"{where}: {c}")
    return found


def snapshot_of(objects: list[dict], dest: Path) -> Path:
    """A snapshot directory holding ``objects`` as one List."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "live.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    return dest


def render_with_kubectl(repo: Path, overlay: str) -> list[dict]:
    out = subprocess.run(["kubectl", "kustomize", str(repo / overlay)], check=True, capture_output=True, text=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def live_copy(objects: list[dict]) -> list[dict]:
    """What a cluster would show for rendered objects: Secrets with stringData folded into data."""
    out = []
    for o in objects:
        o = dict(o)
        if o.get("kind") == "Secret" and o.get("stringData"):
            data = dict(o.get("data") or {})
            data.update({k: b64(str(v)) for k, v in o["stringData"].items()})
            o["data"] = data
            del o["stringData"]
        out.append(o)
    return out


def write_config(path: Path, body: str) -> Path:
    path.write_text("version: 1\n" + body)
    return path
