"""Argo CD target source against real git repositories, the real kustomize and the real helm.

The repository holds a Helm-templated app of apps (``apps/``), one Application per source type
(directory, kustomize with the Application's kustomize options, helm with valueFiles/values/parameters,
multiple sources with ``$values``, jsonnet, plugin), hooks, and ApplicationSets with the list, git
(directories and files), clusters and matrix generators. Expected objects come from running kustomize and
helm on the same inputs in the test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from auditor.cli import main
from auditor.model import RenderedSet, Target
from auditor.render.argocd.options import ArgoCluster, ArgoOptions
from auditor.render.argocd.source import ArgoSource
from auditor.render.kustomize.build import prepare_tree
from auditor.render.source import RenderContext
from auditor.render.tools import find_kustomize
from auditor.repo.git import open_repo, resolve_ref
from auditor.repo.options import SourceOptions

if TYPE_CHECKING:
    from tests.gitfixtures import GitRepo

URL = "https://git.example.com/org/fleet.git"
HELM = shutil.which("helm") or "/usr/local/bin/helm"


def _app(name: str, path: str, ns: str, extra: str = "", server: str = "https://kubernetes.default.svc",
         sync: str = "  syncPolicy:\n    automated: {prune: true, selfHeal: true}\n") -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\n"
            f"spec:\n  project: default\n  destination:\n    server: {server}\n    namespace: {ns}\n"
            f"  source:\n    repoURL: {URL}\n    targetRevision: HEAD\n    path: {path}\n{extra}{sync}")


DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.25
"""

CHART = {
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "charts/web/values.yaml": "replicas: 1\nimage: nginx:1.25\nport: 80\n",
    "charts/web/values-prod.yaml": "replicas: 3\n",
    "charts/web/templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers:
        - name: web
          image: {{ .Values.image }}
          ports: [{containerPort: {{ .Values.port }}}]
""",
    "charts/web/templates/hook.yaml": """\
apiVersion: batch/v1
kind: Job
metadata:
  generateName: migrate-
  annotations: {helm.sh/hook: pre-install}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: busybox}]
""",
}

FILES: dict[str, str] = {
    # the app of apps: a Helm chart templating one Application per entry
    "apps/Chart.yaml": "apiVersion: v2\nname: apps\nversion: 0.1.0\n",
    "apps/values.yaml": yaml.safe_dump({"repoURL": URL, "apps": [
        {"name": "guestbook", "path": "guestbook"},
        {"name": "kustomized", "path": "kustomized"},
        {"name": "jsonnet", "path": "jsonnet"},
    ]}),
    "apps/templates/apps.yaml": """\
{{- range .Values.apps }}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {{ .name }}
  namespace: argocd
spec:
  project: default
  destination: {server: https://kubernetes.default.svc, namespace: {{ .name }}}
  source: {repoURL: {{ $.Values.repoURL }}, targetRevision: HEAD, path: {{ .path }}}
  syncPolicy: {automated: {prune: true, selfHeal: true}}
{{- end }}
""",
    # directory app with hooks
    "guestbook/deploy.yaml": DEPLOY,
    "guestbook/svc.json": json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                      "spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}}),
    "guestbook/pre-sync.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: before\n  annotations:\n"
                               "    argocd.argoproj.io/hook: PreSync\nspec:\n  template:\n    spec:\n"
                               "      restartPolicy: Never\n      containers: [{name: s, image: busybox}]\n",
    "guestbook/notes.txt": "not a manifest\n",
    "guestbook/sub/ignored.yaml": DEPLOY.replace("name: web", "name: nested"),
    # kustomize app (options come from the Application under argocd/)
    "kustomized/kustomization.yaml": "resources: [deploy.yaml]\ncommonLabels: {team: a}\n",
    "kustomized/deploy.yaml": DEPLOY,
    "components/extra/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                           "configMapGenerator: [{name: extra, literals: [a=b]}]\n",
    "jsonnet/app.jsonnet": "local p = import 'params.libsonnet';\n[{apiVersion: 'v1', kind: 'ConfigMap', "
                           "metadata: {name: p.name}, data: {x: 'y'}}]\n",
    "jsonnet/params.libsonnet": "{name: 'from-jsonnet'}\n",
    **CHART,
    "values/prod.yaml": "image: nginx:1.27\n",
    # plain Applications found by the argocd.apps glob
    "argocd/kustomized.yaml": _app("kustomized-opts", "kustomized", "kz", """\
    kustomize:
      namePrefix: pre-
      nameSuffix: -suf
      images: [nginx=registry.example.com/nginx:1.27]
      replicas: [{name: web, count: 4}]
      commonLabels: {tier: front}
      commonAnnotations: {owner: team-a}
      components: [../components/extra]
      patches:
        - target: {kind: Deployment}
          patch: |-
            - op: add
              path: /metadata/annotations/patched
              value: "yes"
"""),
    "argocd/helm.yaml": _app("web-helm", "charts/web", "web", """\
    helm:
      releaseName: shop
      valueFiles: [values-prod.yaml]
      valuesObject: {port: 8080}
      parameters: [{name: image, value: "nginx:1.26"}]
"""),
    "argocd/multi.yaml": """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: multi, namespace: argocd}
