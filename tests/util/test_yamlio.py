"""YAML parsing: values as Kubernetes reads them."""

from __future__ import annotations

import json

import pytest

from auditor.util.yamlio import (
    YamlError,
    compose_all,
    load_all,
    load_json_or_yaml,
    load_one,
    load_with_lines,
    parse_json,
)


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


# --- bounds on hostile input (issue 16) ---------------------------------------------------------------


def _bomb(levels: int = 12) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (_bomb(), "alias bomb"),
        ("a: &a [*a]\n", "refers to a node that contains it"),
        ("x: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than 1000 levels"),
        ("".join(" " * i + "a:\n" for i in range(300)) + " " * 300 + "b: 1\n", "nested deeper than 200 levels"),
    ],
)
def test_hostile_yaml_is_refused_with_a_reason(text: str, problem: str) -> None:
    for parse in (lambda: load_all(text, "t.yaml"), lambda: load_with_lines(text, "t.yaml")):
        with pytest.raises(YamlError, match=problem):
            parse()


def test_ordinary_anchors_and_merge_keys_still_work() -> None:
    doc = load_one("base: &b {cpu: 1, mem: 2}\nprod:\n  <<: *b\n  mem: 4\nlist: [*b, *b]\n", "t.yaml")
    assert doc["prod"] == {"cpu": 1, "mem": 4} and doc["list"] == [doc["base"], doc["base"]]


def test_duplicate_keys_are_reported_or_refused() -> None:
    found: list[tuple[int, str]] = []
    assert load_all("a: 1\nb:\n  c: 1\n  c: 2\n", "t.yaml", duplicates=found) == [{"a": 1, "b": {"c": 2}}]
    assert found == [(4, "c")]
    with pytest.raises(YamlError, match=r"t.yaml:3: duplicate key 'a'"):
        load_with_lines("a: 1\nb: 2\na: 3\n", "t.yaml", strict_keys=True)
    dups: list[tuple[int, str]] = []
    assert load_json_or_yaml(b'{"a": 1, "a": 2}', "t.json", duplicates=dups) == [{"a": 2}]
    assert dups == [(0, "a")]


def test_json_depth_and_surrogates() -> None:
    with pytest.raises(YamlError, match="nested deeper than"):
        parse_json(b"[" * 3000 + b"]" * 3000, "api")
    with pytest.raises(YamlError, match="nested deeper than 200"):
        parse_json(b"[" * 250 + b"]" * 250, "api")
    assert parse_json(json.dumps([[["ok"]]]).encode(), "api") == [[["ok"]]]
    assert parse_json(b'{"k\\ud800": "v\\udfff", "ok": "\\ud83d\\ude00"}', "api") == {"k\ufffd": "v\ufffd",
                                                                                      "ok": "\U0001f600"}


def test_compose_all_has_the_same_bounds() -> None:
    assert [n.tag for n in compose_all("a: 1\n---\nb: 2\n", "t.yaml")] == ["tag:yaml.org,2002:map"] * 2
    with pytest.raises(YamlError, match="nested deeper"):
        compose_all("x: " + "{a: " * 3000 + "1" + "}" * 3000, "t.yaml")
