"""Check a loaded report against the model's own type annotations.

:func:`auditor.report.json_report.load` builds the model from JSON without looking at the types of the
values, so a corrupted or hand-edited report (``"run_id": 7``, ``"images": "x"``) used to load and then
crash a formatter or the shard merge far from the cause. The model's annotations already say what every
field holds; one checker per annotation is built once and reused.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import operator
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

Checker = Callable[[Any], None]


class ShapeError(TypeError):
    """A value of the loaded report does not have the type its model field declares."""

    def __init__(self, where: str, expected: str, got: str) -> None:
        super().__init__(f"{where or 'value'}: expected {expected}, got {got}")
        self.where, self.expected, self.got = where, expected, got

    def inside(self, step: str) -> ShapeError:
        """The same error, one level up (``step`` is a field name or ``[i]``)."""
        sep = "" if not self.where or self.where.startswith("[") else "."
        return ShapeError(step + sep + self.where, self.expected, self.got)


def check(value: Any) -> None:
    """Raise :class:`ShapeError` (naming the field) when a model object does not match its annotations."""
    hint: Any = type(value)
    _checker(hint)(value)


@functools.cache
def _checker(hint: Any) -> Checker:
    """One checker per annotation (cached: the model has a few dozen distinct annotations)."""
    if hint is Any:
        return _accept
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return _union(args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _sequence(_checker(args[0]))
        return _fixed(tuple(_checker(a) for a in args))
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        return _mapping(_checker(args[0]) if args else _accept, _checker(args[1]) if args else _accept)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _simple(lambda v: isinstance(v, hint), hint.__name__)
    simple = _SIMPLE.get(hint)
    if simple is None:
        raise NotImplementedError(f"no shape check for annotation {hint!r}")  # a new model type: add it here
    return _simple(*simple)


_SIMPLE: dict[Any, tuple[Callable[[Any], bool], str]] = {
    type(None): (lambda v: v is None, "null"),
    bool: (lambda v: v is True or v is False, "a boolean"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
}


def _got(value: Any) -> str:
    return type(value).__name__


def _accept(value: Any) -> None:
    return None


def _simple(test: Callable[[Any], bool], label: str) -> Checker:
    def run(value: Any) -> None:
        if not test(value):
            raise ShapeError("", label, _got(value))

    return run


def _dataclass(cls: type) -> Checker:
    hints = typing.get_type_hints(cls)
    # Plain string fields (most of them) are checked in one pass: this runs for every finding.
    strings = tuple(f.name for f in dataclasses.fields(cls) if hints[f.name] is str)
    fields = [(f.name, _checker(hints[f.name])) for f in dataclasses.fields(cls) if hints[f.name] is not str]
    get_strings = operator.attrgetter(*strings) if len(strings) > 1 else None

    def run(value: Any) -> None:
        if not isinstance(value, cls):
            raise ShapeError("", cls.__name__, _got(value))
        values = get_strings(value) if get_strings else tuple(getattr(value, n) for n in strings)
        for name, v in zip(strings, values, strict=True) if not all(type(v) is str for v in values) else ():
            if not isinstance(v, str):
                raise ShapeError(name, "a string", _got(v))
        for name, fn in fields:
            try:
                fn(getattr(value, name))
            except ShapeError as exc:
                raise exc.inside(name) from None

    return run


def _union(args: tuple[Any, ...]) -> Checker:
    others = [a for a in args if a is not type(None)]
    if len(others) == 1 and len(args) == 2:  # ``X | None``: a non-null value gets X's precise message
        inner = _checker(others[0])

        def optional(value: Any) -> None:
            if value is not None:
                inner(value)

        return optional
    arms = [_checker(a) for a in args]
    label = " or ".join("null" if a is type(None) else getattr(a, "__name__", str(a)) for a in args)

    def run(value: Any) -> None:
        for arm in arms:
            try:
                arm(value)
            except ShapeError:
                continue
            return
        raise ShapeError("", label, _got(value))

    return run


def _sequence(item: Checker) -> Checker:
    def run(value: Any) -> None:
        if not isinstance(value, tuple):
            raise ShapeError("", "a list", _got(value))
        for i, v in enumerate(value):
            try:
                item(v)
            except ShapeError as exc:
                raise exc.inside(f"[{i}]") from None

    return run


def _fixed(items: tuple[Checker, ...]) -> Checker:
    def run(value: Any) -> None:
        if not isinstance(value, tuple) or len(value) != len(items):
            raise ShapeError("", f"a list of {len(items)}", _got(value))
        for i, (fn, v) in enumerate(zip(items, value, strict=True)):
            try:
                fn(v)
            except ShapeError as exc:
                raise exc.inside(f"[{i}]") from None

    return run


def _mapping(key: Checker, val: Checker) -> Checker:
    def run(value: Any) -> None:
        if not isinstance(value, Mapping):
            raise ShapeError("", "an object", _got(value))
        for k, v in value.items():
            try:
                key(k)
                val(v)
            except ShapeError as exc:
                raise exc.inside(f"[{k!r}]") from None

    return run
