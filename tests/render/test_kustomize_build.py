"""Rendering overlays with the real kustomize: objects, provenance, errors, refusals, cache keys."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from auditor.errors import RenderError
from auditor.model import Manifest, RenderedSet
from auditor.render.kustomize import build as render
from auditor.render.kustomize import tree as render_tree
from auditor.render.tools import KustomizeTool, find_kustomize
from auditor.repo import git
from auditor.repo.options import SourceOptions
from auditor.util import proc

if TYPE_CHECKING:
    from tests.gitfixtures import GitRepo

PROD = "overlays/production/us-east"


@pytest.fixture(scope="module")
def tool() -> KustomizeTool:
    return find_kustomize(SourceOptions())


def _render(repo: GitRepo, tool: KustomizeTool, tmp_path: Path, overlay: str = PROD, *,
            ref: str = "HEAD", options: SourceOptions | None = None, namespace: str = "default") -> RenderedSet:
    opts = options or SourceOptions()
    h = git.open_repo(str(repo.root), opts)
    commit = git.resolve_ref(h, ref)
    dest = tmp_path / f"tree-{commit[:8]}-{len(list(tmp_path.iterdir()))}"
    tree = render.prepare_tree(h, commit, dest, opts)
    return render.render_overlay(tool, tree, overlay, default_namespace=namespace, options=opts)


def _by_subject(rs: RenderedSet) -> dict[str, Manifest]:
    return {m.ref.subject: m for m in rs.objects}


def _files(m: Manifest) -> list[tuple[str, str]]:
    return [(f.role, f.path) for f in m.provenance.files]


def test_render_production_overlay(fleet_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    rs = _render(fleet_repo, tool, tmp_path)
    assert rs.path == PROD
    assert rs.commit == fleet_repo.git("rev-parse", "HEAD")
    objs = _by_subject(rs)
    dep = objs["Deployment/prod-us-east/prod-web"]
    assert dep.ref.group == "apps" and dep.api_version == "apps/v1"
    spec = dep.body["spec"]
    assert spec["replicas"] == 3
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27"
    assert container["resources"]["limits"]["memory"] == "512Mi"
    assert dep.labels["env"] == "production"
    svc = objs["Service/prod-us-east/prod-web"]
    assert svc.body["spec"]["ports"][0]["port"] == 8080
    assert svc.annotations == {"prometheus.io/scrape": "true"}
    role = objs["ClusterRole/prod-web-reader"]
    assert role.ref.namespace == "" and role.ref.group == "rbac.authorization.k8s.io"
    generated = [s for s in objs if s.startswith("ConfigMap/prod-us-east/prod-web-config-")]
    assert len(generated) == 1
    # no build annotation survives, and objects without annotations of their own have no map at all
    for m in rs.objects:
        for key in m.annotations:
            assert "config.kubernetes.io" not in key
    assert "annotations" not in dep.body["metadata"]


def test_provenance_of_patched_deployment_and_generated_configmap(fleet_repo: GitRepo, tool: KustomizeTool,
                                                                  tmp_path: Path) -> None:
    objs = _by_subject(_render(fleet_repo, tool, tmp_path))
    dep = objs["Deployment/prod-us-east/prod-web"]
    assert _files(dep) == [
        ("resource", "base/deployment.yaml"),
        ("kustomization", f"{PROD}/kustomization.yaml"),
        ("patch", f"{PROD}/deployment-patch.yaml"),
    ]
    assert dep.provenance.primary is not None and dep.provenance.primary.path == "base/deployment.yaml"
    assert dep.provenance.primary.line == 1
    cm = next(m for s, m in objs.items() if s.startswith("ConfigMap/prod-us-east/prod-web-config-"))
    assert _files(cm) == [
        ("generator", "base/kustomization.yaml"),
        ("generator", "base/app.properties"),
        ("kustomization", f"{PROD}/kustomization.yaml"),
    ]
    region = next(m for s, m in objs.items() if s.startswith("ConfigMap/prod-us-east/prod-region-"))
    assert _files(region) == [("generator", f"{PROD}/kustomization.yaml")]
    # The component's JSON patch replaces metadata.annotations wholesale, origin annotation included;
    # the resource file is recovered and both the component and the JSON6902 patch file are named.
    svc = objs["Service/prod-us-east/prod-web"]
    assert _files(svc) == [
        ("resource", "base/service.yaml"),
        ("kustomization", "components/monitoring/kustomization.yaml"),
        ("kustomization", f"{PROD}/kustomization.yaml"),
        ("patch", f"{PROD}/service-port.json.yaml"),
    ]


def test_default_namespace_for_namespaced_objects_only(fleet_repo: GitRepo, tool: KustomizeTool,
                                                       tmp_path: Path) -> None:
    objs = _by_subject(_render(fleet_repo, tool, tmp_path, "base", namespace="team-a"))
    assert "Deployment/team-a/web" in objs
    assert "ClusterRole/web-reader" in objs
    # the body is what kustomize rendered: no namespace was invented in it
    assert "namespace" not in objs["Deployment/team-a/web"].body["metadata"]


def test_renders_commit_not_working_tree(fleet_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    fleet_repo.write("base/deployment.yaml", fleet_repo.root.joinpath("base/deployment.yaml")
                     .read_text().replace("nginx:1.25", "nginx:9.9"))
    fleet_repo.write("overlays/staging/kustomization.yaml", "resources: [../../base]\nnamespace: dirty\n")
    rs = _render(fleet_repo, tool, tmp_path, "overlays/staging")
    dep = _by_subject(rs)["Deployment/staging/web"]
    assert dep.body["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    # opting in renders the working tree
    opts = SourceOptions(worktree=True)
    h = git.open_repo(str(fleet_repo.root), opts)
    tree = render.prepare_tree(h, git.resolve_ref(h, "HEAD"), tmp_path / "wt", opts)
    assert tree.worktree
    rs2 = render.render_overlay(tool, tree, "overlays/staging", default_namespace="default", options=opts)
    dep2 = _by_subject(rs2)["Deployment/dirty/web"]
    assert dep2.body["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:9.9"
    assert rs2.tree_hash == ""
    # the working tree itself never gets buildMetadata
    assert "buildMetadata" not in (fleet_repo.root / "base/kustomization.yaml").read_text()


def test_invalid_yaml_names_the_file_in_one_line(fleet_repo: GitRepo, tool: KustomizeTool,
                                                 tmp_path: Path) -> None:
    fleet_repo.commit("break", {
        f"{PROD}/deployment.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: [oops\n",
        f"{PROD}/kustomization.yaml": fleet_repo.root.joinpath(f"{PROD}/kustomization.yaml").read_text()
        .replace("resources:\n", "resources:\n  - deployment.yaml\n"),
    })
    with pytest.raises(RenderError) as err:
        _render(fleet_repo, tool, tmp_path)
    msg = str(err.value)
    assert msg == (f"render {PROD}: kustomize: invalid YAML in {PROD}/deployment.yaml: "
                   "line 4: did not find expected ',' or ']'")  # kustomize's own line
    assert "\n" not in msg and str(tmp_path) not in msg and "Traceback" not in msg


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param({"base/kustomization.yaml": "resources:\n  - deployment.yaml\n  - gone.yaml\n"},
                     "missing file or directory base/gone.yaml (referenced in base/kustomization.yaml:3)",
                     id="missing-resource"),
        pytest.param({"base/kustomization.yaml": "resources:\n  - deployment.yaml\nresourcez: [x]\n"},
                     'invalid kustomization base/kustomization.yaml:3: unknown field "resourcez"',
                     id="unknown-key"),
        pytest.param({"base/kustomization.yaml": "resources: [deployment.yaml\n"},
                     "invalid YAML in base/kustomization.yaml: line 1: did not find expected ',' or ']'",
                     id="invalid-kustomization-yaml"),
        pytest.param({"base/kustomization.yaml": "resources: [deployment.yaml]\npatches:\n  - path: p.yaml\n",
                      "base/p.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nope}\n"},
                     "patch base/p.yaml matches no object Deployment/nope", id="patch-target-missing"),
        pytest.param({"base/kustomization.yaml": "resources: [deployment.yaml]\npatches:\n  - path: gone.yaml\n"},
                     "missing patch file base/gone.yaml (referenced in base/kustomization.yaml:3)",
                     id="missing-patch-file"),
        pytest.param({"base/kustomization.yaml": "resources: [deployment.yaml]\npatches:\n  - path: p.yaml\n",
                      "base/p.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec: [\n"},
                     "invalid YAML in base/p.yaml:6: ", id="invalid-patch-yaml"),
        pytest.param({"base/kustomization.yaml": "resources: [deployment.yaml]\nhelmCharts:\n  - name: x\n"
                                                 "    repo: https://charts.example.com\n    version: 1.0.0\n"},
                     "helmCharts in base/kustomization.yaml:2 are not rendered: Helm is disabled", id="helm"),
        pytest.param({"base/kustomization.yaml": "resources: [deployment.yaml]\ntransformers:\n  - t.yaml\n",
                      "base/t.yaml": "apiVersion: example.com/v1\nkind: Evil\nmetadata:\n  name: t\n"
                                     "  annotations:\n    config.kubernetes.io/function: |\n      exec:\n"
                                     "        path: ./evil.sh\n"},
                     "transformers entry base/t.yaml (base/kustomization.yaml:3) is an external plugin (Evil); "
                     "plugins and exec functions are disabled", id="exec-plugin"),
        pytest.param({"overlays/staging/kustomization.yaml": "resources:\n  - ../../base/deployment.yaml\n"},
                     "base/deployment.yaml (referenced in overlays/staging/kustomization.yaml:2) is outside "
                     "overlays/staging: a kustomization may only read files in or below its own directory",
                     id="load-restrictor"),
        pytest.param({"base/kustomization.yaml": "resources: [deployment.yaml]\nimages:\n  - name: nginx\n"
                                                 "    newTag: [1]\n"},
                     "invalid kustomization base/kustomization.yaml:4: images.newTag must be a string",
                     id="wrong-type"),
        pytest.param({"base/kustomization.yaml": "resources: [deployment.yaml]\nreplacements:\n"
                                                 "  - source: {kind: ConfigMap, name: nope, fieldPath: data.x}\n"
                                                 "    targets: [{select: {kind: Deployment}, fieldPaths: [spec.x]}]\n"},
                     "replacements in base/kustomization.yaml:2: source ConfigMap/nope (data.x) matches no object",
                     id="replacement-source"),
        pytest.param({"base/kustomization.yaml": "resources: [deployment.yaml, notes.yaml]\n",
                      "base/notes.yaml": "just some text\n"},
                     "base/notes.yaml (referenced in base/kustomization.yaml:1) is not a Kubernetes object",
                     id="not-an-object"),
        pytest.param({"base/kustomization.yaml": "resources: [deployment.yaml, copy.yaml]\n",
                      "base/copy.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
                                        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"},
                     "Deployment/web is declared more than once: declared in base/copy.yaml:5, "
                     "base/deployment.yaml:1", id="duplicate-object"),
        pytest.param({"base/kustomization.yaml": "resources: [deployment.yaml]\ncomponents: [../comp]\n",
                      "comp/kustomization.yaml": "resources: []\n"},
                     "comp (referenced in base/kustomization.yaml:2) is a Kustomization, but is used where a "
                     "Component is expected", id="component-kind"),
        pytest.param({"overlays/staging/kustomization.yaml": "resources:\n  - ../../base\n  - ../../plain\n",
                      "plain/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\n"},
                     "directory plain (referenced in overlays/staging/kustomization.yaml:3) has no "
                     "kustomization.yaml", id="dir-without-kustomization"),
        pytest.param({"base/kustomization.yml": "resources: []\n"},
                     "Found multiple kustomization files under: base", id="two-kustomizations"),
        pytest.param({"base/kustomization.yaml": "resources: [deployment.yaml]\npatches:\n  - path: j.yaml\n"
                                                 "    target: {kind: Deployment}\n",
                      "base/j.yaml": "- op: replace\n  path: /spec/nothere/x\n  value: 1\n"},
                     "JSON patch base/j.yaml: replace operation does not apply: missing path /spec/nothere/x",
                     id="json-patch-path"),
    ],
)
def test_common_failures_are_explained(make_repo: Callable[..., GitRepo], tool: KustomizeTool, tmp_path: Path,
                                       files: dict[str, str], expected: str) -> None:
    from tests.gitfixtures import BASE

    repo = make_repo("broken", {**BASE, **files})
    with pytest.raises(RenderError) as err:
        _render(repo, tool, tmp_path, "overlays/staging")
    msg = str(err.value)
    assert msg.startswith("render overlays/staging: kustomize: ")
    assert expected in msg
    assert "\n" not in msg and str(tmp_path) not in msg


def test_remote_base_refused_unless_allowed(fleet_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    fleet_repo.commit("remote", {"overlays/staging/kustomization.yaml": (
        "resources:\n  - ../../base\n  - https://github.com/example/fleet//base?ref=v1\n")})
    with pytest.raises(RenderError) as err:
        _render(fleet_repo, tool, tmp_path, "overlays/staging")
    assert str(err.value) == (
        "render overlays/staging: remote resources entry https://github.com/example/fleet//base?ref=v1 in "
        "overlays/staging/kustomization.yaml:3 is not allowed (list its URL prefix in "
        "source.allow_remote_bases to allow it)")
    for entry in ("github.com/example/fleet/base?ref=v1", "git@github.com:example/fleet.git//base"):
        fleet_repo.commit("remote", {"base/kustomization.yaml": f"resources:\n  - deployment.yaml\n  - {entry}\n",
                                     "overlays/staging/kustomization.yaml": "resources: [../../base]\n"})
        with pytest.raises(RenderError, match=r"remote resources entry .* in base/kustomization.yaml:3"):
            _render(fleet_repo, tool, tmp_path, "overlays/staging")


def test_symlink_escaping_repo_refused(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                       tmp_path: Path) -> None:
    from tests.gitfixtures import BASE

    secret = tmp_path / "outside-secret.yaml"
    secret.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: stolen}\nstringData: {k: v}\n")
    files = {**BASE, "overlays/staging/kustomization.yaml": "resources:\n  - ../../base\n  - stolen.yaml\n"}
    repo = make_repo("links", files)
    os.symlink(str(secret), repo.root / "overlays/staging/stolen.yaml")
    repo.commit("link")
    with pytest.raises(RenderError) as err:
        _render(repo, tool, tmp_path, "overlays/staging")
    msg = str(err.value)
    assert "overlays/staging/stolen.yaml" in msg and "points outside the repository" in msg
    assert "overlays/staging/kustomization.yaml:3" in msg


def test_tree_hash_tracks_inputs_only(fleet_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    h1 = _render(fleet_repo, tool, tmp_path, "overlays/staging").tree_hash
    assert len(h1) == 64
    fleet_repo.commit("unrelated", {f"{PROD}/deployment-patch.yaml": "# changed\n" +
                                    fleet_repo.root.joinpath(f"{PROD}/deployment-patch.yaml").read_text()})
    assert _render(fleet_repo, tool, tmp_path, "overlays/staging").tree_hash == h1
    fleet_repo.commit("base change", {"base/app.properties": "color=red\n"})
    assert _render(fleet_repo, tool, tmp_path, "overlays/staging").tree_hash != h1
    assert _render(fleet_repo, tool, tmp_path, "overlays/staging", namespace="other").tree_hash != h1


def test_build_metadata_does_not_change_output(fleet_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    """kustomize with and without buildMetadata gives the same objects once the annotations are removed."""
    rs = _render(fleet_repo, tool, tmp_path)
    plain = proc.run([*tool.argv, PROD], action="plain build", cwd=fleet_repo.root)
    expected = [d for d in yaml.safe_load_all(plain.stdout) if d]
    assert [dict(m.body) for m in rs.objects] == expected


def test_build_metadata_injection_keeps_meaning(tmp_path: Path) -> None:
    cases = {
        "plain": ("resources:\n- a.yaml\n", ["originAnnotations", "transformerAnnotations"]),
        "no-newline": ("resources: [a.yaml]", ["originAnnotations", "transformerAnnotations"]),
        "existing": ("buildMetadata: [managedByLabel]\nresources: [a.yaml]\n",
                     ["managedByLabel", "originAnnotations", "transformerAnnotations"]),
        "existing-block": ("buildMetadata:\n  - originAnnotations\nnamespace: x\n",
                           ["originAnnotations", "transformerAnnotations"]),
        "flow": ("{resources: [a.yaml]}\n", ["originAnnotations", "transformerAnnotations"]),
    }
    for name, (text, expected) in cases.items():
        p = tmp_path / name / "kustomization.yaml"
        p.parent.mkdir()
        p.write_text(text)
        render_tree.inject_build_metadata(p)
        data = yaml.safe_load(p.read_text())
        original = yaml.safe_load(text)
        assert data["buildMetadata"] == expected, name
        assert {k: v for k, v in data.items() if k != "buildMetadata"} == {
            k: v for k, v in original.items() if k != "buildMetadata"}, name
    flux = tmp_path / "flux" / "kustomization.yaml"
    flux.parent.mkdir()
    flux.write_text("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n")
    render_tree.inject_build_metadata(flux)
    assert "buildMetadata" not in flux.read_text()


def test_overlay_path_validation(fleet_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="leaves the repository"):
        _render(fleet_repo, tool, tmp_path, "../x")
    with pytest.raises(RenderError, match="no such directory"):
        _render(fleet_repo, tool, tmp_path, "overlays/nope")
    with pytest.raises(RenderError, match=r"no kustomization\.yaml in overlays"):
        _render(fleet_repo, tool, tmp_path, "overlays")


MATRIX = {
    "base/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n"
                            "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
                            "    spec: {containers: [{name: web, image: nginx:1.25}]}\n",
    "base/service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n",
    "base/list.yaml": "apiVersion: v1\nkind: List\nitems:\n"
                      "- {apiVersion: v1, kind: ServiceAccount, metadata: {name: sa}}\n",
    "base/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 1}\n",
    "base/kustomization.yaml": """\
