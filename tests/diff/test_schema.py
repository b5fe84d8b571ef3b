"""Merge-key table (generated from the Kubernetes OpenAPI) and CRD schema list keys."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.diff.merge_keys_table import DEFS, KINDS
from auditor.diff.schema import Schemas

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("definition", "field", "list_type", "keys"), [
    ("core.v1.PodSpec", "containers", "map", ("name",)),
    ("core.v1.PodSpec", "initContainers", "map", ("name",)),
    ("core.v1.PodSpec", "volumes", "map", ("name",)),
    ("core.v1.Container", "env", "map", ("name",)),
    ("core.v1.Container", "ports", "map", ("containerPort", "protocol")),
    ("core.v1.Container", "volumeMounts", "map", ("mountPath",)),
    ("core.v1.ServiceSpec", "ports", "map", ("port", "protocol")),
    ("meta.v1.ObjectMeta", "finalizers", "set", ()),
    ("meta.v1.ObjectMeta", "ownerReferences", "map", ("uid",)),
])
def test_built_in_keys(definition: str, field: str, list_type: str, keys: tuple[str, ...]) -> None:
    _child, lt, k = DEFS[definition][field]
    assert (lt, k) == (list_type, keys)


def test_atomic_lists_are_absent_and_kinds_point_at_roots() -> None:
    assert "args" not in DEFS["core.v1.Container"]          # atomic: default
    assert KINDS[("apps", "Deployment")] == "apps.v1.Deployment"
    assert KINDS[("", "Service")] == "core.v1.Service"
    s = Schemas()
    node = s.root("apps", "Deployment")
    spec = s.fields(node)["spec"][0]
    template = s.fields(spec)["template"][0]
    pod = s.fields(s.fields(template)["spec"][0])
    assert pod["containers"][1:] == ("map", ("name",))


def test_crd_schema_list_keys_and_scope() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "spec": {"group": "ex.com", "scope": "Cluster", "names": {"kind": "Thing"}, "versions": [
            {"name": "v1alpha1", "storage": False, "schema": {"openAPIV3Schema": {"type": "object"}}},
            {"name": "v1", "storage": True, "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "items": {"type": "array", "x-kubernetes-list-type": "map",
                              "x-kubernetes-list-map-keys": ["id", "zone"],
                              "items": {"type": "object", "properties": {
                                  "subs": {"type": "array", "x-kubernetes-list-type": "set",
                                           "items": {"type": "string"}}}}},
                    "broken": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "string"}},
                    "byZone": {"type": "object", "additionalProperties": {
                        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "properties": {"name": {"type": "string"}}}}},
                }}}}}},
        ]},
    }
    s = Schemas([crd])
    assert ("ex.com", "Thing") in s.cluster_scoped
    spec = s.fields(s.fields(s.root("ex.com", "Thing"))["spec"][0])
    child, lt, keys = spec["items"]
    assert (lt, keys) == ("map", ("id", "zone"))
    assert s.fields(child)["subs"][1] == "set"
    assert spec["broken"][1] == "atomic"  # a map list without keys cannot be matched: whole
    by_zone = s.fields(spec["byZone"][0])
    assert by_zone["*"][1:] == ("map", ("name",))  # additionalProperties: every key alike


@pytest.mark.skipif(importlib.util.find_spec("kubernetes_validate") is None,
                    reason="kubernetes-validate (only needed to regenerate the table) not installed")
def test_generated_table_is_up_to_date(tmp_path: Path) -> None:
    out = tmp_path / "table.py"
    src = (ROOT / "auditor" / "diff" / "merge_keys_table.py").read_text()
    version = src.split("-local")[0].rsplit("v", 1)[1]
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_merge_keys.py"), "--version", version,
                    "--out", str(out)], check=True, capture_output=True)
    assert out.read_text() == src
