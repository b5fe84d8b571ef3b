"""Render Flux ``HelmRelease`` objects whose chart is on disk, with the real ``helm template``.

What helm-controller would install is approximated as: ``helm template <release> <chart>
--namespace <ns> --include-crds`` with the merged values (``valuesFrom`` in order, then
``spec.values``), minus hook objects (``helm.sh/hook``: transient, Helm deletes or re-creates them),
plus what Helm and helm-controller stamp on every object at install: the label
``app.kubernetes.io/managed-by: Helm``, the annotations ``meta.helm.sh/release-name`` /
``meta.helm.sh/release-namespace`` and the labels ``helm.toolkit.fluxcd.io/name`` / ``namespace``.

helm runs with its config/cache/data homes in a private temporary directory: the user's repository
list and registry credentials are never read, and nothing is fetched for a local chart.
"""

from __future__ import annotations

import copy
import hashlib
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import RenderError, ToolError
from auditor.model import ToolInfo
from auditor.util import proc, yamlio

HELM_NAME_LABEL = "helm.toolkit.fluxcd.io/name"
HELM_NAMESPACE_LABEL = "helm.toolkit.fluxcd.io/namespace"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
HOOK_ANNOTATION = "helm.sh/hook"
_VERSION_RE = re.compile(r'Version:"(v?[^"]+)"')
_SOURCE_RE = re.compile(r"^# Source: (.+)$", re.M)
_MAX_RELEASE_NAME = 53


@dataclass(frozen=True)
class HelmTool:
    """A usable helm binary and its version."""

    path: str
    info: ToolInfo


def find_helm(explicit: str = "", timeout: float = 30.0) -> HelmTool | None:
    """``explicit`` (must be executable) or ``helm`` on PATH, with its version; None when there is none."""
    path = proc.which("helm", explicit)
    if path is None:
        return None
    return HelmTool(path=path, info=helm_version(path, timeout=timeout))


def helm_version(path: str, timeout: float = 30.0) -> ToolInfo:
    """``helm version`` → ToolInfo (``v3.17.2``)."""
    res = proc.run([path, "version", "--client"], action="helm version", timeout=timeout)
    text = res.stdout.decode("utf-8", "replace").strip()
    m = _VERSION_RE.search(text)
    return ToolInfo(name="helm", path=path, version=m.group(1) if m else text[:60])


def release_name(hr: Mapping[str, Any]) -> str:
    """The Helm release name helm-controller uses for a HelmRelease.

    ``spec.releaseName``, else ``<targetNamespace>-<name>`` (just ``<name>`` without targetNamespace);
    names over 53 characters are shortened to 40 characters plus ``-`` and 12 hex digits of their SHA-256.
    """
    spec = hr.get("spec") or {}
    meta = hr.get("metadata") or {}
    name = str(spec.get("releaseName") or "")
    if not name:
        base = str(meta.get("name") or "")
        target_ns = str(spec.get("targetNamespace") or "")
        name = f"{target_ns}-{base}" if target_ns else base
    if len(name) > _MAX_RELEASE_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = f"{name[:_MAX_RELEASE_NAME - 13]}-{digest}"
    return name


def release_namespace(hr: Mapping[str, Any]) -> str:
    """Namespace the release's objects go to: ``spec.targetNamespace``, else the HelmRelease's namespace."""
    spec = hr.get("spec") or {}
    meta = hr.get("metadata") or {}
    return str(spec.get("targetNamespace") or meta.get("namespace") or "default")


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing: maps merge recursively, other values replace, ``null`` deletes a key."""
    out: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_path(values: dict[str, Any], path: str, value: Any) -> None:
    """Set ``a.b.c`` (``targetPath`` of a valuesFrom entry) to ``value``, creating maps on the way."""
    parts = [p for p in re.split(r"(?<!\\)\.", path) if p]
    node = values
    for part in parts[:-1]:
        key = part.replace("\\.", ".")
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            nxt = {}
            node[key] = nxt
        node = nxt
    if parts:
        node[parts[-1].replace("\\.", ".")] = value


@dataclass(frozen=True)
class HelmObject:
    """One object of a rendered release and the chart template it came from."""

    body: dict[str, Any]
    template: str
    """``<chart>/templates/x.yaml`` as helm prints it in ``# Source:``; empty when unknown."""


