"""The demo's cluster snapshots: realistic shape, reproducible, and exactly the drift DRIFT.md promises."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.demo import regenerate
from auditor.demo.fleet import DemoFleet
from auditor.demo.history import PACKAGE_DIR, SNAPSHOTS_DIR, TREE_DIR
from auditor.util import yamlio
from auditor.util.proc import run

from .conftest import git

DRIFT = yaml.safe_load((PACKAGE_DIR / "drift.yaml").read_text())
TARGETS = list(DRIFT["targets"])
GITOPS_MANAGERS = {"kustomize-controller", "kube-controller-manager"}
FLUX_LABELS = {"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}

Key = tuple[str, str, str]  # (kind, namespace, name); kinds are unique across groups in the demo


def load_snapshot(target_dir: Path) -> dict[Key, dict[str, Any]]:
    objs: dict[Key, dict[str, Any]] = {}
    for f in sorted(target_dir.iterdir()):
        for doc in yamlio.load_json_or_yaml(f.read_bytes(), str(f)):
            for obj in yamlio.iter_items(doc):
                meta = obj["metadata"]
                key = (obj["kind"], meta.get("namespace", ""), meta["name"])
                assert key not in objs, f"{key} twice in {target_dir.name}"
                objs[key] = obj
    return objs


def render(target: str) -> dict[Key, dict[str, Any]]:
    env, _, region = target.partition("-")
    overlay = TREE_DIR / "overlays" / env / region
    out = run(["kubectl", "kustomize", str(overlay)], action=f"render {target}").stdout
    docs = yamlio.load_all(out, target)
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}


def drift_ops(target: str, *ops: str) -> list[dict[str, Any]]:
    return [d for d in DRIFT["targets"][target]["drift"] if d["op"] in ops]


def drift_key(target: str, d: dict[str, Any]) -> Key:
    ns = DRIFT["targets"][target]["namespace"]
    obj = d["object"]
    if "metadata" in obj:  # a created object
        return (obj["kind"], ns, obj["metadata"]["name"])
    return (obj["kind"], "" if obj["kind"] == "Namespace" else ns, obj["name"])


# ----------------------------------------------------------------------------- desired-subset compare

_LIST_KEYS = {"containers": "name", "env": "name", "volumes": "name", "volumeMounts": "mountPath"}
_QTY = re.compile(r"^([0-9.]+)(m|Ki|Mi|Gi)?$")
_FACTOR = {None: Decimal(1), "m": Decimal("0.001"), "Ki": Decimal(1024), "Mi": Decimal(1024**2), "Gi": Decimal(1024**3)}


def _qty(value: Any) -> Any:
    m = _QTY.match(str(value))
    return Decimal(m.group(1)) * _FACTOR[m.group(2)] if m else value


def _port_key(item: dict[str, Any]) -> str:
    port = item.get("containerPort", item.get("port"))
    return f"{port}/{item.get('protocol', 'TCP')}"


def subset_diff(desired: Any, live: Any, path: str = "") -> Iterator[str]:
    """Paths (report format) where a desired field is absent or different live."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            yield path
            return
        for k, v in desired.items():
            sub = f"{path}.{k}" if path else k
            if k not in live:
                yield sub
            else:
                yield from subset_diff(v, live[k], sub)
    elif isinstance(desired, list):
        field = path.rsplit(".", 1)[-1]
        if field == "ports" and isinstance(live, list):
            by = {_port_key(i): i for i in live}
            for item in desired:
                yield from subset_diff(item, by.get(_port_key(item)), f"{path}[{_port_key(item)}]")
        elif field in _LIST_KEYS and isinstance(live, list):
            mk = _LIST_KEYS[field]
            by = {i.get(mk): i for i in live}
            for item in desired:
                yield from subset_diff(item, by.get(item[mk]), f"{path}[{mk}={item[mk]}]")
        elif desired != live:
            yield path
    else:
        quantity = ".resources." in f".{path}."
        if (_qty(desired) != _qty(live)) if quantity else (desired != live):
            yield path