spec:
  project: default
  destination: {name: prod-us, namespace: multi}
  sources:
    - repoURL: %s
      targetRevision: HEAD
      path: charts/web
      helm: {valueFiles: [$values/values/prod.yaml]}
    - repoURL: %s
      targetRevision: HEAD
      ref: values
""".replace("%s", URL),
    "argocd/plugin.yaml": _app("plugin", "guestbook", "p", "    plugin: {name: cmp}\n"),
    "argocd/appsets.yaml": """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: by-list, namespace: argocd}
spec:
  generators:
    - list:
        elements: [{cluster: prod-us, url: https://prod-us.example.com}]
  template:
    metadata: {name: 'list-{{cluster}}'}
    spec:
      project: default
      source: {repoURL: %(url)s, targetRevision: HEAD, path: guestbook}
      destination: {server: '{{url}}', namespace: listed}
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: by-dirs, namespace: argocd}
spec:
  goTemplate: true
  generators:
    - git:
        repoURL: %(url)s
        revision: HEAD
        directories: [{path: 'envs/*'}, {path: envs/skip, exclude: true}]
  template:
    metadata: {name: 'env-{{ .path.basename | lower }}'}
    spec:
      project: default
      source: {repoURL: %(url)s, targetRevision: HEAD, path: '{{ .path.path }}'}
      destination: {name: prod-us, namespace: '{{ .path.basename | lower }}'}
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: by-files, namespace: argocd}
spec:
  generators:
    - git:
        repoURL: %(url)s
        revision: HEAD
        files: [{path: 'config/**/cfg.json'}]
  template:
    metadata: {name: 'file-{{app}}'}
    spec:
      project: default
      source: {repoURL: %(url)s, targetRevision: HEAD, path: '{{path}}'}
      destination: {name: prod-us, namespace: '{{ns}}'}
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: by-matrix, namespace: argocd}
spec:
  goTemplate: true
  generators:
    - matrix:
        generators:
          - clusters: {selector: {matchLabels: {env: prod}}}
          - list: {elements: [{app: a}, {app: b}]}
  template:
    metadata: {name: '{{ .app }}-{{ .name }}'}
    spec:
      project: default
      source: {repoURL: %(url)s, targetRevision: HEAD, path: 'matrix/{{ .app }}'}
      destination: {server: '{{ .server }}', namespace: matrix}
""".replace("%(url)s", URL),
    "envs/Alpha/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: alpha}\n",
    "envs/skip/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: skipped}\n",
    "config/one/cfg.json": json.dumps({"app": "one", "ns": "files-one"}),
    "config/one/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-files}\n",
    "matrix/a/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ma}\n",
    "matrix/b/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mb}\n",
}

CLUSTERS = (ArgoCluster("prod-us", "https://prod-us.example.com", {"env": "prod"}),)


@pytest.fixture
def argo_repo(make_repo: Callable[..., GitRepo]) -> GitRepo:
    return make_repo("argo", FILES)


def _ctx(repo: GitRepo, tmp_path: Path) -> RenderContext:
    so = SourceOptions(cache_dir=str(tmp_path / "cache"), repo_urls=(URL,))
    handle = open_repo(str(repo.root), so)
    commit = resolve_ref(handle, "HEAD")
    tree = prepare_tree(handle, commit, tmp_path / "tree", so)
    return RenderContext(tool=find_kustomize(so), tree=tree, options=so, handle=handle, url=str(repo.root),
                         aliases=(URL,), ref="HEAD")


def _render_all(ctx: RenderContext, options: ArgoOptions) -> dict[str, RenderedSet]:
    source = ArgoSource(options)
    disc = source.discover(ctx, Target(name="d", repo="r", ref="HEAD"))
    return {t.name: source.render(ctx, t) for t in disc.targets}


def _objs(rs: RenderedSet) -> dict[str, Any]:
    return {m.ref.subject: m for m in rs.objects}


def _kustomize(tmp: Path, files: dict[str, str], path: str) -> list[dict[str, Any]]:
    for rel, text in files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    out = subprocess.run(["kubectl", "kustomize", str(tmp / path)], capture_output=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _helm(chart: Path, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run([HELM, "template", *args, str(chart)], capture_output=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _strip(body: Any) -> dict[str, Any]:
    """A body without what Argo CD stamps (tracking) and the audit's markers, for comparison."""
    out = json.loads(json.dumps(body))
    ann = out.get("metadata", {}).get("annotations", {})
    for k in list(ann):
        if k.startswith(("gitops-audit.io/", "argocd.argoproj.io/tracking-id")):
            del ann[k]
    if not ann:
        out.get("metadata", {}).pop("annotations", None)
    return out


