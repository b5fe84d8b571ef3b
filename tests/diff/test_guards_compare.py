"""The desired-subset comparison, change by change: exact (path, expected, actual) for each kind of value.

Written for what the mutation run (bench/mutation.py) found unguarded in :mod:`auditor.diff.compare`:
metadata (finalizers, server annotations, keys never compared), type changes between maps, lists and
scalars, keyed/set/atomic lists, and JSON pointers into live and desired bodies.
"""

from __future__ import annotations

from typing import Any

import pytest

from auditor.diff.compare import MISSING, Comparer, RawChange, escape_pointer, locate, pointer_of
from auditor.diff.normalize import LAST_APPLIED
from auditor.diff.schema import Schemas

SCHEMAS = Schemas()
CMP = Comparer(SCHEMAS)


def changes(desired: dict[str, Any], live: dict[str, Any], group: str = "apps",
            kind: str = "Deployment") -> list[tuple[tuple[str, ...], Any, Any]]:
    return [tuple(c) for c in CMP.compare(desired, live, group, kind).changes]  # type: ignore[misc]


def deploy(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
            "spec": spec}


# --------------------------------------------------------------------------- metadata


def meta(**m: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop", **m}}


def test_finalizers_are_a_set() -> None:
    d = meta(finalizers=["a.example.com/x", "b.example.com/y"])
    assert changes(d, meta(finalizers=["b.example.com/y", "a.example.com/x", "c/z"]), "", "ConfigMap") == []
    assert changes(d, meta(finalizers=["a.example.com/x"]), "", "ConfigMap") == [
        (("metadata", "finalizers", "[b.example.com/y]"), "b.example.com/y", None)]
    assert changes(d, meta(), "", "ConfigMap") == [(("metadata", "finalizers"), d["metadata"]["finalizers"], None)]


def test_labels_and_annotations_key_by_key() -> None:
    d = meta(labels={"app": "web", "tier": "1", "gone": "x"},
             annotations={"note": "a", "deployment.kubernetes.io/revision": "1", LAST_APPLIED: "{}"})
    live = meta(labels={"app": "api", "tier": 1, "extra": "y"},
                annotations={"note": "a", "deployment.kubernetes.io/revision": "9"})
    assert sorted(changes(d, live, "", "ConfigMap")) == [
        (("metadata", "labels", "app"), "web", "api"),
        (("metadata", "labels", "gone"), "x", None),
    ]  # "1" vs 1 is the same; server annotations are never compared


def test_server_annotation_names_matter_only_for_annotations() -> None:
    d = meta(labels={"deployment.kubernetes.io/revision": "1"})
    assert changes(d, meta(labels={"deployment.kubernetes.io/revision": "2"}), "", "ConfigMap") == [
        (("metadata", "labels", "deployment.kubernetes.io/revision"), "1", "2")]


def test_null_label_means_absent() -> None:
    assert changes(meta(labels={"a": None, "b": "1"}), meta(labels={"b": "1"}), "", "ConfigMap") == []
    assert changes(meta(labels={"a": None}), meta(labels={"a": "x"}), "", "ConfigMap") == [
        (("metadata", "labels", "a"), None, "x")]


def test_labels_when_live_has_none_or_not_a_map() -> None:
    assert changes(meta(labels={"a": "1", "b": "2"}), meta(), "", "ConfigMap") == [
        (("metadata", "labels", "a"), "1", None), (("metadata", "labels", "b"), "2", None)]
    assert changes(meta(labels={"a": "1"}), meta(labels="oops"), "", "ConfigMap") == [
        (("metadata", "labels", "a"), "1", None)]


def test_only_labels_annotations_finalizers_of_metadata() -> None:
    d = meta(generation=1, uid="u1", ownerReferences=[{"kind": "X"}], labels={"a": "1"})
    live = meta(generation=7, uid="u2", labels={"a": "1"})
    assert changes(d, live, "", "ConfigMap") == []
    # A live metadata that is not a map counts as empty.
    bad = {**meta(), "metadata": "x"}
    assert changes(meta(labels={"a": "1"}), bad, "", "ConfigMap") == [(("metadata", "labels", "a"), "1", None)]


def test_metadata_only_at_the_top() -> None:
    # spec.template.metadata is a plain map: every key git sets is compared, annotations included.
    d = deploy(template={"metadata": {"annotations": {"deployment.kubernetes.io/revision": "1"}}})
    live = deploy(template={"metadata": {"annotations": {"deployment.kubernetes.io/revision": "2"}}})
    assert changes(d, live) == [
        (("spec", "template", "metadata", "annotations", "deployment.kubernetes.io/revision"), "1", "2")]


# --------------------------------------------------------------------------- values of another type


@pytest.mark.parametrize(("dv", "lv", "expected"), [
    ({"a": 1}, "text", [(("spec", "x"), {"a": 1}, "text")]),
    ({"a": 1}, None, [(("spec", "x"), {"a": 1}, None)]),
    ({"a": 1}, MISSING, [(("spec", "x"), {"a": 1}, None)]),
    ([1, 2], {"a": 1}, [(("spec", "x"), [1, 2], {"a": 1})]),
    ([1, 2], MISSING, [(("spec", "x"), [1, 2], None)]),
    ("v", MISSING, [(("spec", "x"), "v", None)]),
    ("v", None, [(("spec", "x"), "v", None)]),
    ("v", {"a": 1}, [(("spec", "x"), "v", {"a": 1})]),
    (3, "3", []),
    ("3", 4, [(("spec", "x"), "3", 4)]),
    ({}, "anything", []),
    ([], "anything", []),
    (None, "anything", []),
    ("", "anything", []),
    ("XXXX", "", [(("spec", "x"), "XXXX", "")]),
    ({"a": {"b": 1}}, {"a": "flat"}, [(("spec", "x", "a"), {"b": 1}, "flat")]),
])
def test_values_by_type(dv: Any, lv: Any, expected: list[tuple[Any, ...]]) -> None:
    d = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"x": dv}}
    live: dict[str, Any] = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {}}
    if lv is not MISSING:
        live["spec"]["x"] = lv
    assert changes(d, live, "example.com", "Thing") == expected