def _fields_paths(fields: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for k, v in fields.items():
        if k == ".":
            continue
        name = k[2:]
        if k.startswith("k:"):
            keys = json.loads(name)
            seg = f"{prefix}[{','.join(f'{a}={b}' for a, b in keys.items())}]"
        else:
            seg = f"{prefix}.{name}" if prefix else name
        if v and set(v) != {"."}:
            yield from _fields_paths(v, seg)
        else:
            yield seg


# ------------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def snapshots() -> dict[str, dict[Key, dict[str, Any]]]:
    return {t: load_snapshot(SNAPSHOTS_DIR / t) for t in TARGETS}


def test_every_target_has_a_snapshot() -> None:
    assert sorted(p.name for p in SNAPSHOTS_DIR.iterdir() if p.is_dir()) == sorted(TARGETS)
    assert len(TARGETS) == 6


def test_formats_are_varied_like_real_captures() -> None:
    texts = {p: p.read_text() for p in SNAPSHOTS_DIR.rglob("*") if p.is_file()}
    assert any(p.suffix == ".json" for p in texts)
    for p, text in texts.items():
        if p.suffix == ".json":
            assert json.loads(text)["kind"] == "List"
    assert any(p.suffix == ".yaml" and text.startswith("apiVersion: v1\nitems:") for p, text in texts.items())
    assert any("\n---\n" in text for text in texts.values()), "one multi-document stream"
    assert any(yaml.safe_load(t).get("kind") == "Namespace" for p, t in texts.items() if p.name == "namespace.yaml")


def test_objects_carry_server_metadata(snapshots: dict[str, dict[Key, dict[str, Any]]]) -> None:
    uids: set[str] = set()
    for target, objs in snapshots.items():
        for key, obj in objs.items():
            meta = obj["metadata"]
            assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"]), (target, key)
            assert meta["uid"] not in uids
            uids.add(meta["uid"])
            assert meta["resourceVersion"].isdigit()
            assert re.fullmatch(r"2026-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
            if key == ("ServiceAccount", key[1], "default"):
                continue  # the token controller writes no managed fields on "default"
            assert meta["managedFields"], (target, key)
            for entry in meta["managedFields"]:
                assert entry["fieldsType"] == "FieldsV1"
                assert entry["operation"] in ("Apply", "Update")
                assert "f:" in json.dumps(entry["fieldsV1"])
            if key[1] == "flux-system":
                continue  # Flux's own objects carry the flux-system Kustomization's labels
            managers = {m["manager"] for m in meta["managedFields"]}
            applied = "kustomize-controller" in managers
            flux = {k: v for k, v in (meta.get("labels") or {}).items() if k in FLUX_LABELS}
            assert (flux == FLUX_LABELS) == applied, (target, key)
            if applied:
                apply = [m for m in meta["managedFields"] if m["manager"] == "kustomize-controller"]
                assert [m["operation"] for m in apply] == ["Apply"]


def test_api_server_defaults_are_present(snapshots: dict[str, dict[Key, dict[str, Any]]]) -> None:
    objs = snapshots["dev-eu-west"]
    dep = objs[("Deployment", "shop-dev", "dev-shop-api")]
    spec = dep["spec"]
    assert spec["progressDeadlineSeconds"] == 600 and spec["revisionHistoryLimit"] == 10
    assert spec["strategy"] == {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"}
    pod = spec["template"]["spec"]
    assert pod["dnsPolicy"] == "ClusterFirst" and pod["restartPolicy"] == "Always"
    assert pod["schedulerName"] == "default-scheduler" and pod["securityContext"]["runAsNonRoot"] is True
    worker = objs[("Deployment", "shop-dev", "dev-orders-worker")]["spec"]["template"]["spec"]
    assert worker["securityContext"] == {}  # defaulted empty struct where git sets none
    assert pod["terminationGracePeriodSeconds"] == 30
    c = pod["containers"][0]
    assert c["terminationMessagePath"] == "/dev/termination-log" and c["terminationMessagePolicy"] == "File"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert all(p["protocol"] == "TCP" for p in c["ports"])
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"].isdigit()
    assert dep["status"]["observedGeneration"] == dep["metadata"]["generation"]
    web = objs[("Deployment", "shop-dev", "dev-shop-web")]
    assert web["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"  # :latest
    svc = objs[("Service", "shop-dev", "dev-shop-api")]["spec"]
    assert svc["clusterIP"] == svc["clusterIPs"][0] and svc["ipFamilies"] == ["IPv4"]
    assert svc["ipFamilyPolicy"] == "SingleStack" and svc["sessionAffinity"] == "None"
    assert svc["internalTrafficPolicy"] == "Cluster" and svc["type"] == "ClusterIP"
    assert [p["targetPort"] for p in svc["ports"]] == [9000, 9090]  # metrics port defaulted
    pay = objs[("Deployment", "shop-dev", "dev-payments")]["spec"]["template"]["spec"]["containers"][0]
    assert pay["resources"]["requests"]["cpu"] == "500m"  # "0.5" in git, canonical live
    assert ("ConfigMap", "shop-dev", "kube-root-ca.crt") in objs
    assert ("ServiceAccount", "shop-dev", "default") in objs
    assert objs[("Namespace", "", "shop-dev")]["status"] == {"phase": "Active"}
    rs = [o for k, o in objs.items() if k[0] == "ReplicaSet"]
    assert rs and all(o["metadata"]["ownerReferences"][0]["kind"] == "Deployment" for o in rs)


def test_drift_matches_drift_yaml(snapshots: dict[str, dict[Key, dict[str, Any]]]) -> None:
    """Every difference between git and the snapshots is one DRIFT.md lists — and nothing else."""
    for target in TARGETS:
        live = snapshots[target]
        desired = render(target)
        ns = DRIFT["targets"][target]["namespace"]

        missing = {k for k in desired if k not in live}
        assert missing == {drift_key(target, d) for d in drift_ops(target, "delete")}, target

        system = {("ConfigMap", ns, "kube-root-ca.crt"), ("ServiceAccount", ns, "default")}
        # Only the target's namespace is in scope; flux-system holds Flux's own Kustomization.
        orphans = {
            k for k, o in live.items()
            if k[1] == ns and k not in desired and k not in system and not o["metadata"].get("ownerReferences")
        }
        assert orphans == {drift_key(target, d) for d in drift_ops(target, "create", "stale")}, target
        for d in drift_ops(target, "stale"):
            assert FLUX_LABELS.items() <= live[drift_key(target, d)]["metadata"]["labels"].items()

        # Objects owned by a controller (ReplicaSets, the External Secrets Secret) are its business.
        audited = {k: o for k, o in live.items() if k in desired or k in orphans}
        out_of_band = {
            (k, m["manager"])
            for k, o in audited.items()
            for m in o["metadata"].get("managedFields", [])
            if m["manager"] not in GITOPS_MANAGERS
        }
        expected = {(drift_key(target, d), d["manager"]) for d in drift_ops(target, "set", "create")}
        assert out_of_band == expected, target

        modified_expected = {
            (drift_key(target, d), d["expect"]["path"])
            for d in drift_ops(target, "set")
            if d["expect"]["drift"] == "modified"
        }
        modified = {
            (k, p)
            for k, obj in desired.items()
            if k in live
            for p in subset_diff(obj, live[k])
        }
        assert modified == modified_expected, target

        for d in drift_ops(target, "set"):
            obj = live[drift_key(target, d)]
            entry = next(m for m in obj["metadata"]["managedFields"] if m["manager"] == d["manager"])
            paths = list(_fields_paths(entry["fieldsV1"]))
            # The manager's field set is exactly the drifted field (or the added list item's fields).
            assert paths and all(p.startswith(d["expect"]["path"]) for p in paths), (target, d["id"], paths)
            if d["expect"]["drift"] == "modified":
                assert paths == [d["expect"]["path"]]
                # The field left kustomize-controller's set when the Update took it over.
                apply = next(m for m in obj["metadata"]["managedFields"] if m["manager"] == "kustomize-controller")
                assert paths[0] not in set(_fields_paths(apply["fieldsV1"]))


def test_in_sync_target_has_no_drift(snapshots: dict[str, dict[Key, dict[str, Any]]]) -> None:
    assert DRIFT["targets"]["dev-eu-west"]["drift"] == []
    managers = {
        m["manager"]
        for o in snapshots["dev-eu-west"].values()
        if not o["metadata"].get("ownerReferences")
        for m in o["metadata"].get("managedFields", [])
    }
    assert managers == GITOPS_MANAGERS


def test_secret_values_are_canaries(snapshots: dict[str, dict[Key, dict[str, Any]]]) -> None:
    """Each target holds a Secret written by External Secrets whose clear values are known canaries."""
    for target, objs in snapshots.items():
        ns = DRIFT["targets"][target]["namespace"]
        secret = objs[("Secret", ns, "payments-psp-credentials")]
        assert secret["metadata"]["ownerReferences"][0]["kind"] == "ExternalSecret"
        decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        assert decoded == {k: regenerate.secret_canary(target, k) for k in decoded}


def test_drift_md_lists_every_injected_drift() -> None:
    text = (PACKAGE_DIR / "DRIFT.md").read_text()
    for target, spec in DRIFT["targets"].items():
        assert f"## {target}" in text
        for d in spec["drift"]:
            assert f"`{d['id']}`" in text, d["id"]
            if "path" in d["expect"]:
                assert d["expect"]["path"] in text, d["id"]


def test_demo_copies_the_snapshots(demo: DemoFleet) -> None:
    for p in SNAPSHOTS_DIR.rglob("*"):
        if p.is_file():
            assert (demo.root / "snapshots" / p.relative_to(SNAPSHOTS_DIR)).read_bytes() == p.read_bytes()


@pytest.mark.slow
def test_regenerate_reproduces_committed_snapshots(tmp_path: Path) -> None:
    """The committed snapshots are exactly what the script produces, so they cannot rot."""
    assert regenerate.main(["--out", str(tmp_path)]) == 0
    assert regenerate.compare(SNAPSHOTS_DIR, tmp_path) == []
    # And the comparison can fail: a changed byte is reported.
    victim = tmp_path / "dev-eu-west" / "namespace.yaml"
    victim.write_text(victim.read_text().replace("Active", "Terminating"))
    assert regenerate.compare(SNAPSHOTS_DIR, tmp_path) == ["dev-eu-west/namespace.yaml"]


def test_flux_kustomization_tells_the_cluster_story(
    snapshots: dict[str, dict[Key, dict[str, Any]]], demo: DemoFleet
) -> None:
    """Flux's Kustomization names a real demo commit and is suspended exactly where DRIFT.md says."""
    shas = set(git(demo.root, "rev-list", "main").split())
    head = git(demo.root, "rev-parse", "main").strip()
    for target, objs in snapshots.items():
        ks = objs[("Kustomization", "flux-system", "apps")]
        spec = DRIFT["targets"][target]
        env, _, region = target.partition("-")
        assert ks["spec"]["path"] == f"./overlays/{env}/{region}"
        assert ks["spec"]["prune"] is spec["prune"]
        assert ks["spec"].get("suspend", False) is ("suspended_at" in spec)
        revision = ks["status"]["lastAppliedRevision"]
        assert revision.startswith("main@sha1:") and revision.removeprefix("main@sha1:") in shas
        # Flux applies every new main commit; a suspended cluster stopped before HEAD.
        assert (revision.removeprefix("main@sha1:") == head) is ("suspended_at" not in spec), target
