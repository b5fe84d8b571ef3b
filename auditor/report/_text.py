"""Report text made and written piece by piece, so no format holds a whole fleet's document at once.

Every writer appends its text to a :class:`Sink`: a list (``"".join`` gives the text, for tests and
small reports) or a :class:`TextFile`, which cleans and encodes each batch as it goes and writes it.
The cleaning functions (``json_safe``, ``encodable``) work character by character, so cleaning the
batches gives the same bytes as cleaning the whole text.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, Protocol


class Sink(Protocol):
    """Where a writer puts its text: anything with ``append(str)`` (a list, a :class:`TextFile`)."""

    def append(self, text: str, /) -> None:
        """Take the next piece of text."""


class TextFile:
    """A :class:`Sink` that writes UTF-8 to a binary file, ``clean``-ed, one batch of pieces at a time."""

    BATCH = 1 << 20
    """Characters gathered before a write: large enough to amortize ``clean`` and the write call."""

    def __init__(self, fh: IO[bytes], clean: Callable[[str], str] = str) -> None:
        """``clean`` must work per character (it sees arbitrary cuts of the text)."""
        self._fh, self._clean = fh, clean
        self._parts: list[str] = []
        self._size = 0
        self.written = 0
        """Bytes written so far."""

    def append(self, text: str, /) -> None:
        """Take one piece; write the batch once it is large enough."""
        self._parts.append(text)
        self._size += len(text)
        if self._size >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        """Write what is gathered (call once at the end)."""
        if self._parts:
            data = self._clean("".join(self._parts)).encode("utf-8")
            self._fh.write(data)
            self.written += len(data)
            self._parts.clear()
            self._size = 0


class Rows:
    """A list whose items are made one at a time while :func:`write_pretty` writes them.

    A report's targets or observations as dicts are several times the size of their JSON text;
    made and written one by one, only one item's dict is alive at a time. Deliberately not a
    ``list`` subclass: the C JSON encoder would read such a list's (empty) storage and write ``[]``.
    """

    def __init__(self, items: Sequence[Any], make: Callable[[Any], Any]) -> None:
        """``make(item)`` is the JSON-ready value of each of ``items``."""
        self._items, self._make = items, make

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return (self._make(item) for item in self._items)


def _default(value: Any) -> Any:
    return list(value) if isinstance(value, Rows) else str(value)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "), default=_default)
"""One encoder for every value: ``json.dumps`` with options builds a new encoder per call, which cost more than
the encoding of a report's small values (2.7 million calls for 15,000 findings)."""
_encode = _ENCODER.encode
_encode_str = json.encoder.encode_basestring  # what the encoder does with a str, without its checks


def _one_line(value: Any) -> str:
    return _encode_str(value) if type(value) is str else _encode(value)


_FLUSH_LEVELS = 3
"""Levels whose items are handed to the sink one by one, like the items of :class:`Rows` at any level (a report's
targets, findings, observations): below them an item's text is small, and is built whole before it goes."""


def write_pretty(value: Any, out: Sink, compact_depth: int = 4, *, indent_below: bool = False) -> None:
    """Append ``value`` as JSON indented down to ``compact_depth`` levels, each value below on one line.

    ``json.dumps(indent=...)`` falls back to the pure-Python encoder, which is ~10x slower; here
    only the few outer levels are laid out in Python and each row (finding, SARIF result) is
    encoded by the C encoder on one line, which also keeps diffs of golden files readable.
    With ``indent_below`` every level is indented (``compact_depth`` is not used), so the whole text is
    ``json.dumps(value, indent=2, ensure_ascii=False)`` (OSCAL), still written value by value.
    :class:`Rows` are made while written.
    """
    # Indented all the way down, each container is laid out here and only scalars go to the C encoder:
    # ``json.dumps(indent=...)`` builds a cycle of closures per call, and a writer that runs with the
    # collector paused would keep one per row until it ends (37 MB for OSCAL at 13,000 findings).
    _pretty(value, math.inf if indent_below else compact_depth, 0, out)


def dumps_pretty(value: Any, compact_depth: int = 4, *, indent_below: bool = False) -> str:
    """:func:`write_pretty` as one string (joined once: joining level by level held a copy per level)."""
    out: list[str] = []
    write_pretty(value, out, compact_depth, indent_below=indent_below)
    return "".join(out)


def _pretty(value: Any, compact_depth: float, level: int, out: Sink) -> None:
    # Pieces go to a local list, handed to ``out`` joined after each item of an outer level or of :class:`Rows`:
    # ``out.append`` is a Python method (``TextFile``), too slow to call for each of millions of pieces.
    buf: list[str] = []
    _lay_out(value, compact_depth, level, buf, out)
    if buf:
        out.append("".join(buf))


def _lay_out(value: Any, compact_depth: float, level: int, buf: list[str], out: Sink) -> None:
    """Append ``value``'s text to ``buf``; the items of outer levels and of :class:`Rows` then go to ``out``."""
    if isinstance(value, Rows) and (level >= compact_depth or not value):
        value = list(value)
    if level >= compact_depth or not isinstance(value, dict | list | Rows) or not value:
        buf.append(_one_line(value))
        return
    pad = "  " * (level + 1)
    flush = level < _FLUSH_LEVELS or isinstance(value, Rows)
    # Keys and items zipped in C (no Python step per item): this loop runs for every container of a report.
    if isinstance(value, dict):
        opening, colon, closing = "{", ": ", "}"
        items: Any = zip(map(_encode_str, map(str, value)), value.values(), strict=True)
    else:
        opening, colon, closing = "[", "", "]"
        items = zip(itertools.repeat(""), value)
    lead = opening + "\n" + pad
    for key, item in items:
        buf.append(lead + key + colon)
        lead = ",\n" + pad
        _lay_out(item, compact_depth, level + 1, buf, out)
        if flush:
            out.append("".join(buf))
            buf.clear()
    buf.append("\n" + "  " * level + closing)
