"""Regenerate the demo's offline cluster snapshots: ``python -m auditor.demo.regenerate [--check] [--out DIR]``.

For every target the script replays the scripted git history (``history.yaml``), renders the
target's overlay with ``kubectl kustomize`` after each commit, and plays kustomize-controller
applying each change with server-side apply a few minutes later. That yields, per object, when it
was created, when it last changed, how many pod-template revisions a Deployment went through, and
which objects were removed from git (pruned, or left behind as stale where pruning is off). The
API server simulation (``apiserver.py``) then adds defaults, server metadata, controller status
and managedFields, and finally the out-of-band changes of ``drift.yaml`` are applied the way the
named kubectl command would have. Everything is derived from fixed inputs, so the output is
byte-for-byte reproducible; ``--check`` compares it with the committed snapshots.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import filecmp
import json
import math
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor.demo import apiserver as api
from auditor.demo.fleet import BRANCH, create_demo
from auditor.demo.history import DRIFT_FILE, SNAPSHOTS_DIR, Commit, apply_commit, load_history
from auditor.errors import AuditorError, UsageError
from auditor.model import split_api_version
from auditor.util import yamlio
from auditor.util.fs import atomic_write
from auditor.util.proc import run

Obj = dict[str, Any]
Key = tuple[str, str, str, str]
"""(group, kind, namespace, name)."""

KUBE_ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)


@dataclass(frozen=True)
class TargetSpec:
    """One demo target: where its overlay is and how its cluster behaves."""

    name: str
    env: str
    region: str
    namespace: str
    prune: bool
    drift: tuple[Mapping[str, Any], ...]
    suspended_at: _dt.datetime | None = None
    """When Flux reconciliation of this cluster was suspended (later commits are not applied)."""

    @property
    def overlay(self) -> str:
        """Repository path of the target's overlay."""
        return f"overlays/{self.env}/{self.region}"


@dataclass
class Timeline:
    """What kustomize-controller applied for one object identity over the history."""

    versions: list[tuple[_dt.datetime, Obj]] = field(default_factory=list)
    """(apply time, applied object) each time the rendered object changed."""
    removed_at: _dt.datetime | None = None

    @property
    def created(self) -> _dt.datetime:
        """When the object was first applied."""
        return self.versions[0][0]

    @property
    def last_applied(self) -> _dt.datetime:
        """When the applied configuration last changed."""
        return self.versions[-1][0]

    @property
    def current(self) -> Obj:
        """The last applied configuration."""
        return self.versions[-1][1]


# ------------------------------------------------------------------------------------ inputs


def load_targets(path: Path = DRIFT_FILE) -> tuple[str, tuple[TargetSpec, ...]]:
    """Read ``drift.yaml``: the snapshot time and the targets with their injected drift."""
    doc = yamlio.load_one(path.read_text(encoding="utf-8"), str(path))
    targets = []
    for name, raw in doc["targets"].items():
        env, _, region = str(name).partition("-")
        targets.append(
            TargetSpec(
                name=str(name),
                env=env,
                region=region,
                namespace=str(raw["namespace"]),
                prune=bool(raw["prune"]),
                drift=tuple(raw.get("drift") or ()),
                suspended_at=api.parse_time(str(raw["suspended_at"])) if raw.get("suspended_at") else None,
            )
        )
    return str(doc["snapshot_time"]), tuple(targets)


def _key(obj: Mapping[str, Any]) -> Key:
    group, _ = split_api_version(str(obj.get("apiVersion", "")))
    meta = obj.get("metadata") or {}
    return (group, str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))


def _apply_delay(target: str, commit: Commit) -> _dt.timedelta:
    # Flux polls the repository and reconciles on an interval: a few minutes after each push.
    return _dt.timedelta(seconds=60 + api.stable_int(target, commit.id, modulo=420))


def render(overlay_dir: Path) -> list[Obj]:
    """Render one overlay with ``kubectl kustomize`` (default load restrictor, no plugins)."""
    result = run(["kubectl", "kustomize", str(overlay_dir)], action=f"render {overlay_dir.name}", timeout=60)
    docs = yamlio.load_all(result.stdout, str(overlay_dir))
    return [d for d in docs if isinstance(d, dict)]