def test_app_of_apps_helm_root_and_apps_glob(argo_repo: GitRepo, tmp_path: Path) -> None:
    ctx = _ctx(argo_repo, tmp_path)
    renders = _render_all(ctx, ArgoOptions(root="apps", apps="argocd/*.yaml", clusters=CLUSTERS))
    assert sorted(renders) == ["in-cluster", "prod-us"]
    local = _objs(renders["in-cluster"])
    # the root chart's Applications are desired objects of the cluster Argo CD runs in, tracked by the root app
    for name in ("guestbook", "kustomized", "jsonnet"):
        app = local[f"Application/argocd/{name}"]
        assert app.annotations["argocd.argoproj.io/tracking-id"] == f"apps:argoproj.io/Application:argocd/{name}"
        assert app.provenance.files[0].path == "apps/templates/apps.yaml"
    # directory app: top level .yaml/.json only, namespace from the destination, provenance to the file
    web = local["Deployment/guestbook/web"]
    assert web.provenance.files[0].path == "guestbook/deploy.yaml"
    assert web.annotations["argocd.argoproj.io/tracking-id"] == "guestbook:apps/Deployment:guestbook/web"
    assert "Service/guestbook/web" in local and "Deployment/guestbook/nested" not in local
    assert local["ConfigMap/jsonnet/from-jsonnet"].body["data"] == {"x": "y"}
    # hooks are marked: Argo CD runs them during a sync
    hook = local["Job/guestbook/before"]
    assert hook.annotations["gitops-audit.io/drift"] == "ignore"


def test_kustomize_options_match_kustomize_edit(argo_repo: GitRepo, tmp_path: Path) -> None:
    renders = _render_all(_ctx(argo_repo, tmp_path), ArgoOptions(apps="argocd/kustomized.yaml"))
    got = {m.ref.subject: _strip(m.body) for m in renders["in-cluster"].objects}
    # the kustomization kustomize edit would leave, built by kustomize itself
    expected = _kustomize(tmp_path / "expect", {
        "kustomized/kustomization.yaml": yaml.safe_dump({
            "resources": ["deploy.yaml"], "commonLabels": {"team": "a", "tier": "front"},
            "namePrefix": "pre-", "nameSuffix": "-suf",
            "images": [{"name": "nginx", "newName": "registry.example.com/nginx", "newTag": "1.27"}],
            "replicas": [{"name": "web", "count": 4}], "commonAnnotations": {"owner": "team-a"},
            "components": ["../components/extra"],
            "patches": [{"target": {"kind": "Deployment"},
                         "patch": '- op: add\n  path: /metadata/annotations/patched\n  value: "yes"'}]}),
        "kustomized/deploy.yaml": DEPLOY,
        "components/extra/kustomization.yaml": FILES["components/extra/kustomization.yaml"],
    }, "kustomized")
    want = {f"{d['kind']}/kz/{d['metadata']['name']}": d for d in expected}
    assert sorted(got) == sorted(want)
    for subject, body in want.items():
        assert got[subject] == {**body, "metadata": {**body["metadata"]}}, subject


def test_helm_source_matches_helm_template(argo_repo: GitRepo, tmp_path: Path) -> None:
    renders = _render_all(_ctx(argo_repo, tmp_path), ArgoOptions(apps="argocd/helm.yaml"))
    got = {m.ref.subject: m for m in renders["in-cluster"].objects}
    chart = argo_repo.root / "charts" / "web"
    values = tmp_path / "v.yaml"
    values.write_text("port: 8080\n")
    expected = _helm(chart, "--name-template", "shop", "--namespace", "web", "--set", "image=nginx:1.26",
                     "--values", str(chart / "values-prod.yaml"), "--values", str(values), "--include-crds")
    deploy = next(d for d in expected if d["kind"] == "Deployment")
    assert _strip(got["Deployment/web/shop"].body) == deploy
    assert got["Deployment/web/shop"].provenance.files[0].path == "charts/web/templates/deployment.yaml"
    # the Helm hook (generateName) is kept as a hook: live instances match its name pattern
    hook = got["Job/web/migrate-"]
    assert hook.annotations["gitops-audit.io/name-pattern"] == "migrate-*"


