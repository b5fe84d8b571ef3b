"""Load the drift corpus: desired/live pairs per kind and the out-of-band cases applied to live."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor.diff.options import IgnoreRule
from auditor.model import Manifest, ObjectRef, split_api_version

CORPUS = Path(__file__).parent / "corpus"


def to_manifest(body: dict[str, Any]) -> Manifest:
    group, _ = split_api_version(body["apiVersion"])
    meta = body["metadata"]
    return Manifest(ObjectRef(group, body["kind"], meta.get("namespace") or "", meta["name"]), body["apiVersion"], body)


def _select(lst: list[Any], sel: Any, create: bool) -> int:
    if isinstance(sel, int):
        return sel
    for i, item in enumerate(lst):
        if isinstance(item, dict) and all(item.get(k) == v for k, v in sel.items()):
            return i
    if not create:
        raise KeyError(sel)
    lst.append(dict(sel))
    return len(lst) - 1


def apply_op(body: dict[str, Any], op: dict[str, Any]) -> None:
    """``set`` (creating maps/list items on the way) or ``delete`` at a path of keys/selectors."""
    path = op["path"]
    cur: Any = body
    create = op["op"] == "set"
    for seg in path[:-1]:
        if isinstance(cur, list):
            cur = cur[_select(cur, seg, create)]
        else:
            if seg not in cur:
                nxt = path[path.index(seg) + 1]
                cur[seg] = [] if isinstance(nxt, dict | int) else {}
            cur = cur[seg]
    last = path[-1]
    if op["op"] == "set":
        if isinstance(cur, list):
            cur[_select(cur, last, True)] = op["value"]
        else:
            cur[last] = op["value"]
    elif op["op"] == "delete":
        if isinstance(cur, list):
            del cur[_select(cur, last, False)]
        else:
            del cur[last]
    elif op["op"] == "append":
        cur[last].append(op["value"])
    else:
        raise ValueError(op["op"])


@dataclass
class Case:
    kind_dir: str
    name: str
    desired: list[dict[str, Any]]
    live: list[dict[str, Any]]
    expect: list[dict[str, Any]]
    suppressed: list[dict[str, Any]] = field(default_factory=list)
    ignore: tuple[IgnoreRule, ...] = ()
    run_expect: list[dict[str, Any]] | None = None
    """Findings through ``gitops-audit run`` when they differ from ``expect`` (what run reads)."""

    @property
    def id(self) -> str:
        return f"{self.kind_dir}/{self.name}"


def _load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def load_cases() -> list[Case]:
    """Every case of every corpus directory: ``ops``/``managedFields`` change live, ``desired_ops``
    change git (both on the object named by ``object``), ``add_live``/``remove_live`` add or drop
    live objects, ``expect`` lists the findings that count (``in-sync``: none)."""
    cases: list[Case] = []
    for d in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        desired = _load_docs(d / "desired.yaml")
        live = _load_docs(d / "live.yaml")
        for spec in yaml.safe_load((d / "cases.yaml").read_text()):
            lv = copy.deepcopy(live)
            dv = copy.deepcopy(desired)
            if spec.get("desired_annotations"):
                for body in dv:
                    body["metadata"].setdefault("annotations", {}).update(spec["desired_annotations"])
                for body in lv:
                    body["metadata"].setdefault("annotations", {}).update(spec["desired_annotations"])
            target = spec.get("object")
            if isinstance(target, str):
                target = {"name": target}
            for i, body in enumerate(lv):
                if target and (body["metadata"]["name"] != target["name"]
                               or body["kind"] != target.get("kind", body["kind"])):
                    continue
                if not target and i:
                    continue
                for op in spec.get("ops", []):
                    apply_op(body, op)
                for entry in spec.get("managedFields", []):
                    entry = {"apiVersion": body["apiVersion"], "fieldsType": "FieldsV1", **entry}
                    body["metadata"].setdefault("managedFields", []).append(entry)
            for body in dv:
                if target and (body["metadata"]["name"] != target["name"]
                               or body["kind"] != target.get("kind", body["kind"])):
                    continue
                for op in spec.get("desired_ops", []):
                    apply_op(body, op)
            for rm in spec.get("remove_live", []):
                lv = [b for b in lv if b["metadata"]["name"] != rm]
            lv.extend(spec.get("add_live", []))
            expect = [] if spec.get("expect") == "in-sync" else list(spec.get("expect") or [])
            rules = tuple(IgnoreRule(**{k: tuple(v) if isinstance(v, list) else v for k, v in r.items()})
                          for r in spec.get("ignore", []))
            run_expect = None
            if "run_expect" in spec:
                run_expect = [] if spec["run_expect"] == "in-sync" else list(spec["run_expect"])
            cases.append(Case(d.name, spec["name"], dv, lv, expect, list(spec.get("suppressed", [])), rules,
                              run_expect))
    return cases