def replay(targets: Sequence[TargetSpec], commits: Sequence[Commit], work: Path) -> dict[str, dict[Key, Timeline]]:
    """Replay the history once, rendering every target after each commit that can affect it."""
    timelines: dict[str, dict[Key, Timeline]] = {t.name: {} for t in targets}
    tree = work / "tree"
    tree.mkdir(parents=True)
    unmerged: list[str] = []
    for commit in commits:
        apply_commit(tree, commit)
        if commit.branch:
            # Flux follows main: a branch's changes reach the clusters when it is merged.
            unmerged += commit.touched
            continue
        touched = (*commit.touched, *unmerged) if commit.merge else commit.touched
        unmerged = []
        due = [
            t for t in targets
            if any(p.startswith(("base/", f"overlays/{t.env}/")) for p in touched)
            and (tree / t.overlay / "kustomization.yaml").is_file()
            and (t.suspended_at is None or commit.when + _apply_delay(t.name, commit) <= t.suspended_at)
        ]  # fmt: skip
        # Renders of one commit are independent: run them side by side (kubectl start-up dominates).
        with ThreadPoolExecutor(max_workers=len(due) or 1) as pool:
            renders = list(pool.map(lambda t: render(tree / t.overlay), due))
        for t, objs in zip(due, renders, strict=True):
            when = commit.when + _apply_delay(t.name, commit)
            rendered = {_key(o): o for o in objs}
            lines = timelines[t.name]
            for key, obj in rendered.items():
                line = lines.setdefault(key, Timeline())
                if not line.versions or line.current != obj:
                    line.versions.append((when, obj))
                line.removed_at = None
            for key, line in lines.items():
                if key not in rendered and line.removed_at is None:
                    line.removed_at = when
    return timelines


# --------------------------------------------------------------------------------- live objects


