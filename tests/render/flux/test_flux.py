"""Flux fleets: discovery and kustomize-controller rendering of a Flux-layout repository built in git."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from fluxrepo import fleet_files

from auditor.errors import ConfigError, RenderError
from auditor.model import Manifest, RenderedSet, Target
from auditor.render.flux.build import (
    DRIFT_ANNOTATION,
    HELM_RELEASE_ANNOTATION,
    HELM_STATE_ANNOTATION,
    NAME_LABEL,
    NAMESPACE_LABEL,
    discover_targets,
    is_flux_target,
    render_flux_target,
)
from auditor.render.flux.kustomization import WORK_PREFIX, generated_resources
from auditor.render.flux.options import ClusterOverride, FluxOptions
from auditor.render.kustomize.build import PreparedTree, prepare_tree
from auditor.render.tools import KustomizeTool, find_kustomize
from auditor.repo.git import open_repo, resolve_ref
from auditor.repo.options import SourceOptions

if TYPE_CHECKING:
    from tests.gitfixtures import GitRepo

HELM = shutil.which("helm")
needs_helm = pytest.mark.skipif(HELM is None, reason="helm not installed (gitops-audit tools install helm)")


@pytest.fixture(scope="module")
def tool() -> KustomizeTool:
    return find_kustomize(SourceOptions())


@pytest.fixture
def flux_repo(make_repo: Callable[..., GitRepo]) -> GitRepo:
    return make_repo("fleet", fleet_files())


def _tree(repo: GitRepo, tmp_path: Path, name: str = "tree") -> PreparedTree:
    opts = SourceOptions(cache_dir=str(tmp_path / "cache"))
    handle = open_repo(str(repo.root), opts)
    return prepare_tree(handle, resolve_ref(handle, "HEAD"), tmp_path / name, opts)


def _render(tool: KustomizeTool, tree: PreparedTree, cluster: str = "clusters/production",
            options: FluxOptions | None = None) -> RenderedSet:
    return render_flux_target(tool, tree, cluster, default_namespace="default",
                              options=options or FluxOptions(clusters="clusters/*", context="{name}"),
                              source_options=SourceOptions(), repo_url="https://github.com/example/fleet")


def _by_subject(rs: RenderedSet) -> dict[str, Manifest]:
    out: dict[str, Manifest] = {}
    for m in rs.objects:
        assert m.ref.subject not in out, f"duplicate {m.ref.subject}"
        out[m.ref.subject] = m
    return out


def _reasons(rs: RenderedSet) -> list[str]:
    return [g.reason for g in rs.gaps]


# --------------------------------------------------------------------------------------------------
# Discovery


def test_discovery_one_target_per_cluster(flux_repo: GitRepo, tmp_path: Path) -> None:
    tree = _tree(flux_repo, tmp_path)
    snap = str(tmp_path / "snaps" / "staging")
    opts = FluxOptions(clusters="clusters/*", context="ctx-{env}-{region}",
                       overrides={"staging": ClusterOverride(snapshot=snap, region="eu-central")})
    defaults = Target(name="d", repo="/repo", ref="main", namespace="apps", labels=(("team", "x"),))
    targets = discover_targets(tree.root, opts, defaults)
    assert [t.name for t in targets] == ["production", "staging"]
    prod, stg = targets
    # region of production from the gitops-audit.io/region label on its infra Kustomization
    assert (prod.env, prod.region, prod.context, prod.snapshot) == ("production", "us-east", "ctx-production-us-east",
                                                                    "")
    # an override wins over the label; a snapshot override replaces the context template
    assert (stg.env, stg.region, stg.context, stg.snapshot) == ("staging", "eu-central", "", snap)
    assert prod.path == "clusters/production" and prod.repo == "/repo" and prod.ref == "main"
    assert prod.namespace == "apps" and ("team", "x") in prod.labels
    assert is_flux_target(prod) and not is_flux_target(defaults)


def test_discovery_name_pattern_vars_and_errors(make_repo: Callable[..., GitRepo], tmp_path: Path) -> None:
    files = {
        "clusters/prod-us-east/ks.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-vars}\n"
                                         "data: {tier: gold}\n",
        "clusters/dev-eu/vars.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v}\ndata: {cluster_env: lab}\n",
    }
    tree = _tree(make_repo("named", files), tmp_path)
    opts = FluxOptions(clusters="clusters/*", name_pattern=r"(?P<env>[a-z]+)-(?P<region>.+)", env_var="cluster_env",
                       snapshot=str(tmp_path / "snap-{name}"))
    got = {t.name: (t.env, t.region, t.snapshot) for t in discover_targets(tree.root, opts, Target(name="d"))}
    assert got == {
        "dev-eu": ("lab", "eu", str(tmp_path / "snap-dev-eu")),  # cluster var beats the name pattern
        "prod-us-east": ("prod", "us-east", str(tmp_path / "snap-prod-us-east")),
    }
    # only `clusters` configured: the kubeconfig context named like the cluster directory
    bare = discover_targets(tree.root, FluxOptions(clusters="clusters/*"), Target(name="d"))
    assert [(t.name, t.context, t.snapshot) for t in bare] == [("dev-eu", "dev-eu", ""),
                                                               ("prod-us-east", "prod-us-east", "")]
    with pytest.raises(ConfigError, match="inside the repository"):
        discover_targets(tree.root, FluxOptions(clusters="../*", context="x"), Target(name="d"))
    assert discover_targets(tree.root, FluxOptions(), Target(name="d")) == ()


# --------------------------------------------------------------------------------------------------
# Rendering


PROD_SUBJECTS = {
    "Namespace/flux-system", "GitRepository/flux-system/flux-system", "Kustomization/flux-system/flux-system",
    "Kustomization/flux-system/infra-controllers", "Kustomization/flux-system/infra-configs",
    "Kustomization/flux-system/apps", "Kustomization/flux-system/legacy", "ConfigMap/flux-system/cluster-vars",
    # infra-controllers
    "Namespace/infra", "HelmRelease/infra/podinfo", "HelmRelease/infra/ingress-nginx",
    "HelmRepository/infra/ingress-nginx",
    # infra-configs: generated kustomization (nested dir included, README.txt skipped)
    "ConfigMap/infra/podinfo-values", "ResourceQuota/infra/infra-quota",
    # apps: targetNamespace shop + namePrefix prod- + the monitoring component
    "Deployment/shop/prod-web", "Service/shop/prod-web", "Ingress/shop/prod-web", "ServiceMonitor/shop/prod-web",
    "ConfigMap/shop/prod-script", "Kustomization/shop/prod-extras",
    # nested Kustomization shop/prod-extras
    "Deployment/shop/worker",
    # suspended legacy
    "ConfigMap/shop/legacy",
}


def test_render_cluster_objects_labels_and_order(flux_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    tree = _tree(flux_repo, tmp_path)
    rs = _render(tool, tree)
    objs = _by_subject(rs)
    expected = set(PROD_SUBJECTS)
    if HELM:
        expected.add("Deployment/infra/podinfo")
    assert set(objs) == expected
    owner = {s: (m.labels.get(NAMESPACE_LABEL), m.labels.get(NAME_LABEL)) for s, m in objs.items()}
    assert owner["Kustomization/flux-system/apps"] == ("flux-system", "flux-system")
    assert owner["Namespace/flux-system"] == ("flux-system", "flux-system")
    assert owner["Namespace/infra"] == ("flux-system", "infra-controllers")
    assert owner["ResourceQuota/infra/infra-quota"] == ("flux-system", "infra-configs")
    assert owner["Deployment/shop/prod-web"] == ("flux-system", "apps")
    assert owner["Deployment/shop/worker"] == ("shop", "prod-extras")
    # dependsOn order: controllers, then configs, then apps, then what apps applies
    order = [m.ref.subject for m in rs.objects]
    assert order.index("Namespace/infra") < order.index("ConfigMap/infra/podinfo-values") \
        < order.index("Deployment/shop/prod-web") < order.index("Deployment/shop/worker")
    assert rs.path == "clusters/production" and rs.commit == tree.commit
    # the private tree holds no generated directories afterwards
    leftovers = [p for p in tree.root.rglob(f"{WORK_PREFIX}*")]
    assert leftovers == []


def test_flux_settings_and_substitution(flux_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    objs = _by_subject(_render(tool, _tree(flux_repo, tmp_path)))
    web = objs["Deployment/shop/prod-web"].body
    # substituteFrom cluster-vars: "3" becomes the integer 3 (substitution on text, then parsed)
    assert web["spec"]["replicas"] == 3
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--env=production", "--region=global", "--literal=${HOME}", "$PATH"]
    assert container["image"] == "ghcr.io/example/web:1.2.3"  # spec.images
    assert container["env"] == [{"name": "FLUX_PATCHED", "value": "yes"}]  # spec.patches
    assert web["metadata"]["annotations"] == {"env": "production", "owner": "shop-team"}  # overlay patch + common
    assert web["metadata"]["labels"]["team"] == "shop"
    assert web["spec"]["selector"] == {"matchLabels": {"app": "web"}}  # commonMetadata never touches selectors
    assert objs["Ingress/shop/prod-web"].body["spec"]["rules"][0]["host"] == "shop.production.example.com"
    # kustomize.toolkit.fluxcd.io/substitute: disabled keeps ${...} verbatim
    assert objs["ConfigMap/shop/prod-script"].body["data"]["run.sh"] == "echo ${HOME}"


def test_provenance_points_at_repository_files(flux_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    objs = _by_subject(_render(tool, _tree(flux_repo, tmp_path)))
    files = [(f.path, f.role) for f in objs["Deployment/shop/prod-web"].provenance.files]
    assert files == [("apps/base/deployment.yaml", "resource"), ("apps/production/kustomization.yaml", "kustomization"),
                     ("apps/production/replicas.yaml", "patch"), ("clusters/production/apps.yaml", "config")]
    # generated kustomizations are not repository files: only the resource and the Flux Kustomization
    quota = [(f.path, f.role) for f in objs["ResourceQuota/infra/infra-quota"].provenance.files]
    assert quota == [("infrastructure/configs/nested/quota.yaml", "resource"),
                     ("clusters/production/infrastructure.yaml", "config")]
    assert all(WORK_PREFIX not in f.path for m in objs.values() for f in m.provenance.files)


def _kustomize(args: list[str], cwd: Path) -> list[dict[str, object]]:
    out = subprocess.run(["kubectl", "kustomize", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _strip_flux(body: dict[str, object]) -> dict[str, object]:
    meta = dict(body["metadata"])  # type: ignore[arg-type]
    labels = {k: v for k, v in (meta.get("labels") or {}).items()
              if k not in (NAME_LABEL, NAMESPACE_LABEL, "team")}
    ann = {k: v for k, v in (meta.get("annotations") or {}).items() if k != "owner"}
    meta.pop("labels", None)
    meta.pop("annotations", None)
    if labels:
        meta["labels"] = labels
    if ann:
        meta["annotations"] = ann
    return {**body, "metadata": meta}


def test_apps_render_matches_kustomize_for_the_same_inputs(flux_repo: GitRepo, tool: KustomizeTool,
                                                           tmp_path: Path) -> None:
    """What kustomize-controller builds equals kustomize's own output for the equivalent kustomization."""
    rs = _render(tool, _tree(flux_repo, tmp_path))
    ours = {m.ref.subject: _strip_flux(dict(m.body)) for m in rs.objects
            if m.labels.get(NAME_LABEL) == "apps"}
    # The same inputs written by hand: the Flux spec fields moved into the overlay's own kustomization.
    work = tmp_path / "byhand"
    shutil.copytree(flux_repo.root, work, ignore=shutil.ignore_patterns(".git"))
    (work / "apps/production/kustomization.yaml").write_text("""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop
namePrefix: prod-
resources:
  - ../base
  - script.yaml
  - nested.yaml
components:
  - ../components/monitoring
images:
  - name: ghcr.io/example/web
    newTag: "1.2.3"
patches:
  - path: replicas.yaml
  - target:
      kind: Deployment
      name: web
    patch: |
      - op: add
        path: /spec/template/spec/containers/0/env
        value:
          - name: FLUX_PATCHED
            value: "yes"
""")
    raw = subprocess.run(["kubectl", "kustomize", "apps/production"], cwd=work, check=True, capture_output=True,
                         text=True).stdout
    # postBuild by hand: cluster-vars + substitute, defaults, the $$ escape; the opted-out ConfigMap untouched.
    docs = []
    for doc in raw.split("\n---\n"):
        if "name: prod-script" not in doc:
            doc = (doc.replace("${replicas:=1}", "3").replace("${cluster_env}", "production")
                   .replace("${region:=global}", "global").replace("$${HOME}", "${HOME}")
                   .replace("${domain}", "production.example.com"))
        docs.append(doc)
    theirs = {}
    for d in yaml.safe_load_all("\n---\n".join(docs)):
        ns = d["metadata"].get("namespace")
        theirs[f"{d['kind']}/{ns}/{d['metadata']['name']}" if ns else f"{d['kind']}/{d['metadata']['name']}"] = d
    assert set(ours) == set(theirs)
    for subject, body in theirs.items():
        assert ours[subject] == body, subject