def test_top_level_values() -> None:
    d = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"},
         "immutable": True, "status": {"x": 1}}
    live = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    assert changes(d, live, "", "ConfigMap") == [(("data", "b"), "2", None), (("immutable",), True, None)]
    live["data"] = "not-a-map"
    assert changes(d, live, "", "ConfigMap")[0] == (("data",), {"a": "1", "b": "2"}, "not-a-map")


# --------------------------------------------------------------------------- lists


def containers(*cs: dict[str, Any]) -> dict[str, Any]:
    return deploy(template={"spec": {"containers": list(cs)}})


C = ("spec", "template", "spec", "containers")


def test_keyed_list_items_missing_changed_and_replaced() -> None:
    d = containers({"name": "web", "image": "a", "ports": [{"containerPort": 80}]}, {"name": "side", "image": "s"})
    live = containers({"name": "side", "image": "s"}, {"name": "web", "image": "b", "ports": [
        {"containerPort": 80, "protocol": "TCP"}]})
    assert changes(d, live) == [((*C, "[name=web]", "image"), "a", "b")]
    live = containers({"name": "web", "image": "a", "ports": [{"containerPort": 80}]})
    assert changes(d, live) == [((*C, "[name=side]"), {"name": "side", "image": "s"}, None)]
    # Not a map on one side: the item is reported whole, with both values.
    live = containers({"name": "web", "image": "a", "ports": [{"containerPort": 80}]}, "side")
    d2 = containers({"name": "web", "image": "a", "ports": [{"containerPort": 80}]}, "other")
    assert changes(d2, live) == [((*C, "[other]"), "other", None)]


def test_keyed_list_every_missing_item_is_reported() -> None:
    d = containers({"name": "a", "image": "x"}, {"name": "b", "image": "x"}, {"name": "c", "image": "x"})
    live = containers({"name": "c", "image": "x"})
    assert [p[-1] for p, _, _ in changes(d, live)] == ["[name=a]", "[name=b]"]


