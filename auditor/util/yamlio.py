"""Safe YAML/JSON parsing with size limits and line numbers for error messages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

from auditor.util import text

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
MAX_DEPTH = 200
"""Refuse values nested deeper than this. Kubernetes objects (CRD schemas included) stay far below; the
stages that walk object trees recursively stay far from Python's recursion limit at this depth."""
MIN_ALIAS_BUDGET = 100_000
ALIAS_EXPANSION_FACTOR = 10
"""A document whose aliases expand it to more than max(100,000, 10 x its own node count) nodes is refused
(a "billion laughs" alias bomb); so is an alias that contains itself."""


class YamlError(ValueError):
    """Malformed or oversized YAML; ``str()`` is ``source:line: problem``."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {problem}")


DuplicateKeys = list[tuple[int, str]]
"""(1-based line, key) of mapping keys given twice in one mapping (YAML) or object (JSON)."""


class _CheckedLoader(_Loader):
    """The loader that also notes duplicate mapping keys (PyYAML silently keeps the last one)."""

    duplicate_keys: DuplicateKeys

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[tuple[str, str]] = set()
            for k, _ in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    ident = (k.tag, k.value)
                    if ident in seen:
                        self.duplicate_keys.append((k.start_mark.line + 1, str(k.value)))
                    seen.add(ident)
        return super().construct_mapping(node, deep)


MAX_FLOW_NESTING = 1000
"""Flow collections (``[[[…]]]``) nested deeper than this are refused before libyaml sees them: its
composer recurses in C and crashes the process (SIGSEGV) somewhere past 10,000 levels in a thread."""
_BRACKET_BYTES = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKET_BYTES)
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _check_size(data: str | bytes, source: str) -> None:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise YamlError(source, None, f"larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB")
    _check_flow_nesting(data, source)


def _check_flow_nesting(data: str | bytes, source: str) -> None:
    """Refuse text whose brackets could nest deeper than :data:`MAX_FLOW_NESTING`.

    Quotes are not parsed: the count is an upper bound, and only text with that many unbalanced brackets
    is refused.
    """
    opens = data.count(b"[") + data.count(b"{") if isinstance(data, bytes) else data.count("[") + data.count("{")
    if opens <= MAX_FLOW_NESTING:
        return
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    depth = 0
    deepest = 0
    for b in raw.translate(None, _NOT_BRACKETS):
        depth += _BRACKET_STEP[b]
        if depth > deepest:
            deepest = depth
            if deepest > MAX_FLOW_NESTING:
                raise YamlError(source, None, f"nested deeper than {MAX_FLOW_NESTING} levels")


def compose_all(data: str | bytes, source: str) -> list[yaml.Node]:
    """The node trees of a YAML stream (line numbers, no values), with the size and nesting bounds."""
    _check_size(data, source)
    try:
        return [n for n in yaml.compose_all(data, Loader=_SafeLoader) if n is not None]
    except yaml.YAMLError as exc:
        raise _problem(exc, source) from None
    except RecursionError:
        raise YamlError(source, None, f"nested deeper than {MAX_DEPTH} levels") from None


def _problem(exc: yaml.YAMLError, source: str) -> YamlError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{context}, {problem}" if context else str(problem)
    return YamlError(source, line, f"invalid YAML: {text}")


_ANCHOR_STR = re.compile(r"(?:^|[\s\[{,:?-])&[^\s\[\]{},]", re.M)
_ANCHOR_BYTES = re.compile(rb"(?:^|[\s\[{,:?-])&[^\s\[\]{},]", re.M)


def _may_alias(data: str | bytes) -> bool:
    """Cheap test: could the text define an anchor (and so use aliases)? Most manifests never do."""
    pattern = _ANCHOR_BYTES if isinstance(data, bytes) else _ANCHOR_STR
    return pattern.search(data) is not None  # type: ignore[arg-type]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_aliases(root: yaml.Node, source: str) -> None:
    """Refuse alias bombs and self-containing aliases, from the node graph (before any value exists)."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if done:
            on_path.discard(nid)
            sizes[nid] = 1 + sum(sizes[id(c)] for c in _children(node))
            continue
        if nid in sizes:
            continue
        if nid in on_path:
            raise YamlError(source, node.start_mark.line + 1, "an alias refers to a node that contains it")
        on_path.add(nid)
        stack.append((node, True))
        for child in _children(node):
            cid = id(child)
            if cid in on_path:
                raise YamlError(source, child.start_mark.line + 1, "an alias refers to a node that contains it")
            if cid not in sizes:
                stack.append((child, False))
    budget = max(MIN_ALIAS_BUDGET, ALIAS_EXPANSION_FACTOR * len(sizes))
    if sizes[id(root)] > budget:
        raise YamlError(source, root.start_mark.line + 1,
                        f"aliases expand this document to more than {budget:,} values (alias bomb?)")


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests dicts/lists deeper than ``limit`` (iterative: safe on any depth)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        v, d = pop()
        if d > limit:
            return True
        if type(v) is dict:
            for c in v.values():
                if type(c) is dict or type(c) is list:
                    push((c, d + 1))
        elif type(v) is list:
            for c in v:
                if type(c) is dict or type(c) is list:
                    push((c, d + 1))
    return False


