"""Normalization helpers, edge by edge: what the mutation run (bench/mutation.py) found unguarded.

Booleans are never numbers, list-item path segments spell booleans, null and defaults the way
managedFields does, and a Secret already hashed by the cluster stage keeps ``stringData`` written next
to it.
"""

from __future__ import annotations

import pytest

from auditor.diff import normalize as n
from auditor.util import secrets


@pytest.mark.parametrize(("a", "b"), [(True, "True"), ("True", True), (False, "False"), (True, 1), (1, True),
                                      (False, 0), (True, True)])
def test_booleans_are_never_numbers(a: object, b: object) -> None:
    assert n.numbers_equal(a, b) is False


@pytest.mark.parametrize(("value", "text"), [(True, "true"), (False, "false"), (None, "null"), (80, "80"),
                                             (1.5, "1.5"), ("TCP", "TCP"), ("", "")])
def test_key_value_text(value: object, text: str) -> None:
    assert n.key_value_text(value) == text


@pytest.mark.parametrize(("item", "keys", "segment"), [
    ({"containerPort": 80}, ("containerPort",), "[containerPort=80]"),
    ({"name": True}, ("name",), "[name=true]"),
    ({"name": False}, ("name",), "[name=false]"),
    ({}, ("name",), "[name=null]"),
    ({}, ("protocol",), "[protocol=TCP]"),  # a single defaulted key, as managedFields spells it
    ({"protocol": "UDP"}, ("protocol",), "[protocol=UDP]"),
    ({"port": 53}, ("port", "protocol"), "[port=53,protocol=TCP]"),
    # several keys: each value spelled as key_value_text spells it, keys sorted whatever their order
    ({"b": True, "a": 1.5, "c": "x"}, ("c", "b", "a"), "[a=1.5,b=true,c=x]"),
    ({"port": "80", "on": False}, ("port", "on", "gone"), "[gone=null,on=false,port=80]"),
    ({"ip": None, "x": 1}, ("ip",), "[ip=null]"),
    (7, ("name",), "[7]"),
    (True, (), "[true]"),
])
def test_list_item_segments(item: object, keys: tuple[str, ...], segment: str) -> None:
    assert n.list_item_segment(item, keys) == segment


def test_hashed_secret_keeps_string_data_written_next_to_it() -> None:
    key = b"k" * 32
    hashed = secrets.keyed_hash(key, b"old")
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": hashed},
            "stringData": {"b": "new"}}
    out = n.normalize_secret(body, key)
    # Not the shortcut for cluster-hashed Secrets: stringData is folded in (and data hashed as given).
    assert set(out["data"]) == {"a", "b"}
    assert out["data"]["b"] == secrets.keyed_hash(key, b"new")
    assert "stringData" not in out


def test_cluster_hashed_secret_keeps_its_hashes_and_drops_last_applied() -> None:
    key = b"k" * 32
    hashed = secrets.keyed_hash(key, b"v")
    body = {"apiVersion": "v1", "kind": "Secret", "data": {"a": hashed},
            "metadata": {"name": "s", "annotations": {n.LAST_APPLIED: '{"data":{"a":"dg=="}}', "x": "y"}}}
    out = n.normalize_secret(body, key)
    assert out["data"] == {"a": hashed}  # not hashed a second time
    assert out["metadata"]["annotations"] == {"x": "y"}
