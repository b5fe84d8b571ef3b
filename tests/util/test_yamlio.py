"""YAML parsing: values as Kubernetes reads them."""

from __future__ import annotations

from auditor.util.yamlio import load_all, load_json_or_yaml, load_one


def test_timestamps_stay_strings_as_in_kubernetes() -> None:
    doc = load_one("a: 2024-01-01\nb: 2024-01-01T10:00:00Z\n2024-02-02: key\nc: '2024-03-03'\n", "t.yaml")
    assert doc == {"a": "2024-01-01", "b": "2024-01-01T10:00:00Z", "2024-02-02": "key", "c": "2024-03-03"}
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items())


def test_other_implicit_types_still_resolve() -> None:
    doc = load_one("b: true\nn: null\ni: 12\nf: 1.5\ns: x\n", "t.yaml")
    assert doc == {"b": True, "n": None, "i": 12, "f": 1.5, "s": "x"}


def test_multi_document_and_json() -> None:
    assert load_all("a: 2024-01-01\n---\n---\nb: 1\n", "t.yaml") == [{"a": "2024-01-01"}, {"b": 1}]
    assert load_json_or_yaml(b"since: 2024-01-01\n", "t.yaml") == [{"since": "2024-01-01"}]
