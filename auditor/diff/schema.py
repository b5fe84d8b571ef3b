"""List semantics per field: the generated built-in table plus CRD schemas found in desired/live.

A schema *node* is a definition name; ``field(node, name)`` gives ``(child node, list type, keys)``.
Built-in kinds come from :mod:`auditor.diff.merge_keys_table` (generated from the Kubernetes
OpenAPI by ``scripts/gen_merge_keys.py``); custom resources from ``x-kubernetes-list-type`` /
``x-kubernetes-list-map-keys`` in their CRD's ``openAPIV3Schema``, when the CRD is at hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from auditor.diff.merge_keys_table import DEFS, KINDS

FieldSpec = tuple[str, str, tuple[str, ...]]
"""(child node or '', list type ``map``/``set``/``atomic``/'', merge keys)."""

_CRD_GROUP = "apiextensions.k8s.io"

ANY_KEY = "*"
"""Field name standing for every key of a map (``additionalProperties`` in a CRD schema)."""


class Schemas:
    """Field lookup for one target: built-in definitions plus the CRDs seen in desired/live."""

    def __init__(self, crds: Iterable[Mapping[str, Any]] = ()) -> None:
        crd_defs: dict[str, dict[str, FieldSpec]] = {}
        crd_kinds: dict[tuple[str, str], str] = {}
        cluster: set[tuple[str, str]] = set()
        for crd in crds:
            spec = crd.get("spec") or {}
            group = spec.get("group", "")
            kind = (spec.get("names") or {}).get("kind", "")
            if not group or not kind:
                continue
            if spec.get("scope") == "Cluster":
                cluster.add((group, kind))
            schema = _storage_schema(spec)
            if schema:
                root = f"crd:{group}/{kind}"
                _convert(schema, root, crd_defs)
                crd_kinds[(group, kind)] = root
        self.defs: Mapping[str, Mapping[str, FieldSpec]] = {**DEFS, **crd_defs} if crd_defs else DEFS
        self.kinds: Mapping[tuple[str, str], str] = {**KINDS, **crd_kinds} if crd_kinds else KINDS
        self.cluster_scoped: frozenset[tuple[str, str]] = frozenset(cluster)

    def root(self, group: str, kind: str) -> str:
        """Schema node of a kind's top level ('' when unknown: maps and atomic lists only)."""
        return self.kinds.get((group, kind), "")

    def fields(self, node: str) -> Mapping[str, FieldSpec] | None:
        """Field table of a node, or None."""
        return self.defs.get(node) if node else None


def _storage_schema(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The openAPIV3Schema of the storage version (else the first version that has one)."""
    versions = spec.get("versions") or []
    chosen = None
    for v in versions:
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        if schema and (chosen is None or v.get("storage")):
            chosen = schema
    if chosen is None:  # apiextensions v1beta1 kept one top-level validation schema
        chosen = (spec.get("validation") or {}).get("openAPIV3Schema")
    return chosen


def _convert(schema: Mapping[str, Any], node: str, out: dict[str, dict[str, FieldSpec]]) -> None:
    """Translate one structural schema object into graph nodes (recursively)."""
    fields: dict[str, FieldSpec] = {}
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping):
            continue
        child = f"{node}.{name}"
        if prop.get("type") == "array":
            items = prop.get("items") or {}
            list_type = prop.get("x-kubernetes-list-type", "atomic")
            keys = tuple(prop.get("x-kubernetes-list-map-keys") or ())
            if list_type == "map" and not keys:
                list_type = "atomic"
            has_child = isinstance(items, Mapping) and bool(items.get("properties"))
            if has_child:
                _convert(items, child + "[]", out)
            fields[name] = (child + "[]" if has_child else "", list_type, keys)
        elif prop.get("properties"):
            _convert(prop, child, out)
            fields[name] = (child, "", ())
        elif isinstance(prop.get("additionalProperties"), Mapping):
            # map[string]T: every key has T's schema (lists inside T keep their keys)
            holder = {"properties": {ANY_KEY: prop["additionalProperties"]}}
            _convert(holder, child, out)
            if child in out:
                fields[name] = (child, "", ())
    if fields:
        out[node] = fields


def crds_in(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """CustomResourceDefinition bodies among ``objects``."""
    out = []
    for body in objects:
        if body.get("kind") == "CustomResourceDefinition" and str(body.get("apiVersion", "")).startswith(
            _CRD_GROUP + "/"
        ):
            out.append(body)
    return out