class Cluster:
    """The live objects of one target's cluster, built up as the API server would store them."""

    def __init__(self, target: TargetSpec, lines: Mapping[Key, Timeline]) -> None:
        self.target = target
        self.objects: dict[Key, Obj] = {}
        self._lines = lines

    # -- helpers -------------------------------------------------------------------------------

    def uid(self, key: Key, created: str) -> str:
        """Deterministic UID of an object in this cluster."""
        return api.object_uid("gitops-audit-demo", self.target.name, *key, created)

    def cluster_ip(self, name: str) -> str:
        """Allocate a stable ClusterIP from the service CIDR 10.96.0.0/12."""
        n = api.stable_int(self.target.name, name, modulo=60000) + 100
        return f"10.{96 + (n >> 16) % 16}.{(n >> 8) & 255}.{n & 255}"

    def add(self, obj: Obj) -> Obj:
        """Store an object by identity."""
        self.objects[_key(obj)] = obj
        return obj

    def get(self, group: str, kind: str, name: str) -> Obj:
        """An object in the target namespace; a clear error if the drift spec names a wrong one."""
        key = (group, kind, self.target.namespace, name)
        if key not in self.objects:
            raise UsageError(f"regenerate demo snapshot {self.target.name}: no live {kind}/{name} to drift")
        return self.objects[key]

    # -- objects applied by Flux ---------------------------------------------------------------

    def apply(self, key: Key, line: Timeline) -> None:
        """Add the object kustomize-controller applied, with defaults, status and managedFields."""
        applied = api.deep(line.current)
        api.merge_labels(applied, api.FLUX_LABELS)
        live = api.deep(applied)
        created = api.k8s_time(line.created + _dt.timedelta(seconds=1))
        applied_at = api.k8s_time(line.last_applied + _dt.timedelta(seconds=1))
        api.default_object(live, cluster_ip=self.cluster_ip(key[3]))
        meta = live["metadata"]
        meta["uid"] = self.uid(key, created)
        meta["creationTimestamp"] = created
        managed = [
            api.managed_entry(
                api.FLUX_MANAGER, "Apply", applied_at, api.applied_fields(applied),
                api_version=applied["apiVersion"],
            )
        ]  # fmt: skip
        meta["managedFields"] = managed
        if live["kind"] == "Deployment":
            self._deployment_state(live, line)
        elif live["kind"] == "HorizontalPodAutoscaler":
            self._hpa_status(live, line)
        self.add(live)

    def _deployment_state(self, live: Obj, line: Timeline) -> None:
        """Revision, generation, status and ReplicaSets of a Deployment, from its apply history."""
        templates: list[tuple[_dt.datetime, Obj]] = []
        generation = 0
        last_spec: Obj | None = None
        for when, version in line.versions:
            spec = version.get("spec") or {}
            if spec != last_spec:
                generation += 1
                last_spec = spec
            tpl = spec.get("template") or {}
            if not templates or templates[-1][1] != tpl:
                templates.append((when, tpl))
        hpa_replicas = self._hpa_min_replicas(live["metadata"]["name"])
        hpa_owned = hpa_replicas is not None and "replicas" not in (last_spec or {})
        if hpa_owned and hpa_replicas != live["spec"]["replicas"]:
            # The HPA scaled the Deployment from the default of 1 through the scale subresource.
            live["spec"]["replicas"] = hpa_replicas
            generation += 1
            live["metadata"]["managedFields"].append(
                api.managed_entry(
                    api.CONTROLLER_MANAGER, "Update",
                    api.k8s_time(line.created + _dt.timedelta(seconds=47)),
                    {"f:spec": {"f:replicas": {}}},
                    api_version="apps/v1", subresource="scale",
                )
            )  # fmt: skip
        live["metadata"]["generation"] = generation
        live["_revisions"] = [(api.k8s_time(w + _dt.timedelta(seconds=2)), api.deep(t)) for w, t in templates]
        self.refresh_deployment(live)

    def refresh_deployment(self, live: Obj) -> None:
        """Recompute a Deployment's revision annotation, status and ReplicaSets from its state."""
        revisions: list[tuple[str, Obj]] = live["_revisions"]
        meta = live["metadata"]
        ns, name = meta["namespace"], meta["name"]
        replicas = int(live["spec"]["replicas"])
        meta.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(len(revisions))
        rollout_time = revisions[-1][0]
        managed = [
            m for m in meta["managedFields"]
            if not (m["manager"] == api.CONTROLLER_MANAGER and m.get("subresource", "") in ("", "status"))
        ]  # fmt: skip
        managed.append(
            api.managed_entry(
                api.CONTROLLER_MANAGER, "Update", rollout_time,
                {"f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}}},
                api_version="apps/v1",
            )
        )  # fmt: skip
        # Drop ReplicaSets of an earlier refresh; they are rebuilt below.
        for key in [k for k, o in self.objects.items() if o.get("_owner") == (ns, name)]:
            del self.objects[key]
        current_rs = ""
        for number, (when, template) in enumerate(revisions, start=1):
            rs = self._replica_set(live, number, when, template, replicas if number == len(revisions) else 0)
            current_rs = rs["metadata"]["name"]
        created = api.parse_time(meta["creationTimestamp"])
        ready_time = api.k8s_time(api.parse_time(rollout_time) + _dt.timedelta(seconds=41))
        live["status"] = {
            "availableReplicas": replicas,
            "conditions": [
                {
                    "lastTransitionTime": api.k8s_time(created + _dt.timedelta(seconds=38)),
                    "lastUpdateTime": api.k8s_time(created + _dt.timedelta(seconds=38)),
                    "message": "Deployment has minimum availability.",
                    "reason": "MinimumReplicasAvailable",
                    "status": "True",
                    "type": "Available",
                },
                {
                    "lastTransitionTime": api.k8s_time(created + _dt.timedelta(seconds=1)),
                    "lastUpdateTime": ready_time,
                    "message": f'ReplicaSet "{current_rs}" has successfully progressed.',
                    "reason": "NewReplicaSetAvailable",
                    "status": "True",
                    "type": "Progressing",
                },
            ],
            "observedGeneration": meta["generation"],
            "readyReplicas": replicas,
            "replicas": replicas,
            "updatedReplicas": replicas,
        }
        managed.append(
            api.managed_entry(
                api.CONTROLLER_MANAGER, "Update", ready_time,
                api.fields_v1({"status": live["status"]}, dots=True),
                api_version="apps/v1", subresource="status",
            )
        )  # fmt: skip
        meta["managedFields"] = _order_managed(managed)

    def _replica_set(self, deploy: Obj, number: int, when: str, template: Obj, replicas: int) -> Obj:
        meta = deploy["metadata"]
        current = number == len(deploy["_revisions"])
        tpl = api.deep(template)
        tpl.setdefault("metadata", {})
        tpl_hash = api.safe_hash(tpl)
        tpl["metadata"].setdefault("labels", {})["pod-template-hash"] = tpl_hash
        api.default_deployment({"spec": {"template": tpl}})
        spec_replicas = int(deploy["spec"]["replicas"])
        max_surge = math.ceil(spec_replicas * 0.25)
        name = f"{meta['name']}-{tpl_hash}"
        selector = api.deep(deploy["spec"]["selector"])
        selector.setdefault("matchLabels", {})["pod-template-hash"] = tpl_hash
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": str(spec_replicas),
                    "deployment.kubernetes.io/max-replicas": str(spec_replicas + max_surge),
                    "deployment.kubernetes.io/revision": str(number),
                },
                "creationTimestamp": when,
                # Old ReplicaSets were scaled down once after their rollout.
                "generation": 1 if current else 2,
                "labels": dict(tpl["metadata"]["labels"]),
                "name": name,
                "namespace": meta["namespace"],
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "blockOwnerDeletion": True,
                        "controller": True,
                        "kind": "Deployment",
                        "name": meta["name"],
                        "uid": meta["uid"],
                    }
                ],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": tpl},
        }
        rs["metadata"]["uid"] = self.uid(_key(rs), when)
        status: Obj = {"observedGeneration": rs["metadata"]["generation"], "replicas": replicas}
        if replicas:
            status.update(availableReplicas=replicas, fullyLabeledReplicas=replicas, readyReplicas=replicas)
        rs["status"] = status
        owned = {k: v for k, v in rs.items() if k in ("metadata", "spec")}
        owned["metadata"] = {
            k: v for k, v in rs["metadata"].items() if k in ("annotations", "labels", "ownerReferences")
        }
        ready = api.k8s_time(api.parse_time(when) + _dt.timedelta(seconds=39))
        rs["metadata"]["managedFields"] = [
            api.managed_entry(api.CONTROLLER_MANAGER, "Update", when, api.fields_v1(owned, dots=True),
                              api_version="apps/v1"),
            api.managed_entry(api.CONTROLLER_MANAGER, "Update", ready, api.fields_v1({"status": status}, dots=True),
                              api_version="apps/v1", subresource="status"),
        ]  # fmt: skip
        rs["_owner"] = (meta["namespace"], meta["name"])
        return self.add(rs)

    def _hpa_min_replicas(self, deployment: str) -> int | None:
        for (group, kind, _ns, _name), line in self._lines.items():
            if group == "autoscaling" and kind == "HorizontalPodAutoscaler" and line.removed_at is None:
                ref = line.current["spec"]["scaleTargetRef"]
                if ref.get("kind") == "Deployment" and ref.get("name") == deployment:
                    return int(line.current["spec"].get("minReplicas", 1))
        return None

    def _hpa_status(self, live: Obj, line: Timeline) -> None:
        replicas = int(live["spec"].get("minReplicas", 1))
        since = api.k8s_time(line.created + _dt.timedelta(seconds=30))
        usage = 18 + api.stable_int(self.target.name, live["metadata"]["name"], modulo=20)
        live["status"] = {
            "conditions": [
                {
                    "lastTransitionTime": since,
                    "message": "recommended size matches current size",
                    "reason": "ReadyForNewScale",
                    "status": "True",
                    "type": "AbleToScale",
                },
                {
                    "lastTransitionTime": since,
                    "message": "the HPA was able to successfully calculate a replica count from cpu "
                    "resource utilization (percentage of request)",
                    "reason": "ValidMetricFound",
                    "status": "True",
                    "type": "ScalingActive",
                },
                {
                    "lastTransitionTime": since,
                    "message": "the desired replica count is less than the minimum replica count",
                    "reason": "TooFewReplicas",
                    "status": "True",
                    "type": "ScalingLimited",
                },
            ],
            "currentMetrics": [
                {
                    "resource": {"current": {"averageUtilization": usage, "averageValue": f"{usage}m"}, "name": "cpu"},
                    "type": "Resource",
                }
            ],
            "currentReplicas": replicas,
            "desiredReplicas": replicas,
        }
        live["metadata"]["managedFields"].append(
            api.managed_entry(
                api.CONTROLLER_MANAGER, "Update", since, api.fields_v1({"status": live["status"]}, dots=True),
                api_version="autoscaling/v2", subresource="status",
            )
        )  # fmt: skip

    # -- noise every namespace has -------------------------------------------------------------

    def namespace_defaults(self, ns_created: str) -> None:
        """The objects Kubernetes creates in every namespace: kube-root-ca.crt and ``default``."""
        ns = self.target.namespace
        when = api.k8s_time(api.parse_time(ns_created) + _dt.timedelta(seconds=1))
        ca = _fake_ca(self.target.name)
        cm: Obj = {
            "apiVersion": "v1",
            "data": {"ca.crt": ca},
            "kind": "ConfigMap",
            "metadata": {
                "annotations": {"kubernetes.io/description": KUBE_ROOT_CA_DESCRIPTION},
                "creationTimestamp": when,
                "name": "kube-root-ca.crt",
                "namespace": ns,
            },
        }
        cm["metadata"]["uid"] = self.uid(_key(cm), when)
        cm["metadata"]["managedFields"] = [
            api.managed_entry(
                api.CONTROLLER_MANAGER, "Update", when,
                {"f:data": {".": {}, "f:ca.crt": {}},
                 "f:metadata": {"f:annotations": {".": {}, "f:kubernetes.io/description": {}}}},
                api_version="v1",
            )
        ]  # fmt: skip
        self.add(cm)
        # The token controller creates "default" with nothing but its name: no managedFields.
        sa: Obj = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"creationTimestamp": when, "name": "default", "namespace": ns},
        }
        sa["metadata"]["uid"] = self.uid(_key(sa), when)
        self.add(sa)

    def external_secret(self, ns_created: str) -> None:
        """The PSP credentials Secret, written by External Secrets Operator (not by Flux, not in git).

        Its values are canaries: they must never appear in any report. ownerReferences point at
        the ExternalSecret, so it is not an orphan either.
        """
        ns = self.target.namespace
        when = api.k8s_time(api.parse_time(ns_created) + _dt.timedelta(minutes=4, seconds=12))
        name = "payments-psp-credentials"
        values = {key: secret_canary(self.target.name, key) for key in ("api-key", "webhook-signing-key")}
        data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
        owner_uid = self.uid(("external-secrets.io", "ExternalSecret", ns, name), when)
        secret: Obj = {
            "apiVersion": "v1",
            "data": data,
            "immutable": False,
            "kind": "Secret",
            "metadata": {
                "annotations": {"reconcile.external-secrets.io/data-hash": api.safe_hash(data, 32)},
                "creationTimestamp": when,
                "labels": {"reconcile.external-secrets.io/created-by": api.safe_hash(owner_uid, 32)},
                "name": name,
                "namespace": ns,
                "ownerReferences": [
                    {
                        "apiVersion": "external-secrets.io/v1beta1",
                        "blockOwnerDeletion": True,
                        "controller": True,
                        "kind": "ExternalSecret",
                        "name": name,
                        "uid": owner_uid,
                    }
                ],
            },
            "type": "Opaque",
        }
        secret["metadata"]["uid"] = self.uid(_key(secret), when)
        owned = {
            "data": data,
            "immutable": False,
            "metadata": {k: secret["metadata"][k] for k in ("annotations", "labels", "ownerReferences")},
            "type": "Opaque",
        }
        secret["metadata"]["managedFields"] = [
            api.managed_entry("external-secrets", "Update", when, api.fields_v1(owned, dots=True), api_version="v1")
        ]
        self.add(secret)

    def flux_kustomization(self, commits: Sequence[Commit], shas: Mapping[str, str], at: _dt.datetime) -> None:
        """The Flux ``Kustomization/flux-system/apps`` that applies this target's overlay.

        It lives outside the target's namespace (scope filtering must leave it alone) and tells the
        story of the cluster: which commit it last applied, and whether it is suspended.
        """
        t = self.target
        horizon = min(at, t.suspended_at) if t.suspended_at else at
        applied = [
            (c.when + _apply_delay(t.name, c), c) for c in commits
            if not c.branch and c.id in shas and c.when + _apply_delay(t.name, c) <= horizon
        ]  # fmt: skip
        first_time, _ = next(
            (w, c) for w, c in applied if any(p.startswith(f"{t.overlay}/") for p in c.touched)
        )
        last_time, last = applied[-1]
        created = api.k8s_time(first_time - _dt.timedelta(minutes=2))
        revision = f"{BRANCH}@sha1:{shas[last.id]}"
        spec: Obj = {
            "force": False,
            "interval": "10m0s",
            "path": f"./{t.overlay}",
            "prune": t.prune,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            "timeout": "5m0s",
        }
        labels = {
            "kustomize.toolkit.fluxcd.io/name": "flux-system",
            "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
        }
        generation = 1
        ready_time = api.k8s_time(last_time + _dt.timedelta(seconds=9))
        obj: Obj = {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {
                "creationTimestamp": created,
                "finalizers": ["finalizers.fluxcd.io"],
                "labels": labels,
                "name": "apps",
                "namespace": "flux-system",
            },
            "spec": spec,
        }
        obj["metadata"]["uid"] = self.uid(_key(obj), created)
        managed = [
            api.managed_entry(
                api.FLUX_MANAGER, "Apply", created,
                api.fields_v1({"metadata": {"labels": labels}, "spec": spec}),
                api_version="kustomize.toolkit.fluxcd.io/v1",
            ),
            api.managed_entry(
                api.FLUX_MANAGER, "Update", created,
                {"f:metadata": {"f:finalizers": {".": {}, 'v:"finalizers.fluxcd.io"': {}}}},
                api_version="kustomize.toolkit.fluxcd.io/v1",
            ),
        ]  # fmt: skip
        if t.suspended_at is not None:
            # `flux suspend` patches spec.suspend; the controller then stops, so observedGeneration lags.
            spec["suspend"] = True
            generation = 2
            managed.append(
                api.managed_entry(
                    "flux", "Update", api.k8s_time(t.suspended_at), {"f:spec": {"f:suspend": {}}},
                    api_version="kustomize.toolkit.fluxcd.io/v1",
                )
            )  # fmt: skip
        obj["metadata"]["generation"] = generation
        obj["status"] = {
            "conditions": [
                {
                    "lastTransitionTime": ready_time,
                    "message": f"Applied revision: {revision}",
                    "observedGeneration": 1,
                    "reason": "ReconciliationSucceeded",
                    "status": "True",
                    "type": "Ready",
                }
            ],
            "lastAppliedRevision": revision,
            "lastAttemptedRevision": revision,
            "observedGeneration": 1,
        }
        managed.append(
            api.managed_entry(
                api.FLUX_MANAGER, "Update", ready_time, api.fields_v1({"status": obj["status"]}, dots=True),
                api_version="kustomize.toolkit.fluxcd.io/v1", subresource="status",
            )
        )  # fmt: skip
        obj["metadata"]["managedFields"] = _order_managed(managed)
        self.add(obj)

    # -- out-of-band changes -------------------------------------------------------------------

    def inject(self, drift: Mapping[str, Any]) -> None:
        """Apply one ``drift.yaml`` entry."""
        op = drift["op"]
        ref = drift["object"] if "object" in drift and op != "create" else {}
        if op == "set":
            self._set(self.get(ref.get("group", ""), ref["kind"], ref["name"]), drift)
        elif op == "delete":
            obj = self.get(ref.get("group", ""), ref["kind"], ref["name"])
            del self.objects[_key(obj)]
        elif op == "create":
            self._create(drift)
        elif op == "stale":
            obj = self.get(ref.get("group", ""), ref["kind"], ref["name"])
            if not obj.get("_stale"):
                raise UsageError(
                    f"regenerate demo snapshot {self.target.name}: {ref['kind']}/{ref['name']} is declared "
                    "stale but the history leaves it in git"
                )
        else:
            raise UsageError(f"regenerate demo snapshot {self.target.name}: unknown drift op {op!r}")

    def _set(self, obj: Obj, drift: Mapping[str, Any]) -> None:
        path: list[Any] = list(drift["path"])
        when = str(drift["time"])
        node: Any = obj
        fields: Obj = {}
        cursor = fields
        member_path: list[str] = []
        parents: list[str] = []
        for i, step in enumerate(path[:-1]):
            nxt = path[i + 1]
            if isinstance(step, Mapping):
                continue  # consumed together with the list field before it
            if isinstance(nxt, Mapping):
                items = node.setdefault(step, [])
                keys = api.list_keys(step, parents) or tuple(nxt)
                match = next((it for it in items if all(it.get(k) == v for k, v in nxt.items())), None)
                cursor = cursor.setdefault(f"f:{step}", {})
                if match is None:
                    match = dict(nxt)
                    items.append(match)
                    cursor = cursor.setdefault(api.item_key(match, keys), {".": {}})
                    for k in nxt:
                        cursor[f"f:{k}"] = {}
                else:
                    cursor = cursor.setdefault(api.item_key(match, keys), {})
                member_path += [f"f:{step}", api.item_key(match, keys)]
                parents.append(step)
                node = match
            else:
                node = node.setdefault(step, {})
                cursor = cursor.setdefault(f"f:{step}", {})
                member_path.append(f"f:{step}")
                parents.append(step)
        leaf = path[-1]
        node[leaf] = drift["value"]
        cursor[f"f:{leaf}"] = {}
        member_path.append(f"f:{leaf}")
        meta = obj["metadata"]
        # An Update takes the field over: it leaves every other manager's set.
        for entry in meta["managedFields"]:
            api.remove_field(entry["fieldsV1"], member_path)
        meta["managedFields"] = [m for m in meta["managedFields"] if m["fieldsV1"]]
        meta["managedFields"].append(
            api.managed_entry(
                str(drift["manager"]), "Update", when, fields,
                api_version=obj["apiVersion"], subresource=str(drift.get("subresource", "")),
            )
        )  # fmt: skip
        if path[0] == "spec" and obj["kind"] in ("Deployment", "ReplicaSet"):
            meta["generation"] = int(meta.get("generation", 1)) + 1
        if obj["kind"] == "Deployment" and path[:2] == ["spec", "template"]:
            obj["_revisions"].append((when, api.deep(obj["spec"]["template"])))
        if obj["kind"] == "Deployment":
            self.refresh_deployment(obj)
        if obj["kind"] == "HorizontalPodAutoscaler":
            meta["managedFields"] = _order_managed(meta["managedFields"])
        obj["_modified"] = when

    def _create(self, drift: Mapping[str, Any]) -> None:
        obj = api.deep(dict(drift["object"]))
        when = str(drift["time"])
        meta = obj.setdefault("metadata", {})
        meta["namespace"] = self.target.namespace
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        body["metadata"] = {k: v for k, v in meta.items() if k in ("labels", "annotations")}
        if not body["metadata"]:
            del body["metadata"]
        fields = api.fields_v1(body, dots=True)
        meta["creationTimestamp"] = when
        meta["uid"] = self.uid(_key(obj), when)
        meta["managedFields"] = [
            api.managed_entry(str(drift["manager"]), "Update", when, fields, api_version=obj["apiVersion"])
        ]
        api.default_object(obj, cluster_ip=self.cluster_ip(meta["name"]))
        self.add(obj)

    # -- output ----------------------------------------------------------------------------------

    def finish(self) -> list[Obj]:
        """Assign resourceVersions and return clean objects in a stable order."""
        out: list[Obj] = []
        for key in sorted(self.objects):
            obj = self.objects[key]
            clean = {k: v for k, v in obj.items() if not k.startswith("_")}
            meta = clean["metadata"]
            times = [m["time"] for m in meta.get("managedFields", [])] + [meta["creationTimestamp"]]
            latest = max(api.parse_time(t) for t in times)
            epoch = _dt.datetime(2026, 9, 1, tzinfo=_dt.UTC)
            seconds = int((latest - epoch).total_seconds())
            meta["resourceVersion"] = str(seconds * 3 + api.stable_int(meta["uid"], modulo=3))
            if not meta.get("managedFields"):
                meta.pop("managedFields", None)
            clean["metadata"] = dict(sorted(meta.items()))
            out.append(clean)
        return out