def test_set_lists() -> None:
    d = meta(finalizers=[{"k": 1}, "a"])
    assert changes(d, meta(finalizers=["a", {"k": 1}]), "", "ConfigMap") == []
    assert changes(d, meta(finalizers=["a", {"k": 2}]), "", "ConfigMap") == [
        (("metadata", "finalizers", "[{'k': 1}]"), {"k": 1}, None)]


def test_set_list_objects_compare_by_value_whatever_the_key_order() -> None:
    d = meta(finalizers=[{"a": 1, "b": 2}])
    assert changes(d, meta(finalizers=[{"b": 2, "a": 1}]), "", "ConfigMap") == []


def rules(*rs: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}, "rules": list(rs)}


RBAC = "rbac.authorization.k8s.io"


def test_atomic_lists_of_objects_walked_by_index() -> None:
    d = rules({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
              {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]})
    live = rules({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                 {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "delete"]})
    assert changes(d, live, RBAC, "Role") == [(("rules", "[1]", "verbs"), ["get"], ["get", "delete"])]


def test_atomic_lists_equal_except_for_fields_git_does_not_set() -> None:
    d = rules({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]})
    live = rules({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"], "resourceNames": ["x"]})
    res = CMP.compare(d, live, RBAC, "Role")
    assert res.changes == []
    assert res.atomic_extra == [RawChange(("rules",), d["rules"], live["rules"])]


def test_atomic_lists_not_corresponding_reported_whole() -> None:
    d = rules({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]})
    live = rules({"apiGroups": ["x"], "resources": ["y"], "verbs": ["z"]})
    assert changes(d, live, RBAC, "Role") == [(("rules",), d["rules"], live["rules"])]
    # A rule in front of the desired one: the items no longer correspond, the list is reported whole.
    live = rules({"verbs": ["*"]}, {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]})
    assert changes(d, live, RBAC, "Role") == [(("rules",), d["rules"], live["rules"])]


def test_atomic_lists_longer_live_are_judged_as_atomic_extras() -> None:
    # Admission may append to atomic lists (DefaultTolerationSeconds adds tolerations), so a longer live
    # list whose head corresponds is not a change by itself: it is an atomic extra, which the engine reports
    # when an out-of-band manager owns the list (issue 15's drift semantics, tests/diff/test_engine_*).
    d = rules({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]})
    live = rules({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}, {"verbs": ["*"]})
    res = CMP.compare(d, live, RBAC, "Role")
    assert res.changes == []
    assert res.atomic_extra == [RawChange(("rules",), d["rules"], live["rules"])]
    # ... but a changed field inside the corresponding head is still a change, pointed at
    live = rules({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}, {"verbs": ["*"]})
    res = CMP.compare(d, live, RBAC, "Role")
    assert [tuple(c) for c in res.changes] == [(("rules", "[0]", "verbs"), ["get"], ["get", "list"])]
    assert res.atomic_extra == []


def test_atomic_scalar_lists() -> None:
    d = containers({"name": "web", "image": "a", "args": ["--port", 8080]})
    assert changes(d, containers({"name": "web", "image": "a", "args": ["--port", "8080"]})) == []
    assert changes(d, containers({"name": "web", "image": "a", "args": ["--port", "8081"]})) == [
        ((*C, "[name=web]", "args"), ["--port", 8080], ["--port", "8081"])]
    assert changes(d, containers({"name": "web", "image": "a", "args": ["--port"]})) == [
        ((*C, "[name=web]", "args"), ["--port", 8080], ["--port"])]


def test_unknown_lists_are_atomic() -> None:
    d = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"xs": ["a", "b"]}}
    live = {**d, "spec": {"xs": ["b", "a"]}}
    assert changes(d, live, "example.com", "Thing") == [(("spec", "xs"), ["a", "b"], ["b", "a"])]


