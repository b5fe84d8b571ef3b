"""A rendered Flux cluster against a live snapshot, composed the way the pipeline is asked to compose it.

Uses the real drift engine and snapshot reader: Flux ownership labels tell stale orphans from unmanaged
ones; :func:`split_markers` output becomes ignore rules (suspended / ``ssa: IfNotPresent``) and orphan
exclusions (objects of HelmReleases whose chart was not rendered).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from fluxrepo import fleet_files

from auditor.cluster.options import LiveScope
from auditor.cluster.snapshot import read_snapshot
from auditor.diff.engine import diff_target
from auditor.diff.options import DriftOptions, IgnoreRule
from auditor.model import Finding, Target
from auditor.render.flux.build import DriftMarker, render_flux_target, split_markers
from auditor.render.flux.options import FluxOptions
from auditor.render.kustomize.build import prepare_tree
from auditor.render.tools import find_kustomize
from auditor.repo.git import open_repo, resolve_ref
from auditor.repo.options import SourceOptions

if TYPE_CHECKING:
    from tests.gitfixtures import GitRepo


def marker_rules(markers: Sequence[DriftMarker]) -> tuple[IgnoreRule, ...]:
    """What the pipeline does with the markers (proposed wiring, see the session report)."""
    out = []
    for mk in markers:
        sel: dict[str, Any] = {"group": mk.ref.group, "kind": mk.ref.kind, "namespace": mk.ref.namespace,
                               "name": mk.ref.name, "id": f"flux: {mk.reason}"}
        if mk.mode == "ignore":
            out.append(IgnoreRule(**sel))
        elif mk.mode == "if-not-present":
            out.append(IgnoreRule(**sel, json_pointers=tuple(f"/{f}" for f in mk.fields)))
    return tuple(out)


def _live(body: Any, **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(dict(body))
    for path, value in changes.items():
        node = out
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[keys[-1]] = value
    return out


def _by(findings: Sequence[Finding]) -> dict[tuple[str, str], Finding]:
    return {(f.ref.subject if f.ref else "", f.rule_id): f for f in findings}


def test_flux_cluster_against_snapshot(make_repo: Callable[..., GitRepo], tmp_path: Path) -> None:
    repo = make_repo("fleet", fleet_files())
    so = SourceOptions(cache_dir=str(tmp_path / "cache"))
    handle = open_repo(str(repo.root), so)
    tree = prepare_tree(handle, resolve_ref(handle, "HEAD"), tmp_path / "tree", so)
    rs = render_flux_target(find_kustomize(so), tree, "clusters/production", default_namespace="default",
                            options=FluxOptions(clusters="clusters/*", context="x", helm_path=str(tmp_path / "no")),
                            source_options=so, repo_url="")
    marks = split_markers(rs.objects)
    desired, markers, releases = marks.desired, marks.markers, marks.releases
    assert all(not k.startswith("gitops-audit.io/") for m in desired for k in m.annotations)
    assert {(mk.ref.subject, mk.mode) for mk in markers} == {("ConfigMap/shop/legacy", "ignore"),
                                                            ("Deployment/shop/worker", "if-not-present")}
    assert {(r.namespace, r.name) for r in releases} == {("infra", "ingress-nginx"), ("infra", "podinfo")}
    scoped = [m for m in desired if m.ref.namespace in ("shop", "infra")]
    by = {m.ref.subject: m.body for m in scoped}
    live = [b for s, b in by.items() if s not in ("ConfigMap/shop/legacy", "Deployment/shop/worker",
                                                  "Deployment/shop/prod-web")]
    live += [
        _live(by["ConfigMap/shop/legacy"], data__a="changed-by-hand"),  # suspended: not counted
        _live(by["Deployment/shop/worker"], spec__template__spec__containers__0__image="x:9"),  # IfNotPresent
        _live(by["Deployment/shop/prod-web"], spec__replicas=7),  # counted
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"},
         "metadata": {"name": "removed-from-git", "namespace": "shop",
                      "labels": {"kustomize.toolkit.fluxcd.io/name": "apps",
                                 "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"},
         "metadata": {"name": "hand-made", "namespace": "shop"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"},
         "metadata": {"name": "ingress-nginx-controller", "namespace": "infra",
                      "annotations": {"meta.helm.sh/release-name": "ingress-nginx",
                                      "meta.helm.sh/release-namespace": "infra"}}},
    ]
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "objects.yaml").write_text(yaml.safe_dump_all(live))
    scope = LiveScope(kinds=tuple(sorted({(m.ref.group, m.api_version.rpartition("/")[2], m.ref.kind)
                                          for m in scoped})), namespaces=("infra", "shop"))
    state = read_snapshot(snap, scope)
    excluded = tuple(m.ref.subject for m in state.objects if any(r.owns(m) for r in releases))
    assert excluded == ("ConfigMap/infra/ingress-nginx-controller",)
    opts = replace(DriftOptions(), ignore=marker_rules(markers), extra_system_objects=excluded)
    outcome = diff_target(Target(name="production", snapshot=str(snap)), scoped, state, opts)
    found = _by(outcome.findings)
    assert found[("ConfigMap/shop/removed-from-git", "drift.orphaned.stale")].counts
    assert found[("ConfigMap/shop/hand-made", "drift.orphaned.unmanaged")].counts
    assert not any(s == "ConfigMap/infra/ingress-nginx-controller" for s, _ in found)
    assert found[("Deployment/shop/prod-web", "drift.modified")].counts
    legacy = found[("ConfigMap/shop/legacy", "drift.modified")]
    assert legacy.suppressed_by == "flux: Kustomization flux-system/legacy is suspended"
    worker = found[("Deployment/shop/worker", "drift.modified")]
    assert worker.suppressed_by == "flux: kustomize.toolkit.fluxcd.io/ssa: IfNotPresent"
    counted = sorted(s for (s, _), f in found.items() if f.counts)
    assert counted == ["ConfigMap/shop/hand-made", "ConfigMap/shop/removed-from-git", "Deployment/shop/prod-web"]
