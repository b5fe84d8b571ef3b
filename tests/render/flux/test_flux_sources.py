"""Flux sources read from git: Flux 2.7 ArtifactGenerator/ExternalArtifact, another branch, another repository.

The first repository reproduces fluxcd/flux2-kustomize-helm-example's current layout: an ArtifactGenerator in
``clusters/<env>/`` copies ``apps/base/**``, ``apps/<env>/**`` and ``infrastructure/**`` into
ExternalArtifacts, and the Kustomizations use ``sourceRef.kind: ExternalArtifact`` with paths relative to
the artifact. Every object must be rendered exactly as kustomize builds the same directories, with
provenance pointing at the original files.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from auditor.cli import main
from auditor.model import RenderedSet
from auditor.render.flux.build import render_flux_target
from auditor.render.flux.options import FluxOptions
from auditor.render.kustomize.build import prepare_tree
from auditor.render.revisions import Mounts
from auditor.render.tools import find_kustomize
from auditor.repo.git import open_repo, resolve_ref
from auditor.repo.options import SourceOptions

if TYPE_CHECKING:
    from tests.gitfixtures import GitRepo


def _ks(name: str, path: str, source_kind: str, source: str, extra: str = "") -> str:
    return (f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
            f"  namespace: flux-system\nspec:\n  interval: 1h\n  path: {path}\n  prune: true\n"
            f"  sourceRef:\n    kind: {source_kind}\n    name: {source}\n{extra}")


ARTIFACTS = """\
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata:
  name: flux-system
  namespace: flux-system
spec:
  sources:
    - alias: monorepo
      kind: GitRepository
      name: flux-system
  artifacts:
    - name: infrastructure
      originRevision: "@monorepo"
      copy:
        - from: "@monorepo/infrastructure/**"
          to: "@artifact/"
    - name: apps
      originRevision: "@monorepo"
      copy:
        - from: "@monorepo/apps/base/**"
          to: "@artifact/base/"
        - from: "@monorepo/apps/{env}/**"
          to: "@artifact/{env}/"
          exclude: ["*.md"]
