"""``gitops-audit diff --desired FILE --live FILE [-o text|json]``: explain drift for one object.

For users asking "why does it say drift?": compares one desired manifest with one live object
(or two multi-document files matched by identity) with the same engine as the audit, and prints
each difference with its path, old → new value and who wrote it. Exit 0 in sync, 1 drift,
2 bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from auditor.diff.engine import diff_target
from auditor.diff.options import DriftOptions, IgnoreRule
from auditor.diff.render import render_json, render_text
from auditor.errors import DiffError
from auditor.model import LiveState, Manifest, ObjectRef, Target, split_api_version
from auditor.util import yamlio


def register(subparsers: Any) -> None:
    """Add the ``diff`` subcommand."""
    p = subparsers.add_parser(
        "diff",
        help="compare desired manifest(s) with live object(s) and explain each difference",
        description="Compare desired manifest(s) with live object(s) as the audit does, and print each "
        "difference with its path, old → new value and the field manager that wrote it. "
        "Exit 0 in sync, 1 drift, 2 bad input.",
    )
    p.add_argument("--desired", required=True, metavar="FILE", help="desired manifest(s), YAML or JSON")
    p.add_argument("--live", required=True, metavar="FILE",
                   help="live object(s) as 'kubectl get -o yaml|json' prints them")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.add_argument("--namespace", default="default",
                   help="namespace for desired namespaced objects that name none (default: default)")
    p.add_argument("--ignore-pointer", action="append", default=[], metavar="POINTER",
                   help="JSON pointer to ignore on every object (repeatable), e.g. /spec/replicas")
    p.set_defaults(func=handler)


def _load(path: str, role: str) -> list[Manifest]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DiffError(f"read {role} {path}: {exc.strerror or exc}") from None
    try:
        docs = yamlio.load_json_or_yaml(data, path)
    except yamlio.YamlError as exc:
        # One line, position only: never echo the document (it may be a Secret).
        where = f"{path}:{exc.line}" if exc.line else path
        problem = (exc.problem.splitlines() or ["invalid YAML"])[0]
        raise DiffError(f"read {role} {where}: {problem}") from None
    out: list[Manifest] = []
    n = 0
    for doc in docs:
        for item in yamlio.iter_items(doc):
            n += 1
            kind = item.get("kind")
            meta = item.get("metadata")
            api_version = item.get("apiVersion")
            name = meta.get("name") if isinstance(meta, dict) else None
            if not isinstance(kind, str) or not isinstance(name, str) or not isinstance(api_version, str):
                raise DiffError(f"read {role} {path}: object {n} lacks apiVersion, kind or metadata.name")
            group, _ = split_api_version(api_version)
            ns = meta.get("namespace") or "" if isinstance(meta, dict) else ""
            out.append(Manifest(ObjectRef(group, kind, str(ns), name), api_version, item))
    if not out:
        raise DiffError(f"read {role} {path}: no Kubernetes objects found")
    return out


def handler(args: argparse.Namespace) -> int:
    """Run the comparison and print it; returns the exit code (0 in sync, 1 drift, 2 bad input)."""
    try:
        desired = _load(args.desired, "desired")
        live = _load(args.live, "live")
    except DiffError as exc:
        print(f"gitops-audit diff: {exc}", file=sys.stderr)
        return 2
    namespace = args.namespace
    if len(desired) == 1 and len(live) == 1:
        d, lv = desired[0].ref, live[0].ref
        if (d.group, d.kind, d.name) != (lv.group, lv.kind, lv.name) or (d.namespace and d.namespace != lv.namespace):
            print(f"gitops-audit diff: desired {d.subject} and live {lv.subject} are different objects",
                  file=sys.stderr)
            return 2
        if not d.namespace and lv.namespace:
            namespace = lv.namespace
    rules = (IgnoreRule(json_pointers=tuple(args.ignore_pointer), id="--ignore-pointer"),) \
        if args.ignore_pointer else ()
    options = dataclasses.replace(DriftOptions(), orphans=False, ignore=rules)
    target = Target(name="diff", namespace=namespace)
    outcome = diff_target(target, desired, LiveState(objects=tuple(live), source=args.live), options)
    if any(not (m.body.get("metadata") or {}).get("managedFields") for m in live):
        # `kubectl get` hides managedFields since 1.21; without them nobody can say who changed what.
        print("gitops-audit diff: note: live object(s) without metadata.managedFields — attribution and fields "
              "added out-of-band need `kubectl get --show-managed-fields -o yaml`", file=sys.stderr)
    compared = {d.ref for d in outcome.drifts}
    only_live = sorted({m.ref.subject for m in live if m.ref not in compared and
                        dataclasses.replace(m.ref, namespace=namespace) not in compared})
    if args.output == "json":
        sys.stdout.write(render_json(outcome))
    else:
        sys.stdout.write(render_text(outcome))
        for subject in only_live:
            print(f"· {subject} only in --live (not compared)")
    return 1 if any(f.counts for f in outcome.findings) else 0
