"""Tables the drift engine keeps across objects (issue 15 drift speed): never one object's values in another's verdict.

Each cache is keyed by text that recurs in every object of a fleet (a managedFields element, a
field path) and holds only what that text means, never a value read from an object; each is bounded.
"""

from __future__ import annotations

import copy
from typing import Any

from auditor.diff import defaults as _defaults
from auditor.diff import fieldsv1 as _fieldsv1
from auditor.diff.defaults import is_server_default
from auditor.diff.engine import diff_target
from auditor.diff.fieldsv1 import decode_fields_v1, decode_segment, owned_values
from auditor.diff.options import DriftOptions
from auditor.model import DriftKind, LiveState, Manifest, ObjectRef, Target

TARGET = Target(name="prod", namespace="shop")

HELM_FIELDS = {"f:spec": {"f:template": {"f:spec": {
    "f:dnsPolicy": {},
    "f:containers": {'k:{"name":"web"}': {".": {}, "f:name": {}, "f:image": {}, "f:imagePullPolicy": {},
                                          "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {
                                              ".": {}, "f:containerPort": {}, "f:protocol": {}}}}},
}}}}


def _pair(name: str, image: str, pull: str, dns: str) -> tuple[Manifest, Manifest]:
    """A Deployment created by Helm (its Update entry owns defaults) and later adopted by the applier."""
    desired: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": image,
                                                       "ports": [{"containerPort": 80}]}]}}},
    }
    live = copy.deepcopy(desired)
    spec = live["spec"]["template"]["spec"]
    spec["dnsPolicy"] = dns
    spec["containers"][0]["imagePullPolicy"] = pull
    spec["containers"][0]["ports"][0]["protocol"] = "TCP"
    live["metadata"]["managedFields"] = [
        {"manager": "helm", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-11-01T00:00:00Z",
         "fieldsType": "FieldsV1", "fieldsV1": copy.deepcopy(HELM_FIELDS)},
        {"manager": "kustomize-controller", "operation": "Apply", "apiVersion": "apps/v1",
         "time": "2026-11-02T00:00:00Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"web"}': {
             ".": {}, "f:name": {}, "f:image": {}, "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {
                 ".": {}, "f:containerPort": {}}}}}}}}}},
    ]
    return (Manifest(ObjectRef("apps", "Deployment", "shop", name), "apps/v1", desired),
            Manifest(ObjectRef("apps", "Deployment", "shop", name), "apps/v1", live))


def _verdicts(pairs: list[tuple[Manifest, Manifest]]) -> dict[str, tuple[DriftKind, tuple[str, ...]]]:
    out = diff_target(TARGET, [d for d, _ in pairs], LiveState(tuple(lv for _, lv in pairs), "test"),
                      DriftOptions(orphans=False))
    return {d.ref.name: (d.kind, tuple(c.path for c in d.changes)) for d in out.drifts}


def test_same_managed_fields_different_values_give_independent_verdicts() -> None:
    defaulted = _pair("a", "nginx:1.25", "IfNotPresent", "ClusterFirst")  # Helm owns only API defaults
    edited = _pair("b", "nginx:1.25", "Always", "Default")                  # same trie, values set by hand
    latest = _pair("c", "nginx:latest", "Always", "ClusterFirst")           # Always is :latest's default
    expected = {
        "a": (DriftKind.IN_SYNC, ()),
        "b": (DriftKind.ADDED, ("spec.template.spec.dnsPolicy",
                                "spec.template.spec.containers[name=web].imagePullPolicy")),
        "c": (DriftKind.IN_SYNC, ()),
    }
    assert _verdicts([defaulted, edited, latest]) == expected
    # Alone, and in the other order (warm tables, every other object seen first): the same verdicts.
    for pair in (latest, edited, defaulted):
        name = pair[0].ref.name
        assert _verdicts([pair]) == {name: expected[name]}
    assert _verdicts([latest, edited, defaulted]) == expected


def test_owned_values_reads_values_of_each_object() -> None:
    fields = {"f:spec": {"f:ports": {'k:{"port":80}': {".": {}, "f:name": {}}},
                         "f:tags": {'v:{"a":1}': {}}}}
    first = {"spec": {"ports": [{"port": 80, "name": "http"}], "tags": [{"a": 1}]}}
    second = {"spec": {"ports": [{"port": 80, "name": "web"}], "tags": [{"a": 1}]}}
    got1 = {p: v for p, v, _, _ in owned_values(fields, first)}
    got2 = {p: v for p, v, _, _ in owned_values(fields, second)}
    assert got1[("spec", "ports", "[port=80]", "name")] == "http"
    assert got2[("spec", "ports", "[port=80]", "name")] == "web"
    # A set item's value comes from parsing its element: each object gets its own copy.
    got1[("spec", "tags", '[{\'a\': 1}]')]["a"] = 2
    assert {p: v for p, v, _, _ in owned_values(fields, second)}[("spec", "tags", '[{\'a\': 1}]')] == {"a": 1}


def test_owned_values_only_outside_git_is_a_filter() -> None:
    fields = {"f:spec": {"f:a": {}, "f:b": {}, "f:items": {'k:{"name":"x"}': {".": {}, "f:v": {}}}}}
    live = {"spec": {"a": 1, "b": 2, "items": [{"name": "x", "v": 3}]}}
    desired = {"spec": {"a": 1, "items": [{"name": "x"}]}}
    every = list(owned_values(fields, live, desired))
    assert list(owned_values(fields, live, desired, only_outside_git=True)) == [x for x in every if not x[3]]


def test_element_caches_are_bounded() -> None:
    elements = [f'k:{{"name":"c{i}"}}' for i in range(9000)]
    for e in elements:
        list(owned_values({"f:spec": {"f:items": {e: {".": {}}}}}, {"spec": {"items": [{"name": "c1"}]}}))
        decode_fields_v1({"f:items": {e: {}}})
    for cache in (_fieldsv1._list_element, _fieldsv1._segment):
        info = cache.cache_info()
        assert info.maxsize is not None and info.currsize <= info.maxsize
    assert decode_segment(elements[0]) == "[name=c0]"
    assert decode_fields_v1({"f:items": {elements[0]: {}}}) == {("items", "[name=c0]")}


def test_default_plans_hold_no_values_and_are_bounded() -> None:
    path = ("spec", "template", "spec", "containers", "[name=web]", "imagePullPolicy")
    assert is_server_default("Deployment", path, "Always", {"image": "nginx:latest"})
    assert not is_server_default("Deployment", path, "Always", {"image": "nginx:1.25"})
    assert is_server_default("Deployment", path, "IfNotPresent", {"image": "nginx:1.25"})
    replicas = ("spec", "replicas")
    assert is_server_default("Deployment", replicas, 1, None)
    assert not is_server_default("Deployment", replicas, 2, None)
    assert not is_server_default("DaemonSet", replicas, 1, None)  # the kind is part of the key
    for i in range(_defaults._PLANS_MAX + 10):
        is_server_default("Deployment", ("spec", "template", "spec", "containers", f"[name=c{i}]", "dnsPolicy"),
                          "ClusterFirst", None)
    assert len(_defaults._PLANS) <= _defaults._PLANS_MAX
    assert is_server_default("Deployment", path, "Always", {"image": "nginx"})  # recomputed after a clear
    assert is_server_default("Service", ("spec", "clusterIP"), "10.0.0.1", None)
    assert not is_server_default("Deployment", ("spec", "clusterIP"), "10.0.0.1", None)
