"""``gitops-audit diff --desired FILE|DIR|- --live FILE|DIR|- [-o text|json]``: explain drift.

For users asking "why does it say drift?": compares one desired manifest with one live object
(or multi-document files, directories such as a snapshot, or stdin, matched by identity) with the
same engine as the audit, and prints each difference with its path, old → new value and who
wrote it. Exit 0 in sync (events such as a rollout restart are shown, not counted), 1 drift,
2 bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from auditor.diff.engine import diff_target
from auditor.diff.options import DriftOptions, IgnoreRule
from auditor.diff.render import in_sync, render_json, render_text
from auditor.diff.schema import Schemas, crds_in
from auditor.errors import DiffError
from auditor.model import LiveState, Manifest, ObjectRef, Target, split_api_version
from auditor.util import yamlio
from auditor.util.kinds import is_namespaced
from auditor.util.text import terminal_safe


def register(subparsers: Any) -> None:
    """Add the ``diff`` subcommand."""
    p = subparsers.add_parser(
        "diff",
        help="compare desired manifest(s) with live object(s) and explain each difference",
        description="Compare desired manifest(s) with live object(s) as the audit does, and print each "
        "difference with its path, old → new value and the field manager that wrote it. "
        "Exit 0 in sync, 1 drift, 2 bad input.",
    )
    p.add_argument("--desired", required=True, metavar="FILE|DIR|-",
                   help="desired manifest(s), YAML or JSON: a file, a directory, or - for stdin "
                        "(e.g. 'gitops-audit render ... | gitops-audit diff --desired - ...')")
    p.add_argument("--live", required=True, metavar="FILE|DIR|-",
                   help="live object(s) as 'kubectl get -o yaml|json' prints them: a file, a snapshot "
                        "directory, or - for stdin")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.add_argument("--namespace", default="default",
                   help="namespace for desired namespaced objects that name none (default: default)")
    p.add_argument("--orphans", action="store_true",
                   help="also report live objects in the namespaces of --desired that it does not hold")
    p.add_argument("--ignore-pointer", action="append", default=[], metavar="POINTER",
                   help="JSON pointer to ignore on every object (repeatable), e.g. /spec/replicas")
    p.set_defaults(func=handler)


_SUFFIXES = (".yaml", ".yml", ".json")


def _sources(path: str, role: str) -> list[tuple[str, bytes]]:
    """(name, bytes) to parse: stdin for ``-``, every YAML/JSON file of a directory (a snapshot), or one file."""
    if path == "-":
        return [("<stdin>", sys.stdin.buffer.read())]
    p = Path(path)
    try:
        if p.is_dir():
            out = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith(".") and name.lower().endswith(_SUFFIXES):
                        f = Path(root) / name
                        out.append((str(f), f.read_bytes()))
            if not out:
                raise DiffError(f"read {role} {path}: no YAML or JSON files in the directory")
            return out
        return [(path, p.read_bytes())]
    except OSError as exc:
        raise DiffError(f"read {role} {path}: {exc.strerror or exc}") from None


def _load(path: str, role: str) -> list[Manifest]:
    out: list[Manifest] = []
    n = 0
    for name, data in _sources(path, role):
        try:
            docs = yamlio.load_json_or_yaml(data, name)
        except yamlio.YamlError as exc:
            # One line, position only: never echo the document (it may be a Secret).
            where = f"{name}:{exc.line}" if exc.line else name
            problem = (exc.problem.splitlines() or ["invalid YAML"])[0]
            raise DiffError(f"read {role} {where}: {problem}") from None
        for doc in docs:
            if doc is None:
                continue
            for item in yamlio.iter_items(doc):
                n += 1
                kind = item.get("kind")
                meta = item.get("metadata")
                api_version = item.get("apiVersion")
                obj_name = meta.get("name") if isinstance(meta, dict) else None
                if not isinstance(kind, str) or not isinstance(obj_name, str) or not isinstance(api_version, str):
                    raise DiffError(f"read {role} {name}: object {n} lacks apiVersion, kind or metadata.name")
                group, _ = split_api_version(api_version)
                ns = meta.get("namespace") or "" if isinstance(meta, dict) else ""
                out.append(Manifest(ObjectRef(group, kind, str(ns), obj_name), api_version, item))
    if not out and role == "desired":
        raise DiffError(f"read {role} {path}: no Kubernetes objects found")
    return out  # an empty live side is an answer: nothing of it exists (every desired object is missing)


def _identity(ref: ObjectRef, cluster: frozenset[tuple[str, str]]) -> ObjectRef:
    """The API server's identity: no namespace on a cluster-scoped object, whatever the file says."""
    if ref.namespace and not is_namespaced(ref.group, ref.kind, cluster):
        return dataclasses.replace(ref, namespace="")
    return ref


def handler(args: argparse.Namespace) -> int:
    """Run the comparison and print it; returns the exit code (0 in sync, 1 drift, 2 bad input)."""
    if args.desired == "-" and args.live == "-":
        print("gitops-audit diff: only one of --desired and --live can be read from stdin (-)", file=sys.stderr)
        return 2
    try:
        desired = _load(args.desired, "desired")
        live = _load(args.live, "live")
    except DiffError as exc:
        print(terminal_safe(f"gitops-audit diff: {exc}", one_line=True), file=sys.stderr)
        return 2
    cluster = Schemas(crds_in([m.body for m in (*desired, *live)])).cluster_scoped
    namespace = args.namespace
    if len(desired) == 1 and len(live) == 1 and not args.orphans:
        d, lv = _identity(desired[0].ref, cluster), _identity(live[0].ref, cluster)
        if (d.group, d.kind, d.name) != (lv.group, lv.kind, lv.name) or (d.namespace and d.namespace != lv.namespace):
            print(f"gitops-audit diff: desired {d.subject} and live {lv.subject} are different objects",
                  file=sys.stderr)
            return 2
        if not d.namespace and lv.namespace:
            namespace = lv.namespace
    rules = (IgnoreRule(json_pointers=tuple(args.ignore_pointer), id="--ignore-pointer"),) \
        if args.ignore_pointer else ()
    options = dataclasses.replace(DriftOptions(), orphans=bool(args.orphans), ignore=rules)
    target = Target(name="diff", namespace=namespace)
    outcome = diff_target(target, desired, LiveState(objects=tuple(live), source=args.live), options)
    if any(not (m.body.get("metadata") or {}).get("managedFields") for m in live):
        # `kubectl get` hides managedFields since 1.21; without them nobody can say who changed what.
        print("gitops-audit diff: note: live object(s) without metadata.managedFields — attribution and fields "
              "added out-of-band need `kubectl get --show-managed-fields -o yaml`", file=sys.stderr)
    compared = {d.ref for d in outcome.drifts}
    only_live = sorted({ref.subject for ref in (_identity(m.ref, cluster) for m in live) if ref not in compared
                        and dataclasses.replace(ref, namespace=namespace) not in compared})
    if args.output == "json":
        sys.stdout.write(render_json(outcome))
    else:
        # Values come from the files compared: shown, never obeyed by the terminal (escape sequences dropped).
        sys.stdout.write(terminal_safe(render_text(outcome)))
        if len(only_live) > _LIST_ONLY_LIVE:
            print(f"· {len(only_live)} live objects not in --desired (not compared)")
        else:
            for subject in only_live:
                print(terminal_safe(f"· {subject} only in --live (not compared)", one_line=True))
    return 0 if in_sync(outcome) else 1


_LIST_ONLY_LIVE = 20
"""Above this many live-only objects (a whole snapshot as --live), print their count, not each."""
