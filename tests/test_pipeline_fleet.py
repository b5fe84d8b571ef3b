"""Lining targets up by workload identity (fleet matrix, skew, environment comparison)."""

from __future__ import annotations

from typing import Any

from auditor.model import DriftKind, Manifest, ObjectDrift, ObjectRef, split_api_version
from auditor.pipeline_fleet import NAMESPACE, app_objects, fleet_fields, line_up


def m(api: str, kind: str, ns: str, name: str, labels: dict[str, str] | None = None, **body: Any) -> Manifest:
    meta: dict[str, Any] = {"name": name, **({"namespace": ns} if ns else {}), **({"labels": labels} if labels else {})}
    return Manifest(ObjectRef(split_api_version(api)[0], kind, ns, name), api,
                    {"apiVersion": api, "kind": kind, "metadata": meta, **body})


def deploy(ns: str, name: str, image: str, replicas: int, sa: str, labels: dict[str, str] | None = None) -> Manifest:
    spec = {"replicas": replicas, "template": {"spec": {"serviceAccountName": sa,
                                                         "containers": [{"name": "web", "image": image}]}}}
    return m("apps/v1", "Deployment", ns, name, labels, spec=spec)


def target(ns: str, prefix: str, tag: str, replicas: int, *, generated: str = "x") -> list[Manifest]:
    return [
        m("v1", "Namespace", "", ns),
        deploy(ns, f"{prefix}web", f"reg/web:{tag}", replicas, f"{prefix}web"),
        m("v1", "ServiceAccount", ns, f"{prefix}web"),
        m("v1", "Service", ns, f"{prefix}api"),
        m("v1", "ConfigMap", ns, f"region-config-{generated}"),  # generated below the prefix, with a hash
        m("rbac.authorization.k8s.io/v1", "RoleBinding", ns, f"{prefix}web-edit",
          subjects=[{"kind": "ServiceAccount", "name": f"{prefix}web", "namespace": ns}]),
        m("v1", "Secret", ns, f"{prefix}db", data={"password": "c2VjcmV0"}),
    ]


FLEET = {
    "dev-us": target("shop-dev", "dev-", "latest", 1, generated="7h2c9t8mkd"),
    "dev-eu": target("shop-dev", "dev-", "latest", 1, generated="b5fd6k9c2g"),
    "staging": target("shop-staging", "", "1.5.0", 2, generated="tt4g5cb6bk"),
    "prod": target("shop", "", "1.4.2", 3, generated="m8dk7bhb4f"),
}


def lined_up() -> dict[str, tuple[Any, ...]]:
    apps = {t: app_objects(objs, (), [ObjectDrift(o.ref, DriftKind.IN_SYNC) for o in objs])
            for t, objs in FLEET.items()}
    return line_up(list(apps.items()))


def test_prefix_namespace_and_generator_hash_are_not_identity() -> None:
    lined = lined_up()
    keys = {t: sorted(a.key for a in apps) for t, apps in lined.items()}
    assert keys["dev-us"] == keys["prod"] == keys["staging"] == sorted([
        f"Namespace/{NAMESPACE}", "Deployment/web", "ServiceAccount/web", "Service/api", "ConfigMap/region-config",
        "RoleBinding/web-edit", "Secret/db",
    ])
    web = next(a for a in lined["dev-us"] if a.key == "Deployment/web")
    assert web.ref.name == "dev-web" and web.app == "web" and web.state is DriftKind.IN_SYNC


def test_app_label_wins_over_the_name_and_charts_are_kept() -> None:
    labelled = deploy("shop", "frontend-v2", "reg/web:1", 1, "x",
                      {"app.kubernetes.io/name": "web", "helm.sh/chart": "web-1.2.3"})
    (a,) = app_objects([labelled], (), ())
    assert (a.app, a.key, a.chart) == ("web", "Deployment/frontend-v2", "web-1.2.3")


def test_orphans_missing_and_drifted_states() -> None:
    desired = [deploy("shop", "web", "i", 1, "web"), m("v1", "Service", "shop", "web")]
    orphan = m("v1", "ConfigMap", "shop", "by-hand", {"app": "web"})
    drifts = [ObjectDrift(desired[0].ref, DriftKind.ADDED), ObjectDrift(desired[1].ref, DriftKind.MISSING),
              ObjectDrift(orphan.ref, DriftKind.ORPHANED)]
    states = {a.key: (a.state, a.app) for a in app_objects(desired, [orphan], drifts)}
    assert states == {"Deployment/web": (DriftKind.MODIFIED, "web"), "Service/web": (DriftKind.MISSING, "web"),
                      "ConfigMap/by-hand": (DriftKind.ORPHANED, "web")}


def test_fleet_fields_report_only_real_git_differences() -> None:
    lined = lined_up()
    fields = fleet_fields([(t, FLEET[t], lined[t]) for t in FLEET])
    by = {(f.key, f.path): dict(f.values) for f in fields}
    assert by[("Deployment/web", "spec.replicas")] == {"dev-us": 1, "dev-eu": 1, "staging": 2, "prod": 3}
    assert by[("Deployment/web", "spec.template.spec.containers[name=web].image")]["prod"] == "reg/web:1.4.2"
    # renamed references and the overlay's own namespace are the same object everywhere: no difference
    assert ("Deployment/web", "spec.template.spec.serviceAccountName") not in by
    assert ("RoleBinding/web-edit", "subjects[name=web].namespace") not in by
    assert not any(path.startswith("subjects[name=") for _k, path in by)
    # Secret payloads are never read, let alone kept
    assert not any(k.startswith("Secret/") and p.startswith("data") for k, p in by)
    assert "c2VjcmV0" not in repr(fields)


