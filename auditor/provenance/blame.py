"""Field provenance: which file and line set a desired field, and which commit wrote that line.

Given the files that produced an object (origin resource, patches, kustomizations, in the order
kustomize applied them) and a field path such as ``spec.template.spec.containers[name=web].image``,
find the line that sets the field to its desired value and ``git blame`` that one line:
"spec.replicas = 3 set in overlays/production/us-east/replicas.yaml:7 by a1b2c3d (Alice, 2026-11-02)".

Where a value can come from, in increasing precedence (kustomize applies them in this order):
resource documents, strategic-merge and JSON 6902 patches (files, or inline ``patches[].patch``
in a kustomization), then kustomization transformers (``replicas``, ``images``, ``namespace``,
``commonLabels``/``labels``, ``commonAnnotations``). Among candidates whose value equals the desired
value, the one applied last wins; a later file in ``files`` wins over an earlier one. Nothing is
returned when no candidate holds the desired value (e.g. a value produced by a generator).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from auditor.errors import ToolError
from auditor.model import CommitInfo, FileProvenance, ObjectRef
from auditor.provenance.index import ProvenanceIndex
from auditor.util import proc, yamlio

_SEG_RE = re.compile(r"\[[^\]]*\]|[^.\[]+")
_MAX_FILE = 8 * 1024 * 1024

# Ranks: later kustomize stages override earlier ones.
_RANK_RESOURCE, _RANK_PATCH, _RANK_TRANSFORMER = 0, 1, 2


def split_path(field_path: str | Sequence[str]) -> tuple[str, ...]:
    """``a.b[name=x].c`` → ``("a", "b", "[name=x]", "c")``; tuples pass through."""
    if not isinstance(field_path, str):
        return tuple(field_path)
    return tuple(_SEG_RE.findall(field_path))


def format_path(segments: Sequence[str]) -> str:
    """Inverse of :func:`split_path` (brackets attach to the previous segment)."""
    out = ""
    for seg in segments:
        out += seg if seg.startswith("[") or not out else "." + seg
    return out


@dataclass(frozen=True)
class _Hit:
    path: str
    line: int
    rank: int
    order: int
    role: str


def _construct(node: yaml.Node) -> Any:
    return SafeConstructor().construct_object(node, deep=True)


def _same(found: Any, desired: Any) -> bool:
    if found == desired:
        return True
    if isinstance(found, bool) or isinstance(desired, bool):
        return str(found).lower() == str(desired).lower()
    if isinstance(found, int | float) and isinstance(desired, int | float):
        return float(found) == float(desired)
    if isinstance(found, dict | list) or isinstance(desired, dict | list):
        return False
    return str(found) == str(desired)


def _map_get(node: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def _item_matches(item: yaml.Node, seg: str, index: int) -> bool:
    inner = seg[1:-1]
    if isinstance(item, yaml.ScalarNode):
        return str(item.value) == inner or (inner.isdigit() and int(inner) == index)
    if "=" not in inner:
        return inner.isdigit() and int(inner) == index
    for pair in inner.split(","):
        k, _, want = pair.partition("=")
        got = _map_get(item, k)
        if got is None:
            continue  # a defaulted merge key (protocol=TCP) is absent in git
        value = _construct(got[1])
        if isinstance(value, bool):
            value = "true" if value else "false"
        if str(value) != want:
            return False
    return True


def _walk(node: yaml.Node, segs: Sequence[str]) -> tuple[yaml.Node, int] | None:
    """Follow ``segs`` from ``node``; return (value node, 1-based line of its key or item)."""
    line = node.start_mark.line + 1
    i = 0
    while i < len(segs):
        seg = segs[i]
        if seg.startswith("["):
            if not isinstance(node, yaml.SequenceNode):
                return None
            for n, item in enumerate(node.value):
                if _item_matches(item, seg, n):
                    node, line = item, item.start_mark.line + 1
                    break
            else:
                return None
            i += 1
            continue
        # Keys may contain dots (annotation keys): try the longest join of segments first.
        for j in range(len(segs), i, -1):
            if any(s.startswith("[") for s in segs[i:j]):
                continue
            got = _map_get(node, ".".join(segs[i:j]))
            if got is not None:
                node, line = got[1], got[0].start_mark.line + 1
                i = j
                break
        else:
            return None
    return node, line


def _docs(text: str, source: str) -> list[yaml.Node]:
    try:
        return yamlio.compose_all(text, source)
    except yamlio.YamlError:
        return []  # a file kustomize could render is valid YAML; anything else is not ours to judge


def _name_matches(pattern: str, name: str) -> bool:
    # Patch and resource names are written before namePrefix/nameSuffix and generator hashes.
    return not pattern or pattern == name or pattern in name


def _doc_matches(doc: yaml.Node, ref: ObjectRef | None) -> bool:
    if ref is None:
        return True
    kind = _map_get(doc, "kind")
    if kind is not None and str(kind[1].value) != ref.kind:
        return False
    meta = _map_get(doc, "metadata")
    name = _map_get(meta[1], "name") if meta else None
    return name is None or _name_matches(str(name[1].value), ref.name)


def _unescape_pointer(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _json6902_hits(ops: yaml.Node, segs: Sequence[str], value: Any, offset: int) -> Iterator[int]:
    if not isinstance(ops, yaml.SequenceNode):
        return
    for op in ops.value:
        kind = _map_get(op, "op")
        ptr = _map_get(op, "path")
        val = _map_get(op, "value")
        if kind is None or ptr is None or val is None or str(kind[1].value) not in ("add", "replace"):
            continue
        tokens = [_unescape_pointer(t) for t in str(ptr[1].value).split("/")[1:]]
        # Pointer tokens may name list items by index; our segments name them by merge key.
        if len(tokens) > len(segs):
            continue
        ok = all(
            (seg.startswith("[") and (tok.isdigit() or tok == "-")) or seg == tok
            for tok, seg in zip(tokens, segs, strict=False)
        )
        if not ok:
            continue
        found = _walk(val[1], segs[len(tokens):]) if len(tokens) < len(segs) else (val[1], val[0].start_mark.line + 1)
        if found is not None and _same(_construct(found[0]), value):
            yield found[1] + offset


def _object_hits(docs: list[yaml.Node], segs: Sequence[str], value: Any, ref: ObjectRef | None,
                 offset: int) -> Iterator[tuple[int, bool]]:
    """(line, is_patch_like) for documents that set the field to ``value``."""
    for doc in docs:
        if isinstance(doc, yaml.SequenceNode):
            for line in _json6902_hits(doc, segs, value, offset):
                yield line, True
            continue
        if not _doc_matches(doc, ref):
            continue
        found = _walk(doc, segs)
        if found is not None and _same(_construct(found[0]), value):
            yield found[1] + offset, False


def _image_hit(images: yaml.Node, value: Any) -> int | None:
    if not isinstance(images, yaml.SequenceNode) or not isinstance(value, str):
        return None
    image, _, digest = value.partition("@")
    name, tag = image, ""
    if ":" in image.rsplit("/", 1)[-1]:
        name, tag = image.rsplit(":", 1)
    for entry in images.value:
        data = _construct(entry)
        if not isinstance(data, dict):
            continue
        new_name = str(data.get("newName") or data.get("name") or "")
        if new_name != name and not name.endswith("/" + new_name):
            continue
        for key, want in (("digest", digest), ("newTag", tag), ("newName", name)):
            got = _map_get(entry, key)
            if got is not None and want and str(data.get(key)) == want:
                return got[0].start_mark.line + 1
    return None


def _kustomization_hits(doc: yaml.Node, segs: Sequence[str], value: Any,
                        ref: ObjectRef | None) -> Iterator[tuple[int, int]]:
    """(line, rank) for values a kustomization sets: inline patches and builtin transformers."""
    for key in ("patches", "patchesStrategicMerge", "patchesJson6902"):
        got = _map_get(doc, key)
        if got is None or not isinstance(got[1], yaml.SequenceNode):
            continue
        for entry in got[1].value:
            if isinstance(entry, yaml.ScalarNode):  # patchesStrategicMerge inline string
                text_node: yaml.Node | None = entry if "\n" in str(entry.value) else None
                target = None
            else:
                p = _map_get(entry, "patch")
                text_node = p[1] if p else None
                t = _map_get(entry, "target")
                target = _construct(t[1]) if t else None
            if text_node is None:
                continue
            if ref is not None and isinstance(target, dict):
                if target.get("kind") and target["kind"] != ref.kind:
                    continue
                if target.get("name") and not re.fullmatch(str(target["name"]), ref.name) and not _name_matches(
                    str(target["name"]), ref.name
                ):
                    continue
            # Block scalars start on the line after their indicator; flow scalars on their own line.
            offset = text_node.start_mark.line + (1 if getattr(text_node, "style", None) in ("|", ">") else 0)
            inner = _docs(str(text_node.value), "inline patch")
            for line, _ in _object_hits(inner, segs, value, ref if target is None else None, offset):
                yield line, _RANK_PATCH
    if tuple(segs) == ("spec", "replicas"):
        got = _map_get(doc, "replicas")
        if got is not None and isinstance(got[1], yaml.SequenceNode):
            for entry in got[1].value:
                name, count = _map_get(entry, "name"), _map_get(entry, "count")
                if name and count and (ref is None or _name_matches(str(name[1].value), ref.name)) and _same(
                    _construct(count[1]), value
                ):
                    yield count[0].start_mark.line + 1, _RANK_TRANSFORMER
    if segs and segs[-1] == "image":
        got = _map_get(doc, "images")
        image_line = _image_hit(got[1], value) if got else None
        if image_line is not None:
            yield image_line, _RANK_TRANSFORMER
    if tuple(segs) == ("metadata", "namespace"):
        got = _map_get(doc, "namespace")
        if got is not None and _same(_construct(got[1]), value):
            yield got[0].start_mark.line + 1, _RANK_TRANSFORMER
    if len(segs) >= 3 and segs[0] == "metadata" and segs[1] in ("labels", "annotations"):
        key = ".".join(segs[2:])
        sources = ["commonLabels"] if segs[1] == "labels" else ["commonAnnotations"]
        for src in sources:
            got = _map_get(doc, src)
            kv = _map_get(got[1], key) if got else None
            if kv is not None and _same(_construct(kv[1]), value):
                yield kv[0].start_mark.line + 1, _RANK_TRANSFORMER
        if segs[1] == "labels":
            got = _map_get(doc, "labels")
            if got is not None and isinstance(got[1], yaml.SequenceNode):
                for entry in got[1].value:
                    pairs = _map_get(entry, "pairs")
                    kv = _map_get(pairs[1], key) if pairs else None
                    if kv is not None and _same(_construct(kv[1]), value):
                        yield kv[0].start_mark.line + 1, _RANK_TRANSFORMER


def _is_kustomization(path: str, docs: list[yaml.Node]) -> bool:
    if Path(path).name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        return True
    kind = _map_get(docs[0], "kind") if docs else None
    return kind is not None and str(kind[1].value) in ("Kustomization", "Component")


def _stable(commit: str) -> bool:
    """Only a full sha names content that cannot change under a cache (``HEAD`` can move)."""
    return re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit) is not None


def _parsed(tree_root: Path | None, git_dir: Path | None, commit: str, path: str) -> tuple[yaml.Node, ...] | None:
    """Parsed documents of one source file; cached, since many drifted fields share a few files."""
    stamp: tuple[int, int] | None = None
    if tree_root is not None:
        try:
            st = (Path(tree_root) / path).stat()
            stamp = (st.st_mtime_ns, st.st_size)  # a rewritten file is a new cache entry
        except OSError:
            stamp = None
    key = (str(tree_root or ""), str(git_dir or ""), commit, path, stamp)
    if not _stable(commit) and stamp is None:
        return _parse_uncached(*key)
    return _parse_cached(*key)


def _parse_uncached(tree_root: str, git_dir: str, commit: str, path: str,
                    stamp: tuple[int, int] | None) -> tuple[yaml.Node, ...] | None:
    text = _read(Path(tree_root) if tree_root else None, Path(git_dir) if git_dir else None, commit, path)
    return None if text is None else tuple(_docs(text, path))


_parse_cached = functools.lru_cache(maxsize=512)(_parse_uncached)


def _read(tree_root: Path | None, git_dir: Path | None, commit: str, path: str) -> str | None:
    if tree_root is not None:
        p = Path(tree_root) / path
        if p.is_file() and p.stat().st_size <= _MAX_FILE:
            return p.read_text(encoding="utf-8", errors="replace")
    if git_dir is None:
        return None
    try:
        res = proc.run(["git", "-C", str(git_dir), "cat-file", "blob", f"{commit}:{path}"],
                       action=f"read {path} at {commit[:12]}")
    except ToolError:
        return None
    return res.stdout.decode("utf-8", "replace")


def locate_field(
    tree_root: Path | None,
    files: Sequence[FileProvenance],
    field_path: str | Sequence[str],
    value: Any,
    *,
    ref: ObjectRef | None = None,
    git_dir: Path | None = None,
    commit: str = "HEAD",
) -> FileProvenance | None:
    """The file and 1-based line that set ``field_path`` to ``value`` (no blame), or ``None``."""
    segs = split_path(field_path)
    if not segs:
        return None
    hits: list[_Hit] = []
    for order, f in enumerate(files):
        parsed = _parsed(tree_root, git_dir, commit, f.path)
        if parsed is None:
            continue
        docs = list(parsed)
        if _is_kustomization(f.path, docs):
            for doc in docs:
                for line, rank in _kustomization_hits(doc, segs, value, ref):
                    hits.append(_Hit(f.path, line, rank, order, f.role))
            continue
        for line, patch_like in _object_hits(docs, segs, value, ref, 0):
            rank = _RANK_PATCH if patch_like or f.role == "patch" else _RANK_RESOURCE
            hits.append(_Hit(f.path, line, rank, order, f.role))
    if not hits:
        return None
    best = max(hits, key=lambda h: (h.rank, h.order, h.line))
    source = next(f for f in files if f.path == best.path)
    return dataclasses.replace(source, line=best.line, commit=None)


def blame_line(git_dir: Path, commit: str, path: str, line: int) -> CommitInfo:
    """The commit that last wrote ``line`` of ``path`` as of ``commit`` (``git blame``, renames followed)."""
    if _stable(commit):
        return _blame_cached(str(git_dir), commit, path, line)
    return _blame(str(git_dir), commit, path, line)


def _blame(git_dir: str, commit: str, path: str, line: int) -> CommitInfo:
    res = proc.run(
        ["git", "-C", str(git_dir), "blame", "--porcelain", "-L", f"{line},{line}", commit, "--", path],
        action=f"blame {path}:{line}",
    )
    return parse_blame_porcelain(res.stdout.decode("utf-8", "replace"))


_blame_cached = functools.lru_cache(maxsize=4096)(_blame)


def _iso(epoch: str, tz: str) -> str:
    sign = -1 if tz.startswith("-") else 1
    hours, minutes = int(tz[1:3] or 0), int(tz[3:5] or 0)
    zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return datetime.fromtimestamp(int(epoch), zone).isoformat()


def parse_blame_porcelain(text: str) -> CommitInfo:
    """Build a :class:`CommitInfo` from ``git blame --porcelain`` output for one line."""
    lines = text.splitlines()
    if not lines:
        raise ToolError("blame: empty output")
    sha = lines[0].split()[0]
    h: dict[str, str] = {}
    for ln in lines[1:]:
        if ln.startswith("\t"):
            break
        key, _, val = ln.partition(" ")
        h[key] = val
    return CommitInfo(
        sha=sha,
        author_name=h.get("author", ""),
        author_email=h.get("author-mail", "").strip("<>"),
        author_date=_iso(h.get("author-time", "0"), h.get("author-tz", "+0000")),
        committer_name=h.get("committer", ""),
        committer_email=h.get("committer-mail", "").strip("<>"),
        commit_date=_iso(h.get("committer-time", "0"), h.get("committer-tz", "+0000")),
        subject=h.get("summary", ""),
    )


def field_origin(
    tree_root: Path | None,
    files: Sequence[FileProvenance],
    field_path: str | Sequence[str],
    value: Any,
    git_dir: Path,
    commit: str,
    *,
    ref: ObjectRef | None = None,
    index: ProvenanceIndex | None = None,
) -> FileProvenance | None:
    """The file + line that sets the field to ``value``, with the commit that wrote that line.

    ``files`` are the object's source files in kustomize application order (origin first);
    ``ref`` selects the right document in multi-document files and patch targets; ``index``
    (optional) supplies trailers and signature presence for the blamed commit.
    """
    found = locate_field(tree_root, files, field_path, value, ref=ref, git_dir=git_dir, commit=commit)
    if found is None or found.line is None:
        return None
    try:
        info = blame_line(git_dir, commit, found.path, found.line)
    except ToolError:
        return found  # e.g. the file is not committed (worktree render): line without commit
    if index is not None:
        indexed = index.commit(info.sha)
        if indexed is not None:
            info = indexed.info
    return dataclasses.replace(found, commit=info)


def describe_origin(field_path: str | Sequence[str], value: Any, origin: FileProvenance) -> str:
    """``spec.replicas = 3 set in overlays/prod/replicas.yaml:7 by a1b2c3d (Alice, 2026-11-02)``."""
    where = f"{origin.path}:{origin.line}" if origin.line else origin.path
    text = f"{format_path(split_path(field_path))} = {value} set in {where}"
    if origin.commit is not None:
        c = origin.commit
        text += f" by {c.short} ({c.author_name}, {c.author_date[:10]})"
    return text
