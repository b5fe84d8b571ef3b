"""Safe YAML/JSON parsing with size limits and line numbers for error messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

try:  # libyaml is ~10x faster; fall back to the pure-Python loader when it is absent
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Loader(_SafeLoader):
    """The safe loader, minus YAML 1.1 timestamps: ``2024-01-01`` stays the string it is in Kubernetes.

    The API server and kubectl (sigs.k8s.io/yaml) read an unquoted date as a string. A ``date`` object
    here would differ from the live value (false drift) and cannot be handed to the Rego engine.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
    }

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
"""Refuse inputs larger than this: a rendered overlay or snapshot file is never this big."""


class YamlError(ValueError):
    """Malformed or oversized YAML; ``str()`` is ``source:line: problem``."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {problem}")


def _check_size(data: str | bytes, source: str) -> None:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise YamlError(source, None, f"larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB")


def _problem(exc: yaml.YAMLError, source: str) -> YamlError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{context}, {problem}" if context else str(problem)
    return YamlError(source, line, f"invalid YAML: {text}")


def load_all(data: str | bytes, source: str) -> list[Any]:
    """Parse a multi-document YAML (or JSON) stream; empty documents are dropped."""
    _check_size(data, source)
    try:
        return [d for d in yaml.load_all(data, Loader=_Loader) if d is not None]
    except yaml.YAMLError as exc:
        raise _problem(exc, source) from None


def load_one(data: str | bytes, source: str) -> Any:
    """Parse a single YAML/JSON document."""
    docs = load_all(data, source)
    if len(docs) > 1:
        raise YamlError(source, None, f"expected one document, found {len(docs)}")
    return docs[0] if docs else None


def load_json_or_yaml(data: bytes, source: str) -> list[Any]:
    """Parse JSON fast when it looks like JSON, else YAML; returns the documents."""
    _check_size(data, source)
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        try:
            return [json.loads(data)]
        except ValueError:
            pass  # JSON-looking YAML flow mapping: let the YAML parser decide
    return load_all(data, source)


def dump_all(docs: list[Any]) -> str:
    """Serialize documents as a multi-document YAML stream with stable key order."""
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def iter_items(doc: Any) -> Iterator[dict[str, Any]]:
    """Expand ``kind: List`` (and ``*List``) documents into their items; yield plain objects."""
    if not isinstance(doc, dict):
        return
    kind = doc.get("kind", "")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            yield from iter_items(item)
        return
    yield doc


def load_with_lines(data: str, source: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """Parse one YAML document and return (value, {key path tuple: 1-based line}).

    Paths use dict keys and list indexes, e.g. ``("targets", 2, "path")``.
    """
    _check_size(data, source)
    try:
        node = yaml.compose(data, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise _problem(exc, source) from None
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(n: yaml.Node, path: tuple[str | int, ...]) -> None:
        lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
                lines[(*path, key)] = k.start_mark.line + 1
                walk(v, (*path, key))
                lines[(*path, key)] = k.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, (*path, i))

    if node is None:
        return None, lines
    walk(node, ())
    try:
        value = yaml.load(data, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise _problem(exc, source) from None
    return value, lines