"""

LAYOUT = {
    "clusters/{env}/flux-system/gotk-sync.yaml": "# This file will be generated automatically by flux bootstrap.\n",
    "clusters/{env}/flux-system/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\n"
                                                    "kind: Kustomization\nresources: [gotk-sync.yaml]\n",
    "clusters/{env}/artifacts.yaml": ARTIFACTS,
    "clusters/{env}/infrastructure.yaml": _ks("infra-controllers", "./controllers", "ExternalArtifact",
                                              "infrastructure")
    + "---\n" + _ks("infra-configs", "./configs", "ExternalArtifact", "infrastructure",
                    "  dependsOn: [{name: infra-controllers}]\n  patches:\n    - patch: |\n"
                    "        - op: replace\n          path: /data/server\n          value: https://{env}.example\n"
                    "      target: {kind: ConfigMap, name: issuer}\n"),
    "clusters/{env}/apps.yaml": _ks("apps", "./{env}", "ExternalArtifact", "apps",
                                    "  dependsOn: [{name: infra-configs}]\n"),
}

SHARED = {
    "apps/base/podinfo/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                           "namespace: podinfo\nresources: [namespace.yaml, deploy.yaml]\n",
    "apps/base/podinfo/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo\n",
    "apps/base/podinfo/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\nspec:\n"
                                     "  replicas: 1\n  selector: {matchLabels: {app: podinfo}}\n  template:\n"
                                     "    metadata: {labels: {app: podinfo}}\n    spec:\n"
                                     "      containers:\n"
                                     "        - {name: podinfo, image: 'ghcr.io/stefanprodan/podinfo:6.7.0'}\n",
    "infrastructure/controllers/kustomization.yaml": "resources: [ns.yaml]\n",
    "infrastructure/controllers/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: cert-manager\n",
    "infrastructure/configs/kustomization.yaml": "resources: [issuer.yaml]\n",
    "infrastructure/configs/issuer.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: issuer\n"
                                          "  namespace: cert-manager\ndata:\n  server: https://acme-staging\n",
}


def _env_files(env: str, replicas: int) -> dict[str, str]:
    files = {k.replace("{env}", env): v.replace("{env}", env) for k, v in LAYOUT.items()}
    files[f"apps/{env}/kustomization.yaml"] = (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../base/podinfo]\n"
        f"replicas: [{{name: podinfo, count: {replicas}}}]\n")
    files[f"apps/{env}/README.md"] = "excluded from the artifact\n"
    return files


FLUX27 = {**SHARED, **_env_files("production", 3), **_env_files("staging", 1)}


def _tree(repo: GitRepo, tmp_path: Path, so: SourceOptions, name: str = "tree"):  # type: ignore[no-untyped-def]
    handle = open_repo(str(repo.root), so)
    tree = prepare_tree(handle, resolve_ref(handle, "HEAD"), tmp_path / name, so)
    return handle, tree


def _render(repo: GitRepo, tmp_path: Path, cluster: str, so: SourceOptions | None = None,
            ref: str = "main", tree_name: str = "") -> RenderedSet:
    so = so or SourceOptions(cache_dir=str(tmp_path / "cache"))
    handle, tree = _tree(repo, tmp_path, so, tree_name or f"tree-{cluster.replace('/', '-')}")
    mounts = Mounts(tree, handle, str(repo.root), (), so)
    return render_flux_target(find_kustomize(so), tree, cluster, default_namespace="default",
                              options=FluxOptions(clusters="clusters/*"), source_options=so, repo_url=str(repo.root),
                              mounts=mounts, audited_ref=ref)


def _kustomize_build(root: Path, path: str) -> list[dict[str, Any]]:
    out = subprocess.run(["kubectl", "kustomize", str(root / path)], capture_output=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _clean(body: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(body))
    labels = out["metadata"].get("labels", {})
    for k in ("kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace"):
        labels.pop(k, None)
    if not labels:
        out["metadata"].pop("labels", None)
    return out


def test_flux27_artifact_layout_renders_every_object_with_provenance(make_repo: Callable[..., GitRepo],
                                                                     tmp_path: Path) -> None:
    repo = make_repo("flux27", FLUX27)
    rs = _render(repo, tmp_path, "clusters/production")
    assert [g.reason for g in rs.gaps if not g.informational] == []
    by = {m.ref.subject: m for m in rs.objects}
    assert set(by) == {
        "ArtifactGenerator/flux-system/flux-system", "Kustomization/flux-system/infra-controllers",
        "Kustomization/flux-system/infra-configs", "Kustomization/flux-system/apps",
        "Namespace/cert-manager", "ConfigMap/cert-manager/issuer", "Namespace/podinfo", "Deployment/podinfo/podinfo"}
    # the same objects kustomize builds from the original directories (what the artifact holds)
    for path, owner in (("apps/production", "apps"), ("infrastructure/controllers", "infra-controllers")):
        for doc in _kustomize_build(repo.root, path):
            ns = doc["metadata"].get("namespace")
            name = doc["metadata"]["name"]
            subject = f"{doc['kind']}/{ns}/{name}" if ns else f"{doc['kind']}/{name}"
            assert _clean(by[subject].body) == doc, subject
            assert by[subject].labels["kustomize.toolkit.fluxcd.io/name"] == owner
    assert by["ConfigMap/cert-manager/issuer"].body["data"]["server"] == "https://production.example"
    assert by["Deployment/podinfo/podinfo"].body["spec"]["replicas"] == 3
    files = [f.path for f in by["Deployment/podinfo/podinfo"].provenance.files]
    assert files[0] == "apps/base/podinfo/deploy.yaml"
    assert "apps/production/kustomization.yaml" in files and "clusters/production/apps.yaml" in files
    assert all(".gitops-audit" not in f for f in files)
    staging = {m.ref.subject: m for m in _render(repo, tmp_path, "clusters/staging").objects}
    assert staging["Deployment/podinfo/podinfo"].body["spec"]["replicas"] == 1


def test_missing_generator_and_bad_copy_are_not_rendered(make_repo: Callable[..., GitRepo], tmp_path: Path) -> None:
    files = dict(FLUX27)
    files["clusters/production/artifacts.yaml"] = ARTIFACTS.replace("production", "production").replace(
        "@monorepo/apps/base/**", "@monorepo/nope/**")
    files["clusters/production/extra.yaml"] = _ks("orphan-artifact", "./", "ExternalArtifact", "nowhere")
    repo = make_repo("flux27bad", files)
    rs = _render(repo, tmp_path, "clusters/production")
    reasons = {g.name: g.reason for g in rs.gaps if not g.informational}
    assert "no files match pattern 'nope/**'" in reasons["apps"]
    assert "ExternalArtifact/flux-system/nowhere is not produced by an ArtifactGenerator" in reasons["orphan-artifact"]
    assert "infra-configs" not in reasons  # the other artifact still renders


TENANT_SYNC = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  url: https://git.example.com/fleet
  ref: {branch: main}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: dev-team
  namespace: apps
spec:
  url: https://git.example.com/fleet.git
  ref: {branch: dev-team}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: dev-team
  namespace: apps
spec:
  path: ./deploy
  prune: true
  sourceRef: {kind: GitRepository, name: dev-team}
"""


