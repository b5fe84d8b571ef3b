"""The JSON text writers of the reports: the same text as the standard library's, without its peak memory."""

from __future__ import annotations

import json
import random
from typing import Any

from auditor.report._common import Rows, dumps_indented, dumps_pretty


def _values(seed: int, count: int) -> list[Any]:
    rng = random.Random(seed)

    def gen(depth: int) -> Any:
        r = rng.random()
        if depth > 6 or r < 0.3:
            return rng.choice([0, -1, 2.5, "x\u00e9\n\"", "\u2028\u2603", None, True, False, [], {}, ""])
        if r < 0.65:
            return {f"k{i}\u00e9": gen(depth + 1) for i in range(rng.randint(0, 4))}
        return [gen(depth + 1) for _ in range(rng.randint(0, 4))]

    return [gen(0) for _ in range(count)]


def test_dumps_indented_is_json_dumps_with_an_indent() -> None:
    for value in _values(1, 2000):
        assert dumps_indented(value) == json.dumps(value, indent=2, ensure_ascii=False)
    many = _values(2, 30000)  # more tokens than one batch
    assert dumps_indented(many) == json.dumps(many, indent=2, ensure_ascii=False)
    assert dumps_indented({"a": [1]}, indent=4) == json.dumps({"a": [1]}, indent=4, ensure_ascii=False)


def test_dumps_pretty_layout() -> None:
    doc = {"a": [{"b": {"c": [1, 2]}}], "e": {}, "f": [], "g": "\u00e9"}
    assert dumps_pretty(doc, compact_depth=2) == (
        '{\n  "a": [\n    {"b": {"c": [1, 2]}}\n  ],\n  "e": {},\n  "f": [],\n  "g": "\u00e9"\n}')
    assert dumps_pretty(doc, compact_depth=0) == json.dumps(doc, ensure_ascii=False, separators=(", ", ": "))
    for value in _values(3, 500):  # any depth is valid JSON with the same value
        for depth in (1, 2, 4):
            assert json.loads(dumps_pretty(value, depth)) == value


def test_rows_are_written_like_a_list_and_made_one_at_a_time() -> None:
    made: list[int] = []

    def make(i: int) -> dict[str, Any]:
        made.append(i)
        return {"i": i, "rows": [{"x": [i]}]}

    items = [1, 2, 3]
    for depth in (1, 2, 3, 6):
        as_list = dumps_pretty({"targets": [make(i) for i in items], "n": 0}, depth)
        made.clear()
        assert dumps_pretty({"targets": Rows(items, make), "n": 0}, depth) == as_list
        assert made == items  # each item made once, in order
    assert dumps_pretty({"targets": Rows([], make)}) == dumps_pretty({"targets": []})