def test_items_correspond_through_nested_values() -> None:
    # The same item, edited: they share a nested map value or a list element.
    d = rules({"apiGroups": ["a"], "resources": ["x"], "verbs": ["get"]})
    live = rules({"apiGroups": ["b"], "resources": ["x", "y"], "verbs": ["list"]})
    assert [p for p, _, _ in changes(d, live, RBAC, "Role")] == [
        ("rules", "[0]", "apiGroups"), ("rules", "[0]", "resources"), ("rules", "[0]", "verbs")]
    thing = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}}
    d = {**thing, "spec": {"xs": [{"sel": {"app": "web", "x": ""}, "n": 1}]}}
    live = {**thing, "spec": {"xs": [{"sel": {"app": "web"}, "n": 2}]}}
    assert changes(d, live, "example.com", "Thing") == [(("spec", "xs", "[0]", "n"), 1, 2)]
    d = {**thing, "spec": {"xs": [{"ports": [{"p": 80}], "n": 1}]}}
    live = {**thing, "spec": {"xs": [{"ports": [{"p": 80, "q": 1}], "n": 2}]}}
    assert changes(d, live, "example.com", "Thing") == [(("spec", "xs", "[0]", "n"), 1, 2)]
    live = {**thing, "spec": {"xs": [{"ports": [{"p": 81}], "n": 2}]}}  # nothing shared: replaced
    assert changes(d, live, "example.com", "Thing") == [(("spec", "xs"), d["spec"]["xs"], live["spec"]["xs"])]
    d = {**thing, "spec": {"xs": [{"tags": ["a", "b"], "n": 1}]}}
    live = {**thing, "spec": {"xs": [{"tags": ["b", "a"], "n": 2}]}}  # no element equal at the same place
    assert changes(d, live, "example.com", "Thing") == [(("spec", "xs"), d["spec"]["xs"], live["spec"]["xs"])]
    live = {**thing, "spec": {"xs": [{"tags": ["c", "b"], "n": 2}]}}  # "b" in the same place: the same item
    assert [p for p, _, _ in changes(d, live, "example.com", "Thing")] == [
        ("spec", "xs", "[0]", "tags"), ("spec", "xs", "[0]", "n")]


# --------------------------------------------------------------------------- pointers


@pytest.mark.parametrize(("token", "escaped"), [("a/b", "a~1b"), ("a~b", "a~0b"), ("~/", "~0~1"), ("plain", "plain")])
def test_escape_pointer(token: str, escaped: str) -> None:
    assert escape_pointer(token) == escaped


def test_pointer_prefers_live_indexes_then_desired() -> None:
    d = containers({"name": "web", "image": "a"}, {"name": "side", "image": "s"})
    live = containers({"name": "side", "image": "s"}, {"name": "web", "image": "b"})
    assert pointer_of(d, live, (*C, "[name=web]", "image"), SCHEMAS, "apps", "Deployment") == \
        "/spec/template/spec/containers/1/image"
    only_desired = containers({"name": "side", "image": "s"})
    assert pointer_of(d, only_desired, (*C, "[name=web]"), SCHEMAS, "apps", "Deployment") == \
        "/spec/template/spec/containers/0"
    assert pointer_of(d, live, (*C, "[name=nowhere]"), SCHEMAS, "apps", "Deployment") == \
        "/spec/template/spec/containers"


def test_locate_values_and_pointers() -> None:
    body = {"metadata": {"annotations": {"a/b": "x"}, "finalizers": ["f1", "f2"]},
            "spec": {"xs": ["p", "q", {"k": 1}], "m": {"~k": 2}, "n": 5}}
    assert locate(body, ("metadata", "annotations", "a/b"), SCHEMAS, "", "ConfigMap") == (
        "x", "/metadata/annotations/a~1b")
    assert locate(body, ("metadata", "finalizers", "[f2]"), SCHEMAS, "", "ConfigMap") == \
        ("f2", "/metadata/finalizers/1")
    assert locate(body, ("spec", "xs", "[q]"), SCHEMAS, "", "ConfigMap") == ("q", "/spec/xs/1")
    assert locate(body, ("spec", "xs", "[2]"), SCHEMAS, "", "ConfigMap") == ({"k": 1}, "/spec/xs/2")
    assert locate(body, ("spec", "xs", "[3]"), SCHEMAS, "", "ConfigMap") == (MISSING, "/spec/xs")
    assert locate(body, ("spec", "xs", "k"), SCHEMAS, "", "ConfigMap") == (MISSING, "/spec/xs")
    assert locate(body, ("spec", "m", "~k"), SCHEMAS, "", "ConfigMap") == (2, "/spec/m/~0k")
    assert locate(body, ("spec", "n", "deeper"), SCHEMAS, "", "ConfigMap") == (MISSING, "/spec/n")
    assert locate(body, ("spec", "nope"), SCHEMAS, "", "ConfigMap") == (MISSING, "/spec")


