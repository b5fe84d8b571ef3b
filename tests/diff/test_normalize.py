"""Normalization quirks, one table per function."""

from __future__ import annotations

from decimal import Decimal

import pytest

from auditor.diff import normalize as n
from auditor.util import secrets


@pytest.mark.parametrize(("a", "b", "equal"), [
    ("500m", "0.5", True),
    ("1Gi", "1024Mi", True),
    ("1000Mi", "1Gi", False),
    ("1", 1, True),
    (1, "1000m", True),
    ("2", "2000m", True),
    ("1e3", "1k", True),
    ("1E", "1000P", True),
    ("0.1", 0.1, True),
    ("128974848", "129e6", False),
    ("129e6", "129M", True),
    ("100Mi", "100M", False),
    ("1.5Gi", "1536Mi", True),
    ("abc", "abc", False),
    (True, 1, False),
])
def test_quantities(a: object, b: object, equal: bool) -> None:
    assert n.quantities_equal(a, b) is equal


def test_parse_quantity_exact() -> None:
    assert n.parse_quantity("250m") == Decimal("0.25")
    assert n.parse_quantity("1Ki") == 1024
    assert n.parse_quantity("x1") is None
    assert n.parse_quantity(None) is None


@pytest.mark.parametrize(("parent", "key", "expected"), [
    ("limits", "cpu", True), ("requests", "memory", True), ("hard", "pods", True),
    ("emptyDir", "sizeLimit", True), ("spec", "replicas", False), ("data", "LIMIT", False),
    ("target", "averageValue", True), ("target", "value", True), ("env", "value", False), ("max", "cpu", True),
])
def test_quantity_fields(parent: str, key: str, expected: bool) -> None:
    assert n.is_quantity_field(parent, key) is expected


@pytest.mark.parametrize(("a", "b", "equal"), [
    (3, "3", True), ("8080", 8080, True), (1.5, "1.5", True), ("25%", 25, False), (True, "true", False),
    ("a", "a", False),  # equal strings never reach this check; it only bridges types
])
def test_numbers_vs_strings(a: object, b: object, equal: bool) -> None:
    assert n.numbers_equal(a, b) is equal


@pytest.mark.parametrize("value", [None, "", {}, []])
def test_unset(value: object) -> None:
    assert n.is_unset(value)


@pytest.mark.parametrize("value", [0, False, "0", {"a": 1}, [0]])
def test_set(value: object) -> None:
    assert not n.is_unset(value)


def test_list_item_segments_sorted_and_defaulted() -> None:
    assert n.list_item_segment({"containerPort": 80}, ("containerPort", "protocol")) == \
        "[containerPort=80,protocol=TCP]"
    assert n.list_item_segment({"protocol": "UDP", "port": 53}, ("port", "protocol")) == "[port=53,protocol=UDP]"
    assert n.list_item_segment({"name": "web"}, ("name",)) == "[name=web]"
    assert n.list_item_segment("x", ()) == "[x]"


def test_normalize_secret_folds_string_data_and_drops_last_applied() -> None:
    key = b"k" * 32
    desired = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "x"}}
    live = {"apiVersion": "v1", "kind": "Secret", "data": {"a": "eA=="}, "metadata": {
        "name": "s", "annotations": {n.LAST_APPLIED: '{"stringData":{"a":"x"}}'}}}
    d, lv = n.normalize_secret(desired, key), n.normalize_secret(live, key)
    assert d["data"] == lv["data"] and "stringData" not in d
    assert "annotations" not in lv["metadata"]
    hashed = secrets.hash_secret_object(live, key)
    assert n.secret_values_hashed(hashed)
    again = n.normalize_secret(hashed, key)
    assert again["data"] == lv["data"]
