"""``gitops-audit render --config FILE --target NAME [--show-origin]``: print a target's desired objects.

Prints what the auditor believes the desired state is, as multi-document YAML on stdout: the rendered
overlay of a plain target, or, for a Flux cluster target (``flux.clusters`` in the config), everything
its Flux Kustomizations (and local-chart HelmReleases) apply plus those Kustomizations. With
``--show-origin`` every object is preceded by ``# origin: <file> (<role>)`` comments. What could not be
rendered is listed on stderr (``# not rendered: …``). Exit 0 rendered, 2 usage/config/render error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditor.config import RunConfig, find_config, load_config
from auditor.errors import AuditorError, UsageError
from auditor.model import Manifest, RenderedSet, Target
from auditor.source.flux import discover_targets, is_flux_target, render_flux_target
from auditor.source.flux_options import FluxOptions
from auditor.source.git import describe_url, open_repo, resolve_ref
from auditor.source.options import SourceOptions
from auditor.source.render import prepare_tree, render_overlay
from auditor.source.tools import find_kustomize
from auditor.util import yamlio


def register(subparsers: Any) -> None:
    """Add the ``render`` subcommand."""
    p = subparsers.add_parser(
        "render",
        help="print the desired objects of one target as multi-document YAML",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    p.add_argument("--config", "-c", metavar="FILE",
                   help="config file (default: $GITOPS_AUDIT_CONFIG, else ./gitops-audit.yaml)")
    p.add_argument("--target", "-t", required=True, metavar="NAME", help="target to render")
    p.add_argument("--show-origin", action="store_true",
                   help="precede each object with the files it comes from (# origin: FILE (ROLE))")
    p.add_argument("--ref", default="", metavar="REF", help="render this branch, tag or commit instead of `ref`")
    p.add_argument("--worktree", action="store_true", help="render the working tree (local repositories only)")
    p.set_defaults(func=handler)


def origin_comments(m: Manifest) -> str:
    """``# origin: FILE (ROLE)`` lines for one object."""
    return "".join(f"# origin: {f.path}{f':{f.line}' if f.line else ''} ({f.role})\n" for f in m.provenance.files)


def format_rendered(rs: RenderedSet, *, show_origin: bool) -> str:
    """Multi-document YAML of the desired objects, optionally with origin comments."""
    parts = []
    for m in rs.objects:
        doc = yamlio.dump_all([dict(m.body)])
        parts.append((origin_comments(m) if show_origin else "") + doc)
    return "---\n".join(parts)


def render_target(cfg: RunConfig, flux: FluxOptions, name: str, *, ref: str = "",
                  worktree: bool = False) -> tuple[Target, RenderedSet]:
    """Render one configured or Flux-discovered target; raises AuditorError subclasses on failure."""
    source: SourceOptions = replace(cfg.source, kustomize_path=cfg.tools.kustomize, kubectl_path=cfg.tools.kubectl,
                                    worktree=worktree)
    tool = find_kustomize(source)
    with tempfile.TemporaryDirectory(prefix="gitops-audit-render-") as tmp:
        location = cfg.repo_location(cfg.repo)
        handle = open_repo(location, source)
        commit = resolve_ref(handle, ref or cfg.ref)
        tree = prepare_tree(handle, commit, Path(tmp) / "tree", source)
        defaults = Target(name="defaults", repo=location, ref=ref or cfg.ref, namespace=cfg.default_namespace)
        targets = [*cfg.targets, *discover_targets(tree.root, flux, defaults)]
        target = next((t for t in targets if t.name == name), None)
        if target is None:
            known = ", ".join(t.name for t in targets) or "none"
            raise UsageError(f"render: no target named {name!r} (targets: {known})")
        if target.repo != location or (target.ref != cfg.ref and not ref):
            handle = open_repo(target.repo, source)
            commit = resolve_ref(handle, ref or target.ref)
            tree = prepare_tree(handle, commit, Path(tmp) / "tree-target", source)
        if is_flux_target(target):
            rs = render_flux_target(tool, tree, target.path, default_namespace=target.namespace, options=flux,
                                    source_options=source, repo_url=describe_url(handle))
        else:
            rs = render_overlay(tool, tree, target.path, default_namespace=target.namespace, options=source)
    return target, rs


def handler(args: argparse.Namespace) -> int:
    """Render and print; 0 on success, the error's exit code (2) otherwise."""
    try:
        path = find_config(args.config)
        if path is None:
            raise UsageError("render: no config file (give --config FILE or create ./gitops-audit.yaml)")
        cfg = load_config(path)
        _target, rs = render_target(cfg, cfg.flux, args.target, ref=args.ref, worktree=args.worktree)
    except AuditorError as exc:
        print(f"gitops-audit render: {exc}", file=sys.stderr)
        return exc.exit_code
    sys.stdout.write(format_rendered(rs, show_origin=args.show_origin))
    for gap in rs.gaps:
        where = f" in {gap.namespace}" if gap.namespace else ""
        print(f"# not rendered: {gap.group_kind}{where}: {gap.reason}", file=sys.stderr)
    return 0