def test_locate_walks_keyed_lists_by_schema() -> None:
    body = containers({"name": "side", "image": "s", "env": [{"name": "A", "value": "1"}, {"name": "B"}]},
                      {"name": "web", "image": "w"})
    got = locate(body, (*C, "[name=side]", "env", "[name=B]"), SCHEMAS, "apps", "Deployment")
    assert got == ({"name": "B"}, "/spec/template/spec/containers/0/env/1")
    assert locate(body, (*C, "[name=web]", "image"), SCHEMAS, "apps", "Deployment") == (
        "w", "/spec/template/spec/containers/1/image")
    # [1] on a keyed list is not an index: keyed items are found by key only.
    assert locate(body, (*C, "[1]"), SCHEMAS, "apps", "Deployment")[0] is MISSING


def test_missing_repr() -> None:
    assert repr(MISSING) == "<missing>"


# --------------------------------------------------------------------------- second mutation run


@pytest.mark.parametrize("changed", ["labels", "annotations", "finalizers"])
def test_each_metadata_key_compared_whatever_the_others(changed: str) -> None:
    # COMPARED_METADATA is a set: its order differs between processes, so each key is changed in turn
    # while the others are unset (first two variants) or equal (last one): none may stop the walk.
    values = {"labels": {"a": "1"}, "annotations": {"n": "1"}, "finalizers": ["f/1"]}
    others = [k for k in values if k != changed]
    for rest in ({k: None for k in others}, {k: {} if k != "finalizers" else [] for k in others},
                 {k: values[k] for k in others}):
        d = meta(**{changed: values[changed]}, **{k: v for k, v in rest.items() if v is not None})
        live = meta(**{k: v for k, v in rest.items() if v})
        assert [p[:2] for p, _, _ in changes(d, live, "", "ConfigMap")] == [("metadata", changed)]


def test_metadata_keys_that_are_not_maps_do_not_stop_the_walk() -> None:
    for bad in ("labels", "annotations"):
        good = "annotations" if bad == "labels" else "labels"
        d = meta(**{bad: ["not", "a", "map"], good: {"k": "v"}}, finalizers=["f/1"])
        got = changes(d, meta(**{bad: ["not", "a", "map", "x"]}), "", "ConfigMap")
        assert {p for p, _, _ in got} == {("metadata", "finalizers"), ("metadata", good, "k")}


def test_annotation_and_label_walks_go_on_after_skipped_keys() -> None:
    d = meta(annotations={"deployment.kubernetes.io/revision": "1", "same": "s", "note": "a"},
             labels={"tier": "1", "gone": None, "app": "web"})
    live = meta(annotations={"deployment.kubernetes.io/revision": "2", "same": "s", "note": "b"},
                labels={"tier": 1, "app": "api"})
    assert sorted(changes(d, live, "", "ConfigMap")) == [
        (("metadata", "annotations", "note"), "a", "b"), (("metadata", "labels", "app"), "web", "api")]


def test_set_items_compare_by_value_in_lists_that_differ() -> None:
    d = meta(finalizers=[{"a": 1, "b": 2}, "x"])
    assert changes(d, meta(finalizers=["y", {"b": 2, "a": 1}, "x"]), "", "ConfigMap") == []