resources: [deployment.yaml, service.yaml, list.yaml, widget.yaml]
components: [../comp]
commonAnnotations: {team: a}
commonLabels: {tier: web}
configMapGenerator:
- name: cfg
  literals: [x=1]
- name: static
  literals: [y=2]
  options: {disableNameSuffixHash: true}
""",
    "comp/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
secretGenerator:
- name: compsec
  literals: [a=b]
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec: {template: {metadata: {annotations: {c: d}}}}
""",
    "ov/labels-transformer.yaml": "apiVersion: builtin\nkind: LabelTransformer\nmetadata: {name: x}\n"
                                  "labels: {custom: '1'}\nfieldSpecs: [{path: metadata/labels, create: true}]\n",
    "ov/gen.yaml": "apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: fromgen}\nliterals: [k=v]\n",
    "ov/smp.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: NodePort}\n",
    "ov/j.yaml": "- op: add\n  path: /spec/replicas\n  value: 4\n",
    "ov/merge.env": "z=3\n",
    "ov/kustomization.yaml": """\
resources: [../base]
nameSuffix: -x
namespace: ns1
patchesStrategicMerge: [smp.yaml]
patchesJson6902:
- target: {group: apps, version: v1, kind: Deployment, name: web}
  path: j.yaml
transformers: [labels-transformer.yaml]
generators: [gen.yaml]
configMapGenerator:
- name: cfg
  behavior: merge
  envs: [merge.env]
images:
- name: nginx
  digest: sha256:0123456789012345678901234567890123456789012345678901234567890123
replacements:
- source: {kind: ConfigMap, name: static, fieldPath: data.y}
  targets:
  - select: {kind: Widget}
    fieldPaths: [spec.size]
- path: replace-sa.yaml
""",
    "ov/replace-sa.yaml": """\
source: {kind: ConfigMap, name: static, fieldPath: data.y}
targets:
- select: {kind: ServiceAccount}
  fieldPaths: [metadata.annotations.y]
  options: {create: true}
""",
    "ov2/kustomization.yaml": """\
resources: [../ov]
namePrefix: p-
labels:
- pairs: {l: v}
  includeSelectors: true
""",
}


