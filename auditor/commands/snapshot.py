"""``gitops-audit snapshot``: save a cluster's live state as a snapshot directory (offline audits, evidence).

The directory holds one ``List`` per (resource, namespace) plus an index of what was read, when and
from which server; a target with ``snapshot: DIR`` reads it back exactly as a live read of the same
scope would. Secrets are saved metadata-only: values are never written.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.cluster.kube import APIResource, check_contexts, discover_all, read_cluster
from auditor.cluster.options import ClusterOptions, LiveScope
from auditor.cluster.snapshot import INDEX_NAME, write_snapshot
from auditor.errors import UsageError
from auditor.util.redact import redact_url
from auditor.util.text import terminal_safe


def register(subparsers: Any) -> None:
    """Add the ``snapshot`` subcommand."""
    p = subparsers.add_parser(
        "snapshot",
        help="save a cluster's live state to a directory (read back with 'snapshot: DIR')",
        description="Read live objects from a kubeconfig context with get/list only and write them as a "
        "snapshot directory that targets can audit offline. Secrets are saved without their values. "
        "Exit: 0 written, 2 usage/config error or cluster unreadable.",
    )
    p.add_argument("--context", required=True, metavar="CTX", help="kubeconfig context to read")
    p.add_argument("--kubeconfig", metavar="FILE", help="use only this kubeconfig file")
    p.add_argument("--namespace", "-n", action="append", default=[], metavar="NS",
                   help="namespace to read (repeatable; default: all namespaces)")
    p.add_argument("--kind", "-k", action="append", default=[], metavar="KIND",
                   help="kind to read: Kind, Kind.group or plural[.group] (repeatable; default: every listable "
                   "kind except Events, Leases, Endpoints and EndpointSlices)")
    p.add_argument("--out", metavar="DIR", help="directory to write (must be new or empty); required")
    # -o means the output format everywhere else; the old spelling still works, with a note.
    p.add_argument("-o", dest="out_deprecated", metavar="DIR", help=argparse.SUPPRESS)
    p.add_argument("--force", action="store_true", help="replace an existing snapshot directory")
    p.add_argument("--request-timeout", type=float, default=10.0, metavar="SEC", help="per request (default: 10)")
    p.add_argument("--deadline", type=float, default=300.0, metavar="SEC",
                   help="for the whole cluster (default: 300)")
    p.set_defaults(func=handler)


DEFAULT_SKIP = frozenset(
    {
        ("", "Event"),
        ("events.k8s.io", "Event"),
        ("coordination.k8s.io", "Lease"),
        ("", "Endpoints"),
        ("discovery.k8s.io", "EndpointSlice"),
    }
)
"""Left out unless asked for with --kind: rewritten every few seconds by controllers, never in git."""


def select_resources(resources: Sequence[APIResource], wanted: Sequence[str]) -> tuple[APIResource, ...]:
    """Resources matching ``--kind`` values (all but :data:`DEFAULT_SKIP` when none given).

    Unknown names are a usage error.
    """
    if not wanted:
        return tuple(r for r in resources if (r.group, r.kind) not in DEFAULT_SKIP)
    chosen: list[APIResource] = []
    for name in wanted:
        base, _, group = name.partition(".")
        matches = [
            r for r in resources
            if base.lower() in (r.kind.lower(), r.plural.lower()) and (not group or r.group == group)
        ]
        if not group and len({r.group for r in matches}) > 1:
            # Bare names prefer the core group, then the only match, like kubectl's short names.
            core = [r for r in matches if not r.group]
            matches = core or matches
        if not matches:
            raise UsageError(f"snapshot: --kind {name}: not served by the cluster")
        chosen.extend(r for r in matches if r not in chosen)
    return tuple(chosen)


def _prepare_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"snapshot --out {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UsageError(f"snapshot --out {out}: directory is not empty (use --force to replace it)")
        if not (out / INDEX_NAME).is_file():
            raise UsageError(f"snapshot --out {out}: not a snapshot directory; refusing to replace it")


def handler(args: argparse.Namespace) -> int:
    """Read the context's live state and write it to ``--out``; returns the exit code."""
    if args.out_deprecated:
        print("gitops-audit snapshot: note: -o DIR is deprecated (-o is the output format in other commands); "
              "use --out DIR", file=sys.stderr)
    if not (args.out or args.out_deprecated):
        raise UsageError("snapshot: --out DIR is required (the snapshot directory to write)")
    out = Path(args.out or args.out_deprecated)
    _prepare_out(out, bool(args.force))
    options = ClusterOptions(
        kubeconfig=args.kubeconfig or "",
        request_timeout=float(args.request_timeout),
        deadline=float(args.deadline),
    )
    check_contexts([args.context], options)
    resources = select_resources(discover_all(args.context, options), list(args.kind))
    namespaces = tuple(dict.fromkeys(args.namespace))
    scope = LiveScope(
        kinds=tuple((r.group, r.version, r.kind) for r in resources),
        namespaces=namespaces,
        cluster_scoped=tuple((r.group, r.kind) for r in resources if not r.namespaced),
        all_namespaces=not namespaces,
    )
    state = read_cluster(args.context, scope, options)

    # Write beside the target and swap in, so a failure never leaves a half-written snapshot.
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_snapshot(state, staging, scope=scope)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    where = "all namespaces" if not namespaces else ", ".join(namespaces)
    print(f"snapshot of {args.context} ({redact_url(state.source)}): {len(state.objects)} objects, "
          f"{len(state.reads)} lists, {where} -> {out}")
    for gap in state.gaps:  # what the server said: shown, never obeyed by the terminal
        ns = f" in {gap.namespace}" if gap.namespace else ""
        print(terminal_safe(f"  not read: {gap.group_kind}{ns}: {gap.reason}", one_line=True), file=sys.stderr)
    return 0