def test_corresponding_items_through_a_later_field_and_lists_of_other_lengths() -> None:
    thing = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}}
    d = {**thing, "spec": {"xs": [{"extra": 1, "name": "x", "v": 1}]}}
    live = {**thing, "spec": {"xs": [{"name": "x", "v": 2}]}}
    assert sorted(p for p, _, _ in changes(d, live, "example.com", "Thing")) == [
        ("spec", "xs", "[0]", "extra"), ("spec", "xs", "[0]", "v")]
    d = {**thing, "spec": {"xs": [{"tags": ["a", "b"], "n": 1}]}}
    live = {**thing, "spec": {"xs": [{"tags": ["a"], "n": 2}]}}
    assert [p for p, _, _ in changes(d, live, "example.com", "Thing")] == [
        ("spec", "xs", "[0]", "tags"), ("spec", "xs", "[0]", "n")]


def test_pointer_falls_back_to_live_when_desired_lacks_the_path_too() -> None:
    d = containers({"name": "web", "image": "a"})
    live = deploy()  # no template at all
    assert pointer_of(d, live, (*C, "[name=nowhere]"), SCHEMAS, "apps", "Deployment") == "/spec"


def test_locate_metadata_lists_of_kinds_without_schema() -> None:
    body = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {
        "name": "t", "ownerReferences": [{"uid": "0", "kind": "A"}, {"uid": "1", "kind": "B"}]}}
    got = locate(body, ("metadata", "ownerReferences", "[uid=1]"), SCHEMAS, "example.com", "Thing")
    assert got == ({"uid": "1", "kind": "B"}, "/metadata/ownerReferences/1")


def test_all_metadata_keys_changed_at_once() -> None:
    d = meta(labels={"a": "1"}, annotations={"n": "1"}, finalizers=["f/1"])
    live = meta(labels={"a": "2"}, annotations={"n": "2"}, finalizers=["f/2"])
    assert {p[:2] for p, _, _ in changes(d, live, "", "ConfigMap")} == {
        ("metadata", "labels"), ("metadata", "annotations"), ("metadata", "finalizers")}


def test_keyed_list_items_that_are_not_both_maps() -> None:
    # Not valid for the API, but the comparison must report, not crash: same segment, other value.
    assert changes(containers(80), containers("80")) == [((*C, "[80]"), 80, "80")]
    assert changes(containers({"name": "x"}), containers("name=x")) == [((*C, "[name=x]"), {"name": "x"}, "name=x")]


def test_items_correspond_even_when_an_earlier_list_field_differs_in_length() -> None:
    thing = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}}
    d = {**thing, "spec": {"xs": [{"tags": ["x", "y"], "name": "n", "v": 1}]}}
    live = {**thing, "spec": {"xs": [{"tags": ["z"], "name": "n", "v": 2}]}}
    assert [p for p, _, _ in changes(d, live, "example.com", "Thing")] == [
        ("spec", "xs", "[0]", "tags"), ("spec", "xs", "[0]", "v")]


def test_metadata_schema_only_for_the_top_level_metadata() -> None:
    body = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"},
            "spec": {"ownerReferences": [{"uid": "0"}, {"uid": "1"}]}}
    got = locate(body, ("spec", "ownerReferences", "[uid=1]"), SCHEMAS, "example.com", "Thing")
    assert got == (MISSING, "/spec/ownerReferences")


def test_appended_rbac_rule_without_managed_fields_is_drift() -> None:
    # RBAC rules are never defaulted by admission: a wildcard rule added by hand must be reported even when
    # the live object carries no managedFields (a snapshot, an API server that strips them).
    from tests.diff.test_engine_misc import role, run

    live = role(["get"])
    live["rules"].append({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})
    assert [(f.rule_id, f.path) for f in run([role(["get"])], [live]).findings] == [("drift.modified", "rules")]