def test_feature_matrix_output_and_provenance(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                              tmp_path: Path) -> None:
    """Deprecated patch fields, transformer/generator config files, merge generators, replacements,
    components with generators, List expansion: output unchanged by buildMetadata, provenance right."""
    repo = make_repo("matrix", MATRIX)
    rs = _render(repo, tool, tmp_path, "ov2")
    plain = proc.run([*tool.argv, "ov2"], action="plain build", cwd=repo.root)
    assert [dict(m.body) for m in rs.objects] == [d for d in yaml.safe_load_all(plain.stdout) if d]
    objs = _by_subject(rs)
    common = [("kustomization", "base/kustomization.yaml"), ("kustomization", "ov/kustomization.yaml"),
              ("config", "ov/labels-transformer.yaml"), ("kustomization", "ov2/kustomization.yaml")]
    assert _files(objs["Service/ns1/p-web-x"]) == [
        ("resource", "base/service.yaml"), *common[:2], ("patch", "ov/smp.yaml"), *common[2:]]
    assert _files(objs["Deployment/ns1/p-web-x"]) == [
        ("resource", "base/deployment.yaml"), ("kustomization", "comp/kustomization.yaml"), *common[:2],
        ("patch", "ov/j.yaml"), *common[2:]]
    assert _files(objs["ServiceAccount/ns1/p-sa-x"]) == [
        ("resource", "base/list.yaml"), *common[:2], ("config", "ov/replace-sa.yaml"), *common[2:]]
    assert objs["ServiceAccount/ns1/p-sa-x"].annotations["y"] == "2"
    assert objs["ServiceAccount/ns1/p-sa-x"].provenance.files[0].line == 4  # the item inside the List
    # replacements select Widget: ov is named; the images transformer alone would not name it
    assert _files(objs["Widget/ns1/p-w-x"]) == [("resource", "base/widget.yaml"), *common]
    cfg = next(m for s, m in objs.items() if s.startswith("ConfigMap/ns1/p-cfg-x-"))
    assert cfg.body["data"] == {"x": "1", "z": "3"}
    assert _files(cfg) == [("generator", "base/kustomization.yaml"), ("generator", "ov/kustomization.yaml"),
                           ("generator", "ov/merge.env"), *common[2:]]
    fromgen = next(m for s, m in objs.items() if s.startswith("ConfigMap/ns1/p-fromgen-x-"))
    assert _files(fromgen)[0] == ("generator", "ov/gen.yaml")
    secret = next(m for s, m in objs.items() if s.startswith("Secret/ns1/p-compsec-x-"))
    assert _files(secret)[0] == ("generator", "comp/kustomization.yaml")