def test_multiple_sources_with_values_ref(argo_repo: GitRepo, tmp_path: Path) -> None:
    renders = _render_all(_ctx(argo_repo, tmp_path), ArgoOptions(apps="argocd/multi.yaml", clusters=CLUSTERS))
    deploy = _objs(renders["prod-us"])["Deployment/multi/multi"]
    container = deploy.body["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27"


def test_appset_generators(argo_repo: GitRepo, tmp_path: Path) -> None:
    renders = _render_all(_ctx(argo_repo, tmp_path), ArgoOptions(apps="argocd/appsets.yaml", clusters=CLUSTERS))
    prod = _objs(renders["prod-us"])
    units = {m.annotations["gitops-audit.io/unit"] for m in renders["prod-us"].objects}
    assert units == {"argocd:list-prod-us", "argocd:env-alpha", "argocd:file-one", "argocd:a-prod-us",
                     "argocd:b-prod-us"}
    assert "Deployment/listed/web" in prod
    assert "ConfigMap/alpha/alpha" in prod and not any("skipped" in s for s in prod)
    assert "ConfigMap/files-one/from-files" in prod
    assert {"ConfigMap/matrix/ma", "ConfigMap/matrix/mb"} <= set(prod)


def test_plugins_are_not_rendered_and_the_run_is_partial(argo_repo: GitRepo, tmp_path: Path) -> None:
    renders = _render_all(_ctx(argo_repo, tmp_path), ArgoOptions(apps="argocd/plugin.yaml"))
    gaps = renders["in-cluster"].gaps
    assert [g.name for g in gaps] == ["plugin"]
    assert "config management plugin cmp: not rendered" in gaps[0].reason


def test_cli_end_to_end_with_snapshots(argo_repo: GitRepo, tmp_path: Path) -> None:
    ctx = _ctx(argo_repo, tmp_path)
    desired = _render_all(ctx, ArgoOptions(apps="argocd/helm.yaml"))["in-cluster"]
    snap = tmp_path / "snap" / "in-cluster"
    snap.mkdir(parents=True)
    live = []
    for m in desired.objects:
        if m.ref.kind == "Job":
            continue  # hooks ran and were deleted: absent live is normal
        body = _strip(m.body)
        body["metadata"]["namespace"] = m.ref.namespace
        body["metadata"].setdefault("annotations", {})["argocd.argoproj.io/tracking-id"] = \
            m.annotations["argocd.argoproj.io/tracking-id"]
        live.append(body)
    live[0]["spec"]["replicas"] = 9  # drift on a self-healing app
    # orphans of a kind the target holds (only those kinds are read live)
    stale = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "old", "namespace": "web",
        "annotations": {"argocd.argoproj.io/tracking-id": "web-helm:apps/Deployment:web/old"}}}
    extraneous = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "generated", "namespace": "web",
        "annotations": {"argocd.argoproj.io/compare-options": "IgnoreExtraneous"}}}
    (snap / "objects.yaml").write_text(yaml.safe_dump_all([*live, stale, extraneous]))
    cfg = tmp_path / "gitops-audit.yaml"
    cfg.write_text(f"version: 1\nrepo: {argo_repo.root}\nsource: {{repo_urls: ['{URL}'], render_cache: 'off'}}\n"
                   f"argocd:\n  apps: argocd/helm.yaml\n  snapshot: {tmp_path / 'snap'}/{{name}}\n"
                   "policy: {builtin: false}\n")
    code = main(["run", "--config", str(cfg), "--out", str(tmp_path / "out"), "-q"])
    doc = json.loads((tmp_path / "out" / "latest" / "report.json").read_text())
    findings = {(f["rule_id"], (f["object"] or {}).get("name", "")): f for f in doc["targets"][0]["findings"]}
    assert ("drift.modified", "shop") in findings
    assert "self-healing: Application web-helm" in findings[("drift.modified", "shop")]["message"]
    assert findings[("drift.self-heal-failed", "")]["severity"] == "high"
    assert not findings[("drift.orphaned.stale", "old")]["suppressed_by"]
    assert findings[("drift.orphaned.unmanaged", "generated")]["suppressed_by"] == \
        "argocd.argoproj.io/compare-options: IgnoreExtraneous"
    assert findings[("drift.missing", "migrate-")]["suppressed_by"].startswith("argocd: sync hook")
    assert code == 1