def test_atomic_extras_without_managed_fields_are_reported_unless_server_defaults() -> None:
    from auditor.model import DriftKind
    from tests.diff.test_engine_misc import run

    mine = {"key": "dedicated", "operator": "Equal", "value": "shop", "effect": "NoSchedule"}
    defaulted = [{"effect": "NoExecute", "key": f"node.kubernetes.io/{k}", "operator": "Exists",
                  "tolerationSeconds": 300} for k in ("not-ready", "unreachable")]

    def pod(tolerations: list[dict[str, object]]) -> dict[str, object]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
                "spec": {"containers": [{"name": "c", "image": "x:1"}], "tolerations": tolerations}}

    # DefaultTolerationSeconds appends these to every pod: admission, not drift, with or without managedFields.
    out = run([pod([mine])], [pod([mine, *defaulted])])
    assert out.findings == () and [d.kind for d in out.drifts] == [DriftKind.IN_SYNC]
    by_hand = {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}
    out = run([pod([mine])], [pod([mine, *defaulted, by_hand])])
    (f,) = out.findings
    assert (f.rule_id, f.path) == ("drift.modified", "spec.tolerations")
    assert f.credit is None or f.credit.live is None  # nobody can be named without managedFields


# --------------------------------------------------------------------------- third mutation run


def _crd(props: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "spec": {"group": "ex.com", "scope": "Namespaced", "names": {"kind": "Thing"}, "versions": [
                {"name": "v1", "storage": True, "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": props}}}}}]}}


def _thing(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "ex.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": spec}


def test_locate_keyed_lists_under_a_map_of_any_key() -> None:
    schemas = Schemas([_crd({"byZone": {"type": "object", "additionalProperties": {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}})])
    body = _thing({"byZone": {"eu": [{"name": "a"}, {"name": "b", "size": 2}]}})
    assert locate(body, ("spec", "byZone", "eu", "[name=b]", "size"), schemas, "ex.com", "Thing") == (
        2, "/spec/byZone/eu/1/size")


def test_atomic_list_items_keep_their_schema_when_walked_by_index() -> None:
    # An atomic list of objects whose items hold a set: the set is compared as a set inside each item.
    schemas = Schemas([_crd({"rules": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"},
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}}})])
    cmp = Comparer(schemas)
    d = _thing({"rules": [{"name": "r", "tags": ["x"]}]})
    same_set = _thing({"rules": [{"name": "r", "tags": ["y", "x"]}]})
    res = cmp.compare(d, same_set, "ex.com", "Thing")
    assert res.changes == []
    assert res.atomic_extra == [RawChange(("spec", "rules"), d["spec"]["rules"], same_set["spec"]["rules"])]
    missing_tag = _thing({"rules": [{"name": "r", "tags": ["y"]}]})
    assert [tuple(c) for c in cmp.compare(d, missing_tag, "ex.com", "Thing").changes] == [
        (("spec", "rules", "[0]", "tags", "[x]"), "x", None)]


_FINALIZERS_FIRST = """
import json, sys
from auditor.diff.compare import Comparer
from auditor.diff.normalize import COMPARED_METADATA
from auditor.diff.schema import Schemas
d = {"apiVersion": "v1", "kind": "ConfigMap",
     "metadata": {"name": "c", "finalizers": ["f/1"], "labels": {"a": "1"}, "annotations": {"n": "1"}}}
live = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
got = sorted(list(c.path) for c in Comparer(Schemas()).compare(d, live, "", "ConfigMap").changes)
print(json.dumps({"order": list(COMPARED_METADATA), "paths": got}))
"""


def test_metadata_keys_after_changed_finalizers_are_compared() -> None:
    """COMPARED_METADATA is a set: its order is fixed per process by the hash seed, so the keys that follow a
    changed ``finalizers`` are checked in a child process whose seed puts ``finalizers`` first."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    for seed in range(40):
        out = subprocess.run([sys.executable, "-c", _FINALIZERS_FIRST], env={**env, "PYTHONHASHSEED": str(seed)},
                             capture_output=True, text=True, check=True, timeout=60).stdout
        got = json.loads(out)
        assert sorted(got["order"]) == ["annotations", "finalizers", "labels"]
        if got["order"][0] == "finalizers":
            break
    else:
        pytest.fail("no hash seed in 0..39 orders finalizers first")
    assert got["paths"] == [["metadata", "annotations", "n"], ["metadata", "finalizers"], ["metadata", "labels", "a"]]
