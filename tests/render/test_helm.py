"""HelmRelease helpers and ``helm template`` of local charts (the real helm binary)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auditor.errors import RenderError
from auditor.render.helm import (
    find_helm,
    merge_values,
    release_name,
    release_namespace,
    render_chart,
    set_path,
)

needs_helm = pytest.mark.skipif(shutil.which("helm") is None,
                                reason="helm not installed (gitops-audit tools install helm)")


def test_release_name_and_namespace() -> None:
    hr = {"metadata": {"name": "web", "namespace": "apps"}, "spec": {}}
    assert (release_name(hr), release_namespace(hr)) == ("web", "apps")
    hr["spec"] = {"targetNamespace": "shop"}
    assert (release_name(hr), release_namespace(hr)) == ("shop-web", "shop")
    hr["spec"] = {"releaseName": "custom", "targetNamespace": "shop"}
    assert release_name(hr) == "custom"
    long = {"metadata": {"name": "n" * 60, "namespace": "x"}, "spec": {}}
    name = release_name(long)
    assert len(name) == 53 and name.startswith("n" * 40 + "-")
    assert release_name(long) == name  # stable


def test_merge_values_like_helm() -> None:
    base = {"a": {"b": 1, "c": 2}, "list": [1, 2], "gone": 1}
    out = merge_values(base, {"a": {"c": 3, "d": 4}, "list": [9], "gone": None})
    assert out == {"a": {"b": 1, "c": 3, "d": 4}, "list": [9]}
    assert base["a"] == {"b": 1, "c": 2}  # inputs untouched


def test_set_path() -> None:
    values: dict[str, object] = {"a": {"keep": 1}}
    set_path(values, "a.b.c", "v")
    set_path(values, r"ann.example\.com/x", "y")
    assert values == {"a": {"keep": 1, "b": {"c": "v"}}, "ann": {"example.com/x": "y"}}


def _chart(root: Path, template: str) -> Path:
    chart = root / "mychart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: mychart\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text("name: default\nport: 80\n")
    (chart / "templates" / "t.yaml").write_text(template)
    return chart


@needs_helm
def test_render_chart_stamps_release_metadata(tmp_path: Path) -> None:
    helm = find_helm()
    assert helm is not None and helm.info.version.startswith("v3")
    chart = _chart(tmp_path, """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Values.name }}
spec:
  ports: [{port: {{ .Values.port }}}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    helm.sh/hook: pre-install
spec: {template: {spec: {containers: [{name: m, image: busybox}], restartPolicy: Never}}}
""")
    vfile = tmp_path / "extra.yaml"
    vfile.write_text("port: 8080\n")
    objs = render_chart(helm, chart, release="rel", namespace="ns", values={"name": "svc"}, value_files=(vfile,),
                        hr_name="hr", hr_namespace="flux")
    assert [o.body["kind"] for o in objs] == ["Service"]  # the hook is dropped
    svc = objs[0]
    assert svc.template == "mychart/templates/t.yaml"
    assert svc.body["metadata"]["name"] == "svc"
    assert svc.body["spec"]["ports"] == [{"port": 8080}]
    assert svc.body["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "Helm",
                                              "helm.toolkit.fluxcd.io/name": "hr",
                                              "helm.toolkit.fluxcd.io/namespace": "flux"}
    assert svc.body["metadata"]["annotations"] == {"meta.helm.sh/release-name": "rel",
                                                   "meta.helm.sh/release-namespace": "ns"}


@needs_helm
def test_render_chart_failure_is_one_line(tmp_path: Path) -> None:
    helm = find_helm()
    assert helm is not None
    chart = _chart(tmp_path, "kind: {{ .Values.missing.deeper }}\n")
    with pytest.raises(RenderError, match=r"helm template flux/hr: helm exited 1: .*nil pointer") as exc:
        render_chart(helm, chart, release="rel", namespace="ns", values={}, hr_name="hr", hr_namespace="flux")
    assert "\n" not in str(exc.value) and str(tmp_path) not in str(exc.value)


def test_find_helm_missing(tmp_path: Path) -> None:
    assert find_helm(str(tmp_path / "nope")) is None
