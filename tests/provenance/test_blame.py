"""Field provenance: locate the line that sets a desired field and blame it, on a real kustomize tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from auditor.model import FileProvenance, ObjectRef
from auditor.provenance.blame import describe_origin, field_origin, format_path, locate_field, split_path
from auditor.provenance.index import build_index
from auditor.util import proc

ALICE = ("Alice", "alice@example.com")
BOB = ("Bob", "bob@example.com")
CAROL = ("Carol", "carol@example.com")
WEB = ObjectRef("apps", "Deployment", "shop", "prod-web")

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
    example.com/tier: front
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: sidecar
          image: busybox:1.36
        - name: web
          image: nginx:1.0
          ports:
            - containerPort: 80
              name: http
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  replicas: 9
"""

KUSTOMIZATION = """\
resources:
  - ../../base
namespace: shop
namePrefix: prod-
patches:
  - path: replicas.yaml
  - path: cpu.yaml
    target:
      kind: Deployment
      name: web
  - patch: |-
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
                    memory: 2Gi
images:
  - name: nginx
    newTag: "1.2"
"""

REPLICAS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
"""

CPU = """\
- op: add
  path: /spec/template/spec/containers/1/resources
  value:
    requests:
      cpu: 250m
"""


def _git(root: Path, *args: str, who: tuple[str, str] = ALICE, date: str = "2026-01-01T00:00:00+00:00") -> str:
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": who[0], "GIT_AUTHOR_EMAIL": who[1], "GIT_AUTHOR_DATE": date,
           "GIT_COMMITTER_NAME": who[0], "GIT_COMMITTER_EMAIL": who[1], "GIT_COMMITTER_DATE": date}
    return proc.run(["git", *args], cwd=root, env=env, action="test git").stdout.decode().strip()


def _commit(root: Path, files: dict[str, str], who: tuple[str, str], date: str, msg: str) -> str:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", msg, who=who, date=date)
    return _git(root, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("blame") / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    s = {}
    s["base"] = _commit(root, {"base/deploy.yaml": DEPLOY,
                               "base/kustomization.yaml": "resources:\n  - deploy.yaml\n"},
                        ALICE, "2026-10-01T09:00:00+02:00", "base")
    s["replicas"] = _commit(root, {"overlays/prod/replicas.yaml": REPLICAS, "overlays/prod/cpu.yaml": CPU,
                                   "overlays/prod/kustomization.yaml": KUSTOMIZATION},
                            CAROL, "2026-11-02T10:00:00+00:00", "prod overlay")
    # Bob edits another line of replicas.yaml later: blame must still name Carol for "replicas: 3".
    s["comment"] = _commit(root, {"overlays/prod/replicas.yaml": "# sized for the peak\n" + REPLICAS},
                           BOB, "2026-11-05T10:00:00+00:00", "comment")
    s["tag"] = _commit(root, {"overlays/prod/kustomization.yaml": KUSTOMIZATION.replace('"1.2"', '"1.3"')},
                       BOB, "2026-11-06T10:00:00+00:00", "bump web to 1.3")
    # Rename the base file: blame follows the rename back to Alice.
    _git(root, "mv", "base/deploy.yaml", "base/deployment.yaml")
    s["rename"] = _commit(root, {"base/kustomization.yaml": "resources:\n  - deployment.yaml\n"},
                          BOB, "2026-11-07T10:00:00+00:00", "rename")
    return root, s


FILES = (
    FileProvenance("base/deployment.yaml", role="resource"),
    FileProvenance("overlays/prod/replicas.yaml", role="patch"),
    FileProvenance("overlays/prod/cpu.yaml", role="patch"),
    FileProvenance("overlays/prod/kustomization.yaml", role="kustomization"),
)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl for kustomize")
def test_fixture_renders_the_values_we_blame(tree: tuple[Path, dict[str, str]]) -> None:
    root, _ = tree
    out = proc.run(["kubectl", "kustomize", str(root / "overlays/prod")], action="render").stdout
    dep = next(d for d in yaml.safe_load_all(out) if d["kind"] == "Deployment")
    assert dep["metadata"]["name"] == "prod-web"
    assert dep["spec"]["replicas"] == 3
    web = next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "web")
    assert web["image"] == "nginx:1.3"
    assert web["resources"] == {"limits": {"memory": "2Gi"}, "requests": {"cpu": "250m"}}


@pytest.mark.parametrize(
    ("field", "value", "path", "line", "author"),
    [
        ("spec.replicas", 3, "overlays/prod/replicas.yaml", 7, "Carol"),
        ("spec.template.spec.containers[name=web].image", "nginx:1.3", "overlays/prod/kustomization.yaml", 26, "Bob"),
        ("spec.template.spec.containers[name=web].resources.limits.memory", "2Gi",
         "overlays/prod/kustomization.yaml", 23, "Carol"),
        ("spec.template.spec.containers[name=web].resources.requests.cpu", "250m", "overlays/prod/cpu.yaml", 5,
         "Carol"),
        ("spec.template.spec.containers[name=web].ports[containerPort=80,protocol=TCP].name", "http",
         "base/deployment.yaml", 23, "Alice"),
        ("metadata.labels.example.com/tier", "front", "base/deployment.yaml", 7, "Alice"),
        ("metadata.namespace", "shop", "overlays/prod/kustomization.yaml", 3, "Carol"),
        ("spec.template.spec.containers[name=sidecar].image", "busybox:1.36", "base/deployment.yaml", 18, "Alice"),
    ],
)
def test_field_origin(tree: tuple[Path, dict[str, str]], field: str, value: object, path: str, line: int,
                      author: str) -> None:
    root, _ = tree
    index = build_index(root, "HEAD")
    got = field_origin(root, FILES, field, value, root, "HEAD", ref=WEB, index=index)
    assert got is not None
    assert (got.path, got.line) == (path, line)
    assert got.commit is not None and got.commit.author_name == author
    assert got.role == next(f.role for f in FILES if f.path == path)


def test_blamed_commit_details(tree: tuple[Path, dict[str, str]]) -> None:
    root, s = tree
    got = field_origin(None, FILES, "spec.replicas", 3, root / ".git", s["rename"], ref=WEB)
    assert got is not None and got.commit is not None
    assert got.commit.sha == s["replicas"]  # not Bob's later comment commit
    assert got.commit.author_date == "2026-11-02T10:00:00+00:00"
    assert got.commit.subject == "prod overlay"
    base = field_origin(None, FILES, "metadata.labels.app", "web", root, s["rename"], ref=WEB)
    assert base is not None and base.commit is not None and base.commit.sha == s["base"]
    assert base.commit.author_date == "2026-10-01T09:00:00+02:00"
    text = describe_origin("spec.replicas", 3, got)
    assert text == (f"spec.replicas = 3 set in overlays/prod/replicas.yaml:7 by {s['replicas'][:7]} "
                    "(Carol, 2026-11-02)")


def test_no_origin_when_value_differs_or_field_absent(tree: tuple[Path, dict[str, str]]) -> None:
    root, _ = tree
    assert field_origin(root, FILES, "spec.replicas", 5, root, "HEAD", ref=WEB) is None
    assert field_origin(root, FILES, "spec.paused", True, root, "HEAD", ref=WEB) is None
    # the Service document also has spec.replicas (9) but is not the Deployment
    svc = ObjectRef("", "Service", "shop", "prod-web")
    assert field_origin(root, FILES, "spec.replicas", 1, root, "HEAD", ref=svc) is None
    hit = locate_field(root, FILES, "spec.replicas", 9, ref=svc)
    assert hit is not None and hit.line == 30 and hit.commit is None


def test_path_helpers() -> None:
    segs = split_path("spec.template.spec.containers[name=web].ports[containerPort=80,protocol=TCP].name")
    assert segs == ("spec", "template", "spec", "containers", "[name=web]", "ports",
                    "[containerPort=80,protocol=TCP]", "name")
    assert format_path(segs) == "spec.template.spec.containers[name=web].ports[containerPort=80,protocol=TCP].name"
    assert split_path(("a", "b.c")) == ("a", "b.c")