def template(
    helm: HelmTool,
    chart: Path,
    *,
    release: str,
    namespace: str,
    action: str,
    value_files: tuple[Path, ...] = (),
    values: Mapping[str, Any] | None = None,
    set_values: tuple[tuple[str, str], ...] = (),
    set_strings: tuple[tuple[str, str], ...] = (),
    include_crds: bool = True,
    skip_tests: bool = False,
    api_versions: tuple[str, ...] = (),
    kube_version: str = "",
    timeout: float = 120.0,
) -> list[HelmObject]:
    """``helm template`` of a local chart: every object (hooks included) with the template it came from.

    helm runs with private config/cache/data homes (no repository list, no registry credentials) and
    without plugins. Raises :class:`RenderError` with helm's message when the chart does not render.
    """
    with tempfile.TemporaryDirectory(prefix="gitops-audit-helm-") as tmp:
        env = {"HELM_CACHE_HOME": f"{tmp}/cache", "HELM_CONFIG_HOME": f"{tmp}/config",
               "HELM_DATA_HOME": f"{tmp}/data", "HELM_NO_PLUGINS": "1"}
        argv = [helm.path, "template", release, str(chart), "--namespace", namespace]
        if kube_version:
            argv += ["--kube-version", kube_version]
        for key, value in set_values:
            argv += ["--set", f"{key}={value}"]
        for key, value in set_strings:
            argv += ["--set-string", f"{key}={value}"]
        for f in value_files:
            argv += ["--values", str(f)]
        if values:
            vfile = Path(tmp) / "values.yaml"
            vfile.write_text(yaml.safe_dump(dict(values), sort_keys=False), encoding="utf-8")
            argv += ["--values", str(vfile)]
        for api in api_versions:
            argv += ["--api-versions", api]
        if include_crds:
            argv.append("--include-crds")
        if skip_tests:
            argv.append("--skip-tests")
        try:
            # A local chart never needs the network (no --dependency-update): none is given.
            res = proc.run(argv, action=action, env=env, timeout=timeout, check=False, network=False,
                           cpu_bound=True)
        except ToolError as exc:
            raise RenderError(str(exc)) from None
        if res.returncode != 0:
            msg = proc.short_stderr(res.stderr).replace(str(chart), chart.name).replace(tmp, "<values>")
            raise RenderError(f"{action}: helm exited {res.returncode}: {msg}")
    text = res.stdout.decode("utf-8", "replace")
    out: list[HelmObject] = []
    for chunk in re.split(r"^---\s*$", text, flags=re.M):
        m = _SOURCE_RE.search(chunk)
        try:
            docs = yamlio.load_all(chunk, f"helm output of {release}")
        except yamlio.YamlError as exc:
            raise RenderError(f"{action}: {exc}") from None
        for doc in docs:
            for obj in yamlio.iter_items(doc):
                out.append(HelmObject(obj, m.group(1).strip() if m else ""))
    return out


def is_hook(obj: Mapping[str, Any]) -> bool:
    """True for a Helm hook (``helm.sh/hook``), which a release's manifest does not keep."""
    return HOOK_ANNOTATION in ((obj.get("metadata") or {}).get("annotations") or {})


def render_chart(
    helm: HelmTool,
    chart: Path,
    *,
    release: str,
    namespace: str,
    values: Mapping[str, Any],
    value_files: tuple[Path, ...] = (),
    hr_name: str,
    hr_namespace: str,
    timeout: float = 120.0,
    api_versions: tuple[str, ...] = (),
    kube_version: str = "",
) -> list[HelmObject]:
    """``helm template`` one release of a local chart; returns its objects stamped like an installed release.

    ``api_versions`` are added to ``.Capabilities.APIVersions`` (helm-controller sees the live cluster's;
    offline, the API versions the cluster's desired state defines are the best guess), ``kube_version``
    sets ``.Capabilities.KubeVersion``. Raises :class:`RenderError` with helm's message when the chart
    does not render.
    """
    objs = template(helm, chart, release=release, namespace=namespace, action=f"helm template {hr_namespace}/{hr_name}",
                    value_files=value_files, values=values, api_versions=api_versions, kube_version=kube_version,
                    timeout=timeout)
    # hooks are transient: not part of the release manifest helm-controller keeps
    return [HelmObject(_stamp(o.body, release, namespace, hr_name, hr_namespace), o.template)
            for o in objs if not is_hook(o.body)]


def _stamp(obj: dict[str, Any], release: str, namespace: str, hr_name: str, hr_namespace: str) -> dict[str, Any]:
    body = copy.deepcopy(obj)
    meta = body.setdefault("metadata", {})
    labels = dict(meta.get("labels") or {})
    labels.setdefault(MANAGED_BY_LABEL, "Helm")
    labels[HELM_NAME_LABEL] = hr_name
    labels[HELM_NAMESPACE_LABEL] = hr_namespace
    meta["labels"] = labels
    ann = dict(meta.get("annotations") or {})
    ann[RELEASE_NAME_ANNOTATION] = release
    ann[RELEASE_NAMESPACE_ANNOTATION] = namespace
    meta["annotations"] = ann
    return body