def test_every_environment_prefixed_still_lines_up() -> None:
    fleet = {
        "dev-a": target("shop-dev", "dev-", "1", 1),
        "dev-b": target("shop-dev", "dev-", "1", 1),  # a sibling with the same prefix must not keep it
        "staging": target("shop-staging", "staging-", "2", 2),
        "prod": target("shop", "prod-", "3", 3),
    }
    apps = {t: app_objects(objs, (), ()) for t, objs in fleet.items()}
    lined = line_up(list(apps.items()))
    keys = {t: sorted(a.key for a in lined[t]) for t in fleet}
    assert keys["dev-a"] == keys["dev-b"] == keys["staging"] == keys["prod"]
    assert "Deployment/web" in keys["prod"]


def test_a_lone_target_keeps_its_names() -> None:
    (only,) = [("dev", app_objects(target("shop-dev", "dev-", "1", 1), (), ()))]
    lined = line_up([only])
    assert "Deployment/dev-web" in {a.key for a in lined["dev"]}


def test_run_ids_sort_by_start_time_within_a_second() -> None:
    from datetime import UTC, datetime

    from auditor.pipeline import new_run_id
    from auditor.report.history import RUN_ID_RE

    second = datetime(2026, 12, 4, 3, 0, 0, tzinfo=UTC)
    ids = [new_run_id(second.replace(microsecond=ms * 1000)) for ms in (999, 5, 120)]
    assert all(RUN_ID_RE.match(i) for i in ids)
    # Ordered by start, whatever the random suffixes are (history takes the last as "previous").
    assert sorted(ids) == [ids[1], ids[2], ids[0]]
    assert ids[1].startswith("20261204T030000.005Z-")


def _fields_by_hand(targets: list[tuple[str, list[Manifest], tuple[Any, ...]]]) -> dict[tuple[str, str], Any]:
    """The comparison spelled out: every holder's value of every leaf, differing when any is not the first's."""
    from auditor.pipeline_fleet import _leaves, _normalizer, _only_namespace

    values: dict[tuple[str, str], dict[str, Any]] = {}
    holders: dict[str, list[str]] = {}
    for name, desired, apps in targets:
        by_ref = {a.ref: a for a in apps}
        rename, namespace = _normalizer(desired, by_ref), _only_namespace(desired)
        for obj in desired:
            a = by_ref.get(obj.ref)
            if a is None:
                continue
            holders.setdefault(a.key, []).append(name)
            leaves: dict[str, Any] = {}
            _leaves(obj.body, "", leaves, obj.ref.kind == "Secret", rename)
            for path, value in leaves.items():
                if isinstance(value, str):
                    value = NAMESPACE if namespace and value == namespace and path.endswith("namespace") \
                        else rename.get(value, value)
                values.setdefault((a.key, path), {})[name] = value
    out = {}
    for (key, path), per in values.items():
        held = holders[key]
        vals = [(t, per.get(t)) for t in held]
        if len(held) > 1 and any(repr(v) != repr(vals[0][1]) or type(v) is not type(vals[0][1]) for _, v in vals):
            out[(key, path)] = tuple(vals)
    return out


def test_fleet_fields_match_the_plain_comparison_on_random_fleets() -> None:
    """The compact bookkeeping (first value, a bit per target) gives what comparing every holder gives."""
    import random

    rng = random.Random(19)
    choices: list[Any] = [1, 1.0, True, "1", None, "a", "b", [], {}, 0, False, 0.0, -0.0, float("nan")]
    for _ in range(300):
        fleet = []
        for t in range(rng.randint(1, 7)):
            objs = []
            for k in range(rng.randint(0, 4)):
                spec = {f"f{j}": rng.choice(choices) for j in range(rng.randint(0, 4)) if rng.random() < 0.8}
                if rng.random() < 0.3:
                    spec["nested"] = {"x": rng.choice(choices)}
                objs.append(m("v1", "ConfigMap", "ns", f"cm{k}", data=spec))
            apps = app_objects(objs, (), ())
            fleet.append((f"t{t}", objs, apps))
        lined = line_up([(n, apps) for n, _, apps in fleet])
        ordered = [(n, objs, lined[n]) for n, objs, _ in fleet]
        found = fleet_fields(iter(ordered))
        got = {(f.key, f.path): f.values for f in found}
        assert _typed(got) == _typed(_fields_by_hand(ordered))  # 1, 1.0 and True are three values
        pairs = [p for f in found for p in f.values]
        shared: dict[tuple[str, str, str], tuple[str, Any]] = {}
        for p in pairs:  # equal (target, value) pairs of different fields are one instance
            if not isinstance(p[1], list | dict):
                assert shared.setdefault((p[0], type(p[1]).__name__, repr(p[1])), p) is p


def _typed(fields: dict[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
    return {k: tuple((t, type(v).__name__, repr(v)) for t, v in vals) for k, vals in fields.items()}