def secret_canary(target: str, key: str) -> str:
    """The clear-text value of a demo Secret key: unique, greppable, and never to be reported."""
    return f"demo-canary-{target}-{key}-{api.safe_hash([target, key], 12)}"


def _order_managed(entries: list[Obj]) -> list[Obj]:
    # The API server keeps Apply entries first, then Update entries; within each, by time.
    return sorted(entries, key=lambda m: (m["operation"] != "Apply", m["time"], m["manager"], m.get("subresource", "")))


def _fake_ca(seed: str) -> str:
    """A certificate-shaped PEM block; not a real certificate (the demo needs none)."""
    body = "".join(api.safe_hash([seed, i], 64) for i in range(6)).upper()
    lines = ["MIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl"]
    lines += [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def build_target(
    target: TargetSpec,
    lines: Mapping[Key, Timeline],
    snapshot_time: _dt.datetime,
    commits: Sequence[Commit],
    shas: Mapping[str, str],
) -> list[Obj]:
    """All live objects of one target's cluster at ``snapshot_time`` (``shas``: commit id → SHA)."""
    cluster = Cluster(target, lines)
    ns_created = ""
    for key in sorted(lines):
        line = lines[key]
        if line.removed_at is not None and target.prune:
            continue  # kustomize-controller garbage-collected it
        cluster.apply(key, line)
        obj = cluster.objects[key]
        if line.removed_at is not None:
            obj["_stale"] = True
        if key[1] == "Namespace" and key[3] == target.namespace:
            ns_created = obj["metadata"]["creationTimestamp"]
    if not ns_created:
        raise UsageError(f"regenerate demo snapshot {target.name}: the overlay does not create its namespace")
    cluster.namespace_defaults(ns_created)
    cluster.external_secret(ns_created)
    cluster.flux_kustomization(commits, shas, snapshot_time)
    for drift in sorted(target.drift, key=lambda d: str(d.get("time", ""))):
        if "time" in drift and api.parse_time(str(drift["time"])) > snapshot_time:
            raise UsageError(f"regenerate demo snapshot {target.name}: drift {drift['id']} is after the snapshot")
        cluster.inject(drift)
    stale_declared = {
        (d["object"].get("group", ""), d["object"]["kind"], d["object"]["name"])
        for d in target.drift
        if d["op"] == "stale"
    }
    stale_found = {(k[0], k[1], k[3]) for k, o in cluster.objects.items() if o.get("_stale")}
    if stale_found != stale_declared:
        raise UsageError(
            f"regenerate demo snapshot {target.name}: stale objects {sorted(stale_found)} "
            f"differ from drift.yaml {sorted(stale_declared)}"
        )
    return cluster.finish()


# --------------------------------------------------------------------------------------- files

# One file per kubectl invocation a person would have run to capture the cluster. The formats
# vary on purpose (single object, List, multi-document stream, JSON) as real captures do.
_FILES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("namespace.yaml", "object", ("Namespace",)),
    ("workloads.yaml", "list", ("Deployment", "ReplicaSet")),
    ("services.json", "json-list", ("Service",)),
    ("configmaps.yaml", "list", ("ConfigMap",)),
    ("rbac.yaml", "stream", ("ServiceAccount", "Role", "RoleBinding")),
    ("secrets.yaml", "list", ("Secret",)),
    ("flux-system.yaml", "object", ("Kustomization",)),
    ("autoscaling.yaml", "list", ("HorizontalPodAutoscaler",)),
)


