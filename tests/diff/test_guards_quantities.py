"""Quantity normalization: only where the API server stores a ``resource.Quantity``, with every suffix.

Each test here was written against a deliberate one-line break of the product (issue 20): normalization
applied to every string, a wrong or missing binary suffix, ``capacity`` dropped from the quantity
parents. A ConfigMap value or a container argument "1000" that became "1k" live is a real change.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from auditor.diff import normalize as n
from auditor.diff.engine import diff_target
from auditor.diff.options import DriftOptions
from auditor.model import DriftKind, LiveState, Target

from .corpus_support import to_manifest

TARGET = Target("prod", namespace="shop")


def drift(desired: dict[str, Any], live: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    out = diff_target(TARGET, [to_manifest(desired)], LiveState((to_manifest(live),), "x"), DriftOptions())
    return [(f.rule_id, f.path, f.expected, f.actual) for f in out.findings]


def in_sync(desired: dict[str, Any], live: dict[str, Any]) -> bool:
    out = diff_target(TARGET, [to_manifest(desired)], LiveState((to_manifest(live),), "x"), DriftOptions())
    return out.findings == () and [d.kind for d in out.drifts] == [DriftKind.IN_SYNC]


def configmap(**data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "limits", "namespace": "shop"},
            "data": data}


def pod_spec(args: list[str], env_value: str, cpu: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web", "image": "nginx:1.25", "args": args,
                    "env": [{"name": "MAX_CONNS", "value": env_value}],
                    "resources": {"requests": {"cpu": cpu}}}]}}}}


# --------------------------------------------------------------------------- only in quantity fields


@pytest.mark.parametrize(("git", "live"), [("1000", "1k"), ("0.5", "500m"), ("1024Mi", "1Gi"), ("2", "2000m")])
def test_configmap_values_are_not_quantities(git: str, live: str) -> None:
    assert n.quantities_equal(git, live)  # the same amount as a quantity…
    # …but a ConfigMap value is text: the application reads "1k", not 1000.
    assert drift(configmap(LIMIT=git), configmap(LIMIT=live)) == [("drift.modified", "data.LIMIT", git, live)]


def test_env_values_and_args_are_not_quantities() -> None:
    desired = pod_spec(["--max-conns", "1000"], "1000", "0.5")
    live = pod_spec(["--max-conns", "1k"], "1k", "500m")  # cpu canonicalized by the server: no drift
    paths = {path for _, path, _, _ in drift(desired, live)}
    assert paths == {
        "spec.template.spec.containers[name=web].args",
        "spec.template.spec.containers[name=web].env[name=MAX_CONNS].value",
    }


def test_quantity_fields_still_normalized() -> None:
    desired = pod_spec(["--max-conns", "1000"], "1000", "0.5")
    live = pod_spec(["--max-conns", "1000"], "1000", "500m")
    assert in_sync(desired, live)
    live = pod_spec(["--max-conns", "1000"], "1000", "600m")
    assert drift(desired, live) == [
        ("drift.modified", "spec.template.spec.containers[name=web].resources.requests.cpu", "0.5", "600m")]


# --------------------------------------------------------------------------- binary suffixes


@pytest.mark.parametrize(("text", "power"), [("1Ki", 10), ("1Mi", 20), ("1Gi", 30), ("1Ti", 40), ("1Pi", 50),
                                             ("1Ei", 60)])
def test_binary_suffixes_exact(text: str, power: int) -> None:
    assert n.parse_quantity(text) == Decimal(2) ** power
    assert n.parse_quantity("3" + text[1:]) == 3 * Decimal(2) ** power


@pytest.mark.parametrize(("text", "power"), [("1k", 3), ("1M", 6), ("1G", 9), ("1T", 12), ("1P", 15), ("1E", 18)])
def test_decimal_suffixes_exact(text: str, power: int) -> None:
    assert n.parse_quantity(text) == Decimal(10) ** power


@pytest.mark.parametrize(("big", "small"), [("1Ti", "1024Gi"), ("1Pi", "1024Ti"), ("1Ei", "1024Pi"),
                                            ("2Ti", "2048Gi"), ("0.5Pi", "512Ti")])
def test_binary_suffix_equivalences(big: str, small: str) -> None:
    assert n.quantities_equal(big, small) and n.quantities_equal(small, big)


@pytest.mark.parametrize(("a", "b"), [("1Ti", "1T"), ("1Pi", "1P"), ("1Ei", "1E"), ("1Ti", "1023Gi"),
                                      ("1Pi", "1Ti"), ("1Ei", "1Pi")])
def test_binary_and_decimal_suffixes_differ(a: str, b: str) -> None:
    assert not n.quantities_equal(a, b)


def pvc(storage: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "shop"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}}


def test_pvc_sizes_in_tebibytes_through_the_engine() -> None:
    assert in_sync(pvc("1Ti"), pvc("1024Gi"))
    assert in_sync(pvc("2Pi"), pvc("2048Ti"))
    assert drift(pvc("1Ti"), pvc("1T")) == [
        ("drift.modified", "spec.resources.requests.storage", "1Ti", "1T")]


# --------------------------------------------------------------------------- capacity as a quantity parent


def pv(storage: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "vol-1"},
            "spec": {"capacity": {"storage": storage}, "accessModes": ["ReadWriteOnce"],
                     "hostPath": {"path": "/data"}}}


def test_capacity_is_a_quantity_parent() -> None:
    assert n.is_quantity_field("capacity", "storage")
    assert in_sync(pv("1Gi"), pv("1024Mi"))
    assert in_sync(pv("1Ti"), pv("1024Gi"))
    assert drift(pv("1Gi"), pv("1G")) == [("drift.modified", "spec.capacity.storage", "1Gi", "1G")]


def test_capacity_quantities_in_a_custom_resource() -> None:
    # Not a PV: the parent name alone decides (the API server canonicalizes every Quantity it stores).
    desired = {"apiVersion": "example.com/v1", "kind": "Pool", "metadata": {"name": "p", "namespace": "shop"},
               "spec": {"capacity": {"memory": "0.5Gi"}}}
    live = copy.deepcopy(desired)
    live["spec"]["capacity"]["memory"] = "512Mi"
    assert in_sync(desired, live)