def check_depth(value: Any, source: str, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`YamlError` when ``value`` is nested deeper than ``limit``."""
    if too_deep(value, limit):
        raise YamlError(source, None, f"nested deeper than {limit} levels")


def _finish(value: Any, source: str, surrogates: bool) -> Any:
    check_depth(value, source)
    return text.scrub(value) if surrogates else value


def load_all(data: str | bytes, source: str, *, duplicates: DuplicateKeys | None = None) -> list[Any]:
    """Parse a multi-document YAML (or JSON) stream; empty documents are dropped.

    Bounded: size, nesting depth, alias expansion. With ``duplicates`` given, duplicate mapping keys
    are appended to it (otherwise the last value wins, as in PyYAML and kubectl's lenient decoding).
    """
    _check_size(data, source)
    loader = _CheckedLoader(data)
    loader.duplicate_keys = duplicates if duplicates is not None else []
    aliases = _may_alias(data)
    docs: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if aliases and node is not None:
                _check_aliases(node, source)
            doc = loader.construct_document(node)
            if doc is not None:
                docs.append(doc)
    except yaml.YAMLError as exc:
        raise _problem(exc, source) from None
    except RecursionError:
        raise YamlError(source, None, f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
    surrogates = text.may_hold_surrogates(data)
    return [_finish(d, source, surrogates) for d in docs]


def load_one(data: str | bytes, source: str, *, duplicates: DuplicateKeys | None = None) -> Any:
    """Parse a single YAML/JSON document."""
    docs = load_all(data, source, duplicates=duplicates)
    if len(docs) > 1:
        raise YamlError(source, None, f"expected one document, found {len(docs)}")
    return docs[0] if docs else None


def _pairs_hook(duplicates: DuplicateKeys) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            seen: set[str] = set()
            for k, _ in pairs:
                if k in seen:
                    duplicates.append((0, k))
                seen.add(k)
        return out

    return hook


def parse_json(data: str | bytes, source: str, *, duplicates: DuplicateKeys | None = None) -> Any:
    """Parse one JSON value with the same bounds as YAML (size, depth, surrogates); YamlError when invalid."""
    _check_size(data, source)
    try:
        value = json.loads(data) if duplicates is None else json.loads(data, object_pairs_hook=_pairs_hook(duplicates))
    except RecursionError:
        raise YamlError(source, None, f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise YamlError(source, getattr(exc, "lineno", None), f"invalid JSON: {getattr(exc, 'msg', exc)}") from None
    return _finish(value, source, text.may_hold_surrogates(data))


def load_json_or_yaml(data: bytes, source: str, *, duplicates: DuplicateKeys | None = None) -> list[Any]:
    """Parse JSON fast when it looks like JSON, else YAML; returns the documents."""
    _check_size(data, source)
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        found: DuplicateKeys = []
        try:
            value = json.loads(data) if duplicates is None else json.loads(data, object_pairs_hook=_pairs_hook(found))
        except RecursionError:
            raise YamlError(source, None, f"nested deeper than {MAX_DEPTH} levels") from None
        except ValueError:
            pass  # JSON-looking YAML flow mapping: let the YAML parser decide
        else:
            if duplicates is not None:
                duplicates.extend(found)
            return [_finish(value, source, text.may_hold_surrogates(data))]
    return load_all(data, source, duplicates=duplicates)


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


def load_with_lines(
    data: str, source: str, *, strict_keys: bool = False
) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """Parse one YAML document and return (value, {key path tuple: 1-based line}).

    Paths use dict keys and list indexes, e.g. ``("targets", 2, "path")``. Bounded like
    :func:`load_all`; with ``strict_keys`` a key given twice in one mapping is an error at its line.
    """
    _check_size(data, source)
    loader = _CheckedLoader(data)
    loader.duplicate_keys = []
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_aliases(node, source)
        value = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _problem(exc, source) from None
    except RecursionError:
        raise YamlError(source, None, f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
    if strict_keys and loader.duplicate_keys:
        line, key = loader.duplicate_keys[0]
        raise YamlError(source, line, f"duplicate key {key!r} (a key may appear once per mapping)")
    value = _finish(value, source, text.may_hold_surrogates(data))
    lines: dict[tuple[str | int, ...], int] = {}
    # Iterative walk: the alias check above bounds how far aliases can expand it.
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(node, ())]
    while stack:
        n, path = stack.pop()
        lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for k, v in reversed(n.value):
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
                lines[(*path, key)] = k.start_mark.line + 1
                stack.append((v, (*path, key)))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in reversed(list(enumerate(n.value))):
                stack.append((v, (*path, i)))
    return value, lines