class _Dumper(yaml.SafeDumper):
    """kubectl-style YAML: sorted keys, block style, no line wrapping, list items not indented."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    # kubectl double-quotes strings that would read as another type ("true", "3", timestamps).
    if dumper.resolve(yaml.ScalarNode, data, (True, False)) != "tag:yaml.org,2002:str":
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_presenter)


def _yaml(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=1 << 20)


def _list_doc(items: list[Obj]) -> Obj:
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def snapshot_files(objects: Sequence[Obj]) -> dict[str, str]:
    """Lay the live objects out as the files a person capturing the cluster would have written."""
    by_kind: dict[str, list[Obj]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    files: dict[str, str] = {}
    placed = 0
    for name, style, kinds in _FILES:
        items = [o for k in kinds for o in by_kind.get(k, [])]
        placed += len(items)
        if not items:
            continue
        if style == "object":
            files[name] = "".join(_yaml(o) for o in items)
        elif style == "list":
            files[name] = _yaml(_list_doc(items))
        elif style == "json-list":
            files[name] = json.dumps(_list_doc(items), indent=4, sort_keys=True) + "\n"
        else:
            files[name] = "---\n".join(_yaml(o) for o in items)
    if placed != len(objects):
        missing = sorted({o["kind"] for o in objects} - {k for _, _, ks in _FILES for k in ks})
        raise UsageError(f"regenerate demo snapshots: no snapshot file for kinds {missing}")
    return files


def commit_shas(scratch: Path, commits: Sequence[Commit]) -> dict[str, str]:
    """Build the demo repository once and map each scripted commit id to its (deterministic) SHA."""
    fleet = create_demo(scratch)
    out = run(
        ["git", "log", "--all", "--format=%H %aI"],
        action="list demo commits",
        cwd=fleet.root,
        env={"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"},
    ).stdout.decode()
    by_date: dict[str, str] = {}
    for line in out.splitlines():
        if line.strip():
            sha, date = line.split()
            by_date[date] = sha
    return {c.id: by_date[c.date] for c in commits if c.date in by_date}


def generate(out_dir: Path) -> list[Path]:
    """Write every target's snapshot files under ``out_dir/<target>/``; return the paths written."""
    snapshot_text, targets = load_targets()
    snapshot_time = api.parse_time(snapshot_text)
    commits = load_history()
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="gitops-audit-demo-") as tmp:
        timelines = replay(targets, commits, Path(tmp))
        shas = commit_shas(Path(tmp) / "repo", commits)
    for target in targets:
        objects = build_target(target, timelines[target.name], snapshot_time, commits, shas)
        target_dir = out_dir / target.name
        if target_dir.is_dir():
            # Start clean so a file that is no longer produced does not linger.
            for old in target_dir.iterdir():
                if old.is_file() and old.suffix in (".yaml", ".json"):
                    old.unlink()
        for name, text in snapshot_files(objects).items():
            written.append(atomic_write(out_dir / target.name / name, text))
    return written