def test_allowed_remote_base_renders_with_remote_provenance(make_repo: Callable[..., GitRepo],
                                                            tool: KustomizeTool, tmp_path: Path) -> None:
    remote = make_repo("remote", {"base/service.yaml": MATRIX["base/service.yaml"],
                                  "base/kustomization.yaml": "resources: [service.yaml]\n"})
    url = f"file://{remote.root}//base?ref=main"
    repo = make_repo("local", {"app/kustomization.yaml": f"resources:\n  - {url}\n"})
    with pytest.raises(RenderError, match=r"remote resources entry .* app/kustomization.yaml:2 is not allowed"):
        _render(repo, tool, tmp_path, "app")
    opts = SourceOptions(allow_remote_bases=(f"file://{remote.root}",))
    rs = _render(repo, tool, tmp_path, "app", options=opts)
    (svc,) = rs.objects
    assert _files(svc) == [("resource", f"file://{remote.root}//base/service.yaml?ref=main")]
    assert rs.tree_hash == ""  # the remote ref can move: never cache


def test_worktree_mode_drops_escaping_symlinks(fleet_repo: GitRepo, tool: KustomizeTool, tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\n")
    os.mkfifo(fleet_repo.root / "overlays/staging/pipe")  # would block a naive copy
    (fleet_repo.root / "base/kustomization.yaml").chmod(0o444)  # read-only: buildMetadata still added
    os.symlink(str(outside), fleet_repo.root / "overlays/staging/leak.yaml")
    fleet_repo.write("overlays/staging/kustomization.yaml", "resources: [../../base, leak.yaml]\n")
    opts = SourceOptions(worktree=True)
    h = git.open_repo(str(fleet_repo.root), opts)
    tree = render.prepare_tree(h, "", tmp_path / "wt", opts)
    assert tree.commit == fleet_repo.git("rev-parse", "HEAD")
    assert dict(tree.skipped)["overlays/staging/leak.yaml"].endswith("points outside the repository")
    assert not os.path.lexists(tree.root / "overlays/staging/leak.yaml")
    assert not (tree.root / ".git").exists()
    assert not os.path.lexists(tree.root / "overlays/staging/pipe")
    assert "buildMetadata" in (tree.root / "base/kustomization.yaml").read_text()
    with pytest.raises(RenderError, match=r"overlays/staging/leak\.yaml \(referenced in "
                                          r"overlays/staging/kustomization\.yaml:1\) is refused"):
        render.render_overlay(tool, tree, "overlays/staging", default_namespace="x", options=opts)


def test_custom_kinds_scope_from_crds_in_the_overlay(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                                     tmp_path: Path) -> None:
    crd = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
           "metadata: {name: %s.example.com}\nspec:\n  group: example.com\n  scope: %s\n"
           "  names: {kind: %s, plural: %s}\n  versions: [{name: v1, served: true, storage: true}]\n")
    repo = make_repo("crds", {
        "app/crds.yaml": crd % ("globals", "Cluster", "Global", "globals") + "---\n"
                         + crd % ("locals", "Namespaced", "Local", "locals"),
        "app/objs.yaml": "apiVersion: example.com/v1\nkind: Global\nmetadata: {name: g}\n---\n"
                         "apiVersion: example.com/v1\nkind: Local\nmetadata: {name: l}\n",
        "app/kustomization.yaml": "resources: [crds.yaml, objs.yaml]\n",
    })
    objs = _by_subject(_render(repo, tool, tmp_path, "app", namespace="team"))
    assert "Global/g" in objs and "Local/team/l" in objs
    # line of each object inside the multi-document file
    assert [(f.path, f.line) for f in objs["Local/team/l"].provenance.files] == [("app/objs.yaml", 5)]
    assert [(f.path, f.line) for f in objs["Global/g"].provenance.files] == [("app/objs.yaml", 1)]
    assert "CustomResourceDefinition/globals.example.com" in objs