def test_tenant_branch_of_the_same_repository(make_repo: Callable[..., GitRepo], tmp_path: Path) -> None:
    repo = make_repo("tenants", {"clusters/c1/tenants.yaml": TENANT_SYNC,
                                 "deploy/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: main-cm}\n"})
    repo.git("checkout", "-q", "-b", "dev-team")
    repo.write("deploy/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tenant-cm}\n")
    tenant_commit = repo.commit("tenant change")
    repo.git("checkout", "-q", "main")
    so = SourceOptions(cache_dir=str(tmp_path / "cache"), repo_urls=("https://git.example.com/fleet",))
    handle, tree = _tree(repo, tmp_path, so)
    mounts = Mounts(tree, handle, str(repo.root), so.repo_urls, so)
    rs = render_flux_target(find_kustomize(so), tree, "clusters/c1", default_namespace="default",
                            options=FluxOptions(clusters="clusters/*"), source_options=so, repo_url=str(repo.root),
                            mounts=mounts, audited_ref="main")
    by = {m.ref.subject: m for m in rs.objects}
    assert "ConfigMap/default/tenant-cm" in by and "ConfigMap/default/main-cm" not in by
    cm = by["ConfigMap/default/tenant-cm"]
    assert cm.provenance.files[0].path == "deploy/cm.yaml"
    assert cm.provenance.files[0].repo == f"{repo.root}@dev-team"
    assert [(s.ref, s.commit) for s in rs.sources] == [("dev-team", tenant_commit)]


def test_other_repository_needs_allow_remote_repos(make_repo: Callable[..., GitRepo], tmp_path: Path) -> None:
    other = make_repo("platform", {"deploy/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: platform}\n"})
    other.git("tag", "v1.2.0")
    url = f"file://{other.root}"
    sync = (TENANT_SYNC.replace("https://git.example.com/fleet.git", url)
            .replace("ref: {branch: dev-team}", "ref: {semver: '>=1.0.0'}"))
    repo = make_repo("fleet-remote", {"clusters/c1/tenants.yaml": sync})
    rs = _render(repo, tmp_path, "clusters/c1")
    gap = next(g for g in rs.gaps if g.name == "dev-team")
    assert "not allowed by source.allow_remote_repos" in gap.reason
    so = SourceOptions(cache_dir=str(tmp_path / "cache2"), allow_remote_repos=(f"file://{tmp_path}/",))
    rs = _render(repo, tmp_path, "clusters/c1", so=so, tree_name="allowed")
    cm = {m.ref.subject: m for m in rs.objects}["ConfigMap/default/platform"]
    assert cm.provenance.files[0].repo == f"{url}@>=1.0.0"
    assert rs.sources[0].commit == other.git("rev-parse", "v1.2.0")


def test_cli_flux27_fleet_exit_codes(make_repo: Callable[..., GitRepo], tmp_path: Path) -> None:
    repo = make_repo("flux27cli", FLUX27)
    rs = _render(repo, tmp_path, "clusters/production")
    snap = tmp_path / "snap" / "production"
    snap.mkdir(parents=True)
    live = []
    for m in rs.objects:
        body = json.loads(json.dumps(m.body))
        body["metadata"].pop("annotations", None)
        if m.ref.namespace:
            body["metadata"]["namespace"] = m.ref.namespace
        live.append(body)
    (snap / "objects.yaml").write_text(yaml.safe_dump_all(live))
    cfg = tmp_path / "gitops-audit.yaml"
    cfg.write_text(f"version: 1\nrepo: {repo.root}\nref: main\nsource: {{render_cache: 'off'}}\n"
                   f"flux:\n  clusters: clusters/production\n  snapshot: {tmp_path / 'snap'}/{{name}}\n"
                   "policy: {builtin: false}\nchange_control: {default_window: 1d}\n")
    code = main(["run", "--config", str(cfg), "--out", str(tmp_path / "out"), "-q"])
    doc = json.loads((tmp_path / "out" / "latest" / "report.json").read_text())
    target = doc["targets"][0]
    assert target["desired_count"] == 8 and not target["partial"]
    assert [f["rule_id"] for f in target["findings"] if f["category"] == "drift"] == []
    assert code == 0


def test_token_in_a_source_url_never_reaches_output(make_repo: Callable[..., GitRepo], tmp_path: Path,
                                                    git_http: Any) -> None:
    served = make_repo("served/platform.git", {"deploy/cm.yaml":
                                               "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: platform}\n"})
    served.git("config", "http.receivepack", "true")
    url = git_http.url("platform.git")  # http://ci:<token>@127.0.0.1:<port>/platform.git
    sync = TENANT_SYNC.replace("https://git.example.com/fleet.git", url).replace("{branch: dev-team}",
                                                                                  "{branch: main}")
    repo = make_repo("fleet-token", {"clusters/c1/tenants.yaml": sync})
    denied = _render(repo, tmp_path, "clusters/c1", tree_name="denied")
    allowed_so = SourceOptions(cache_dir=str(tmp_path / "cache3"),
                               allow_remote_repos=(f"http://127.0.0.1:{git_http.port}/",))
    # the allow-list names the URL without credentials: a prefix with a token would be one more place to leak it
    rs = _render(repo, tmp_path, "clusters/c1", so=allowed_so, tree_name="allowed")
    assert "ConfigMap/default/platform" in {m.ref.subject for m in rs.objects}
    texts = [g.reason for g in (*denied.gaps, *rs.gaps)]
    texts += [f.repo for m in rs.objects for f in m.provenance.files]
    texts += [s.url + s.ref for s in rs.sources]
    assert not any(git_http.token in t for t in texts)
    assert any("not allowed by source.allow_remote_repos" in t for t in texts)