def _iter_files(root: Path) -> Iterator[Path]:
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            yield p


def compare(expected_dir: Path, actual_dir: Path) -> list[str]:
    """Relative paths that differ between two snapshot trees (missing, extra or changed)."""
    left = {p.relative_to(expected_dir).as_posix() for p in _iter_files(expected_dir)}
    right = {p.relative_to(actual_dir).as_posix() for p in _iter_files(actual_dir)}
    diffs = sorted(left ^ right)
    for rel in sorted(left & right):
        if not filecmp.cmp(expected_dir / rel, actual_dir / rel, shallow=False):
            diffs.append(rel)
    return diffs


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m auditor.demo.regenerate", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SNAPSHOTS_DIR, help="output directory (default: package data)")
    parser.add_argument("--check", action="store_true", help="only report whether the committed snapshots are current")
    args = parser.parse_args(argv)
    try:
        if args.check:
            with tempfile.TemporaryDirectory(prefix="gitops-audit-demo-check-") as tmp:
                generate(Path(tmp))
                diffs = compare(SNAPSHOTS_DIR, Path(tmp))
            for rel in diffs:
                print(f"stale snapshot file: {rel}", file=sys.stderr)
            return 1 if diffs else 0
        written = generate(args.out)
    except AuditorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} snapshot files under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