def test_submodule_and_lfs_content_explained(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                             tmp_path: Path) -> None:
    from tests.gitfixtures import BASE

    sub = make_repo("sub", {"base/kustomization.yaml": "resources: []\n"})
    repo = make_repo("super", {**BASE, "overlays/staging/kustomization.yaml": "resources: [../../vendor/base]\n"})
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub.root), "vendor")
    repo.commit("submodule")
    with pytest.raises(RenderError) as err:
        _render(repo, tool, tmp_path, "overlays/staging")
    assert str(err.value) == ("render overlays/staging: vendor/base (referenced in "
                              "overlays/staging/kustomization.yaml:1) is refused: "
                              "vendor: submodule (not part of this repository)")
    repo.commit("lfs", {"overlays/staging/kustomization.yaml": "resources: [../../base, big.yaml]\n",
                        "overlays/staging/big.yaml": "version https://git-lfs.github.com/spec/v1\n"
                                                     "oid sha256:" + "0" * 64 + "\nsize 12345\n"})
    with pytest.raises(RenderError, match=r"kustomize: overlays/staging/big\.yaml \(referenced in "
                                          r"overlays/staging/kustomization\.yaml:1\) is a Git LFS pointer"):
        _render(repo, tool, tmp_path, "overlays/staging")


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("https://github.com/org/fleet//base?ref=v1", True),
        ("https://github.com/org", True),
        ("https://github.com/org-evil/fleet//base", False),
        ("https://github.com/org/../evil//base", False),
        ("https://github.com@evil.example/org/x", False),
        ("git@github.com:org/fleet.git//base", True),
        ("git@github.com:orgx/fleet.git", False),
        ("https://gitlab.com/org/fleet", False),
    ],
)
def test_remote_allow_list_matches_at_boundaries(value: str, allowed: bool) -> None:
    prefixes = ("https://github.com/org", "git@github.com:org/", "https://github.com")
    assert render.remote_allowed(value, prefixes[:2]) is allowed
    # a bare host prefix still cannot be dodged with userinfo
    assert render.remote_allowed("https://github.com@evil.example/x", prefixes) is False


def test_prepare_tree_resolves_symbolic_refs(fleet_repo: GitRepo, tmp_path: Path) -> None:
    opts = SourceOptions()
    h = git.open_repo(str(fleet_repo.root), opts)
    tree = render.prepare_tree(h, "main", tmp_path / "t", opts)
    assert tree.commit == fleet_repo.git("rev-parse", "HEAD")
    assert tree.dir_ids[""] == fleet_repo.git("rev-parse", "HEAD^{tree}")
    assert tree.dir_ids["base"] == fleet_repo.git("rev-parse", "HEAD:base")


def test_overlay_named_like_a_flag_is_a_path(make_repo: Callable[..., GitRepo], tool: KustomizeTool,
                                             tmp_path: Path) -> None:
    repo = make_repo("flags", {
        "--enable-helm/kustomization.yaml": "resources: [cm.yaml]\n",
        "--enable-helm/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flag}\n",
    })
    rs = _render(repo, tool, tmp_path, "--enable-helm")
    assert [m.ref.subject for m in rs.objects] == ["ConfigMap/default/flag"]
    assert _files(rs.objects[0]) == [("resource", "--enable-helm/cm.yaml")]