def test_suspended_and_ssa_markers(flux_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    rs = _render(tool, _tree(flux_repo, tmp_path))
    objs = _by_subject(rs)
    legacy = objs["ConfigMap/shop/legacy"]
    assert legacy.annotations[DRIFT_ANNOTATION] == "ignore"
    assert "suspended" in legacy.annotations["gitops-audit.io/drift-reason"]
    assert any("legacy is suspended" in r for r in _reasons(rs))
    assert objs["Deployment/shop/worker"].annotations[DRIFT_ANNOTATION] == "if-not-present"
    assert DRIFT_ANNOTATION not in objs["Deployment/shop/prod-web"].annotations
    # prune is read from the desired Kustomization object itself
    assert objs["Kustomization/flux-system/legacy"].body["spec"]["prune"] is False


def test_remote_chart_is_a_gap_and_marked(flux_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    rs = _render(tool, _tree(flux_repo, tmp_path))
    hr = _by_subject(rs)["HelmRelease/infra/ingress-nginx"]
    assert hr.annotations[HELM_STATE_ANNOTATION] == "not-rendered"
    assert hr.annotations[HELM_RELEASE_ANNOTATION] == "infra/ingress-nginx"
    gaps = [g for g in rs.gaps if g.group_kind == "HelmRelease.helm.toolkit.fluxcd.io"]
    assert any("ingress-nginx: remote chart ingress-nginx@4.11.3" in g.reason and g.namespace == "infra"
               for g in gaps)


@needs_helm
def test_local_chart_rendered_with_helm(flux_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    rs = _render(tool, _tree(flux_repo, tmp_path))
    objs = _by_subject(rs)
    assert objs["HelmRelease/infra/podinfo"].annotations[HELM_STATE_ANNOTATION] == "rendered"
    dep = objs["Deployment/infra/podinfo"]
    # valuesFrom (replicaCount 5, message from-git), then spec.values on top (replicaCount 2)
    assert dep.body["spec"]["replicas"] == 2
    assert dep.body["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "MESSAGE", "value": "from-git"}]
    assert dep.labels["helm.toolkit.fluxcd.io/name"] == "podinfo"
    assert dep.annotations["meta.helm.sh/release-name"] == "podinfo"
    assert "Pod/infra/podinfo-test" not in objs  # test hooks are not part of the release
    assert [(f.path, f.role) for f in dep.provenance.files][:2] == [
        ("charts/podinfo/templates/deployment.yaml", "resource"),
        ("infrastructure/controllers/podinfo.yaml", "config")]
    # the same chart through helm itself
    values = tmp_path / "v.yaml"
    values.write_text("message: from-git\nreplicaCount: 2\n")
    out = subprocess.run([str(HELM), "template", "podinfo", str(flux_repo.root / "charts/podinfo"), "-n", "infra",
                          "-f", str(values)], check=True, capture_output=True, text=True).stdout
    theirs = next(d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment")
    assert dep.body["spec"] == theirs["spec"]


def test_helm_missing_is_a_gap(flux_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    opts = FluxOptions(clusters="clusters/*", context="x", helm_path=str(tmp_path / "no-helm"))
    rs = _render(tool, _tree(flux_repo, tmp_path), options=opts)
    assert any("podinfo: chart is local but helm was not found" in r for r in _reasons(rs))
    assert _by_subject(rs)["HelmRelease/infra/podinfo"].annotations[HELM_STATE_ANNOTATION] == "not-rendered"


def test_staging_renders_its_own_settings(flux_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    objs = _by_subject(_render(tool, _tree(flux_repo, tmp_path), "clusters/staging"))
    web = objs["Deployment/shop/stg-web"].body
    assert web["spec"]["replicas"] == 1
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/example/web:1.3.0-rc1"
    assert "ConfigMap/shop/legacy" not in objs


# --------------------------------------------------------------------------------------------------
# Graph edge cases


def _ks(name: str, path: str, deps: tuple[str, ...] = (), source: str = "flux-system", extra: str = "") -> str:
    dep = "".join(f"\n    - name: {d}" for d in deps)
    return f"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: flux-system
spec:
  interval: 1m
  path: {path}
  prune: true
  sourceRef:
    kind: GitRepository
    name: {source}
  dependsOn:{dep or " []"}
{extra}"""


def _cm(name: str, ns: str = "default") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata: {{a: b}}\n"


def test_dependency_cycle_is_reported_not_rendered(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                                   tmp_path: Path) -> None:
    files = {
        "clusters/c1/a.yaml": _ks("a", "./apps/a", ("b",)),
        "clusters/c1/b.yaml": _ks("b", "./apps/b", ("a",)),
        "clusters/c1/c.yaml": _ks("c", "./apps/c", ("a",)),
        "clusters/c1/d.yaml": _ks("d", "./apps/d", ("missing",)),
        "apps/a/cm.yaml": _cm("a"), "apps/b/cm.yaml": _cm("b"), "apps/c/cm.yaml": _cm("c"), "apps/d/cm.yaml": _cm("d"),
    }
    rs = _render(tool, _tree(make_repo("cyc", files), tmp_path), "clusters/c1")
    subjects = set(_by_subject(rs))
    assert {"ConfigMap/default/a", "ConfigMap/default/b", "ConfigMap/default/c"}.isdisjoint(subjects)
    assert "ConfigMap/default/d" in subjects  # unknown dependency: rendered, with a gap
    reasons = _reasons(rs)
    assert any(r.startswith("a: dependsOn cycle flux-system/a -> flux-system/b -> flux-system/a") for r in reasons)
    assert any(r.startswith("c: depends on a Kustomization in a dependsOn cycle") for r in reasons)
    assert any(r.startswith("d: dependsOn flux-system/missing, which is not a Kustomization of this cluster")
               for r in reasons)


def test_external_sources_gap_or_mapped(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                        tmp_path: Path) -> None:
    files = {
        "clusters/c1/ext.yaml": _ks("ext", "./deploy", source="platform")
        + "---\n" + _ks("oci", "./", source="x").replace("kind: GitRepository", "kind: OCIRepository"),
    }
    tree = _tree(make_repo("ext", files), tmp_path)
    rs = _render(tool, tree, "clusters/c1")
    reasons = _reasons(rs)
    assert any("ext: source GitRepository/flux-system/platform is not defined in git, not rendered" in r
               for r in reasons)
    assert any("oci: external source OCIRepository/flux-system/x, not rendered" in r for r in reasons)
    platform = tmp_path / "platform-checkout"
    (platform / "deploy").mkdir(parents=True)
    (platform / "deploy" / "cm.yaml").write_text(_cm("from-platform", "platform"))
    opts = FluxOptions(clusters="clusters/*", context="x",
                       source_paths={"GitRepository/flux-system/platform": str(platform)})
    rs = _render(tool, tree, "clusters/c1", options=opts)
    cm = _by_subject(rs)["ConfigMap/platform/from-platform"]
    assert [f.path for f in cm.provenance.files][-1] == "clusters/c1/ext.yaml"
    assert cm.labels[NAME_LABEL] == "ext"


def test_same_repo_by_url_and_duplicate_objects(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                                tmp_path: Path) -> None:
    gitrepo = ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: mine\n"
               "  namespace: flux-system\nspec:\n  url: git@github.com:example/fleet.git\n  interval: 1m\n")
    files = {
        "clusters/c1/src.yaml": gitrepo,
        "clusters/c1/one.yaml": _ks("one", "./apps/x", source="mine"),
        "clusters/c1/two.yaml": _ks("two", "./apps/x", source="mine"),
        "apps/x/cm.yaml": _cm("x"),
    }
    rs = _render(tool, _tree(make_repo("url", files), tmp_path), "clusters/c1")
    objs = _by_subject(rs)
    assert objs["ConfigMap/default/x"].labels[NAME_LABEL] == "one"
    assert any("x is applied by both Kustomization flux-system/one and flux-system/two" in r for r in _reasons(rs))


def test_substitution_errors_and_missing_sources(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                                 tmp_path: Path) -> None:
    extra = "  postBuild:\n    substitute:\n      bad-name: x\n"
    strict = "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: nowhere\n"
    files = {
        "clusters/c1/bad.yaml": _ks("bad", "./apps/a", extra=extra),
        "clusters/c1/strict.yaml": _ks("strict", "./apps/b", extra=strict),
        "apps/a/cm.yaml": _cm("a"),
        "apps/b/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {v: '${unset}'}\n",
    }
    tree = _tree(make_repo("subst", files), tmp_path)
    rs = _render(tool, tree, "clusters/c1")
    reasons = _reasons(rs)
    assert any("bad: render failed:" in r and "invalid variable name 'bad-name'" in r for r in reasons)
    assert any("strict: substituteFrom ConfigMap/nowhere not found" in r for r in reasons)
    # like Flux: substitution works on the YAML text, so `v: ${unset}` becomes `v: ` (null), not ""
    assert _by_subject(rs)["ConfigMap/default/b"].body["data"] == {"v": None}
    opts = FluxOptions(clusters="clusters/*", context="x", strict_substitution=True)
    rs = _render(tool, tree, "clusters/c1", options=opts)
    assert any("strict: render failed:" in r and "variable unset is not set" in r for r in _reasons(rs))


def test_substitute_from_cluster_when_allowed(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                              tmp_path: Path) -> None:
    extra = "  postBuild:\n    substituteFrom:\n      - kind: Secret\n        name: live-vars\n"
    files = {
        "clusters/c1/a.yaml": _ks("a", "./apps/a", extra=extra),
        "apps/a/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {v: '${token}'}\n",
    }
    tree = _tree(make_repo("live", files), tmp_path)
    calls: list[tuple[str, str, str]] = []

    def lookup(kind: str, ns: str, name: str) -> dict[str, object]:
        calls.append((kind, ns, name))
        return {"data": {"token": "c2VjcmV0"}}  # base64 of "secret"

    opts = FluxOptions(clusters="clusters/*", context="x", allow_cluster_substitution=True)
    rs = render_flux_target(tool, tree, "clusters/c1", default_namespace="default", options=opts,
                            source_options=SourceOptions(), repo_url="", cluster_lookup=lookup)
    assert _by_subject(rs)["ConfigMap/default/a"].body["data"] == {"v": "secret"}
    assert calls == [("Secret", "flux-system", "live-vars")]
    # not allowed: the lookup is never called
    calls.clear()
    render_flux_target(tool, tree, "clusters/c1", default_namespace="default",
                       options=FluxOptions(clusters="clusters/*", context="x"), source_options=SourceOptions(),
                       repo_url="", cluster_lookup=lookup)
    assert calls == []


def test_cluster_dir_failure_raises(make_repo: Callable[..., GitRepo], tool: KustomizeTool, tmp_path: Path) -> None:
    files = {"clusters/c1/kustomization.yaml": "resources: [missing.yaml]\n", "README.md": "x\n"}
    tree = _tree(make_repo("broken", files), tmp_path)
    with pytest.raises(RenderError, match="clusters/c1"):
        _render(tool, tree, "clusters/c1")
    with pytest.raises(RenderError, match="does not exist"):
        _render(tool, tree, "clusters/none")


def test_generated_resources_like_flux(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "kustomized").mkdir()
    (d / ".hidden").mkdir()
    (d / "a.yaml").write_text(_cm("a"))
    (d / "sub" / "b.yml").write_text(_cm("b"))
    (d / "sub" / "deeper" / "c.yaml").write_text(_cm("c"))
    (d / "sub" / "values.yaml").write_text("replicas: 3\n")  # not a Kubernetes object
    (d / "sub" / "tpl.yaml").write_text("{{ .Values.x }}: [\n")  # not YAML
    (d / "kustomized" / "kustomization.yaml").write_text("resources: [x.yaml]\n")
    (d / "kustomized" / "x.yaml").write_text(_cm("x"))
    (d / ".hidden" / "h.yaml").write_text(_cm("h"))
    (d / "notes.txt").write_text("x")
    assert generated_resources(d) == ["a.yaml", "kustomized", "sub/b.yml", "sub/deeper/c.yaml"]


def test_no_generated_dirs_survive_failures(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                            tmp_path: Path) -> None:
    files = {"clusters/c1/a.yaml": _ks("a", "./apps/a"),
             "apps/a/kustomization.yaml": "resources: [nope.yaml]\n"}
    tree = _tree(make_repo("fail", files), tmp_path)
    rs = _render(tool, tree, "clusters/c1")
    assert any(r.startswith("a: render failed:") and "apps/a" in r and WORK_PREFIX not in r for r in _reasons(rs))
    assert not [p for p in tree.root.rglob(f"{WORK_PREFIX}*")]
    assert sorted(os.listdir(tree.root / "apps")) == ["a"]


@needs_helm
def test_kustomize_helm_charts_only_with_opt_in(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                                tmp_path: Path) -> None:
    files = {
        "clusters/c1/a.yaml": _ks("a", "./apps/a"),
        "apps/a/kustomization.yaml": "helmCharts:\n- name: mini\n  releaseName: mi\n  version: 0.1.0\n"
                                     "  valuesInline: {v: hello}\n",
        "apps/a/charts/mini/Chart.yaml": "apiVersion: v2\nname: mini\nversion: 0.1.0\n",
        "apps/a/charts/mini/values.yaml": "v: default\n",
        "apps/a/charts/mini/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                                "  name: {{ .Release.Name }}-cm\ndata:\n  v: {{ .Values.v | quote }}\n",
    }
    tree = _tree(make_repo("khelm", files), tmp_path)
    rs = _render(tool, tree, "clusters/c1")
    assert any(r.startswith("a: render failed:") and "Helm is disabled" in r for r in _reasons(rs))
    opts = FluxOptions(clusters="clusters/*", context="x", kustomize_helm=True)
    cm = _by_subject(_render(tool, tree, "clusters/c1", options=opts))["ConfigMap/default/mi-cm"]
    assert cm.body["data"] == {"v": "hello"} and cm.labels[NAME_LABEL] == "a"


def test_v1beta2_patch_fields_and_reconcile_disabled(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                                     tmp_path: Path) -> None:
    extra = """\
  patchesStrategicMerge:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        name: a
      data:
        smp: "yes"
  patchesJson6902:
    - target:
        version: v1
        kind: ConfigMap
        name: a
      patch:
        - op: add
          path: /data/json
          value: "yes"
"""
    ks = _ks("a", "./apps/a", extra=extra).replace("kustomize.toolkit.fluxcd.io/v1",
                                                   "kustomize.toolkit.fluxcd.io/v1beta2")
    files = {
        "clusters/c1/a.yaml": ks,
        "apps/a/cm.yaml": _cm("a"),
        "apps/a/off.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: off\n  annotations:\n"
                           "    kustomize.toolkit.fluxcd.io/reconcile: disabled\n",
    }
    objs = _by_subject(_render(tool, _tree(make_repo("beta", files), tmp_path), "clusters/c1"))
    assert objs["ConfigMap/default/a"].body["data"] == {"a": "b", "smp": "yes", "json": "yes"}
    off = objs["ConfigMap/default/off"]
    assert off.annotations[DRIFT_ANNOTATION] == "ignore"
    assert off.annotations["gitops-audit.io/drift-reason"] == "kustomize.toolkit.fluxcd.io/reconcile: disabled"


@needs_helm
def test_helm_post_renderers_and_crd_policy(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                            tmp_path: Path) -> None:
    hr = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: mini
  namespace: apps
spec:
  interval: 1h
  targetNamespace: web
  install:
    crds: Skip
  chart:
    spec:
      chart: ./charts/mini
      sourceRef: {kind: GitRepository, name: flux-system, namespace: flux-system}
  postRenderers:
    - kustomize:
        images:
          - name: nginx
            newTag: "1.27"
        patches:
          - target: {kind: Deployment}
            patch: |
              - op: add
                path: /spec/replicas
                value: 4
"""
    files = {
        "clusters/c1/hr.yaml": hr,
        "charts/mini/Chart.yaml": "apiVersion: v2\nname: mini\nversion: 0.1.0\n",
        "charts/mini/crds/crd.yaml": """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
""",
        "clusters/c1/crd.yaml": """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  names: {kind: Gadget, plural: gadgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
""",
        "charts/mini/templates/caps.yaml": """\
{{- if .Capabilities.APIVersions.Has "example.com/v1/Gadget" }}
apiVersion: example.com/v1
kind: Gadget
metadata:
  name: g
{{- end }}
{{- if .Capabilities.APIVersions.Has "example.com/v1/Widget" }}
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
{{- end }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: kube
data:
  minor: "{{ .Capabilities.KubeVersion.Minor }}"
""",
        "charts/mini/templates/dep.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers: [{name: x, image: "nginx:1.25"}]
""",
    }
    tree = _tree(make_repo("post", files), tmp_path)
    rs = _render(tool, tree, "clusters/c1",
                 options=FluxOptions(clusters="clusters/*", context="x", helm_kube_version="1.29.0"))
    objs = _by_subject(rs)
    # .Capabilities: API versions the cluster's desired state defines (the Gadget CRD, not the skipped Widget)
    assert "Gadget/web/g" in objs and "Widget/web/w" not in objs
    assert objs["ConfigMap/web/kube"].body["data"] == {"minor": "29"}
    assert "CustomResourceDefinition/widgets.example.com" not in objs  # install.crds: Skip
    dep = objs["Deployment/web/web-mini"]  # release name <targetNamespace>-<name>, objects in targetNamespace
    assert dep.body["spec"]["replicas"] == 4
    assert dep.body["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert dep.labels["helm.toolkit.fluxcd.io/name"] == "mini"
    assert dep.provenance.files[0].path == "charts/mini/templates/dep.yaml"
    assert not [p for p in tree.root.rglob(f"{WORK_PREFIX}*")]


def test_sops_encrypted_secret_is_existence_only(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                                 tmp_path: Path) -> None:
    secret = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: default
stringData:
  password: ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]
sops:
  version: 3.8.1
  lastmodified: "2026-01-01T00:00:00Z"
"""
    extra = "  decryption:\n    provider: sops\n"
    files = {"clusters/c1/a.yaml": _ks("a", "./apps/a", extra=extra), "apps/a/secret.yaml": secret}
    objs = _by_subject(_render(tool, _tree(make_repo("sops", files), tmp_path), "clusters/c1"))
    db = objs["Secret/default/db"]
    assert "sops" not in db.body
    assert db.annotations[DRIFT_ANNOTATION] == "if-not-present"
    assert "SOPS" in db.annotations["gitops-audit.io/drift-reason"]


def test_remote_cluster_kustomization_is_not_this_clusters_state(make_repo: Callable[..., GitRepo],
                                                                  tool: KustomizeTool, tmp_path: Path) -> None:
    extra = "  kubeConfig:\n    secretRef:\n      name: spoke-kubeconfig\n"
    files = {"clusters/hub/spoke.yaml": _ks("spoke", "./apps/a", extra=extra), "apps/a/cm.yaml": _cm("a")}
    rs = _render(tool, _tree(make_repo("hub", files), tmp_path), "clusters/hub")
    assert "ConfigMap/default/a" not in _by_subject(rs)
    assert "Kustomization/flux-system/spoke" in _by_subject(rs)
    assert any(r.startswith("spoke: applies to another cluster (spec.kubeConfig)") for r in _reasons(rs))


def test_clusters_share_builds_of_identical_inputs(flux_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    from auditor.render.flux import build as flux

    tree = _tree(flux_repo, tmp_path)
    before = flux._BUILDS.hits
    prod = _render(tool, tree, "clusters/production")
    stg = _render(tool, tree, "clusters/staging")
    # infrastructure/controllers and infrastructure/configs are built once for both clusters
    assert flux._BUILDS.hits - before >= 2
    p, s = _by_subject(prod), _by_subject(stg)
    assert p["ResourceQuota/infra/infra-quota"].body == s["ResourceQuota/infra/infra-quota"].body
    # ... and the shared result is not changed by either cluster's Flux half
    assert p["Deployment/shop/prod-web"].body["spec"]["replicas"] == 3
    assert s["Deployment/shop/stg-web"].body["spec"]["replicas"] == 1
