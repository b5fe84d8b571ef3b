"""The JSON text writers of the reports: the same text as the standard library's, without its peak memory."""

from __future__ import annotations

import io
import json
import random
from typing import Any

from auditor.report._text import Rows, TextFile, dumps_pretty
from auditor.util.text import encodable, json_safe


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


def test_indent_below_is_json_dumps_with_an_indent_at_any_depth() -> None:
    for value in _values(1, 2000):
        for depth in (0, 1, 3, 5):
            assert dumps_pretty(value, depth, indent_below=True) == json.dumps(value, indent=2, ensure_ascii=False)
    many = _values(2, 30000)
    assert dumps_pretty(many, 2, indent_below=True) == json.dumps(many, indent=2, ensure_ascii=False)


def test_text_file_cleans_and_writes_in_batches_with_the_bytes_of_the_whole_text(monkeypatch: Any) -> None:
    monkeypatch.setattr(TextFile, "BATCH", 7)  # cuts fall everywhere, also between a surrogate pair's halves
    pieces = ["a\u202e", "\ud800b", "\u0085", "é\u2028", "", "\U0001f600", "\udc00z", "x" * 20]
    for clean in (json_safe, encodable):
        buf = io.BytesIO()
        sink = TextFile(buf, clean)
        for p in pieces:
            sink.append(p)
        sink.flush()
        assert buf.getvalue() == clean("".join(pieces)).encode("utf-8")
        assert sink.written == len(buf.getvalue())


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


def test_each_row_reaches_the_sink_before_the_next_is_made_at_any_depth() -> None:
    """Streaming: a row's text is handed over before the next row exists (OSCAL's observations sit 5 deep)."""
    from auditor.report._text import write_pretty

    got: list[str] = []

    def make(i: int) -> dict[str, Any]:
        if i:  # the previous row is already written out
            assert f'"row": {i - 1}' in "".join(got)
        return {"row": i, "x": [{"y": i}]}

    expected = {"a": {"b": [{"c": {"rows": [{"row": i, "x": [{"y": i}]} for i in range(5)]}}]}}
    for depth, indent_below in ((10, False), (0, True)):
        got.clear()
        write_pretty({"a": {"b": [{"c": {"rows": Rows(range(5), make)}}]}}, got, depth, indent_below=indent_below)
        assert json.loads("".join(got)) == expected
    # Below the compact depth the rows are one line of the enclosing value, still a list.
    assert json.loads(dumps_pretty({"a": {"b": [{"c": {"rows": Rows(range(5), make)}}]}}, 2)) == expected
