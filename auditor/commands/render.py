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
from auditor.pipeline import RunOptions, discover, prepare_repo
from auditor.pipeline import render_target as pipeline_render_target
from auditor.render.flux.options import FluxOptions
from auditor.render.markers import split_markers
from auditor.render.tools import find_kustomize
from auditor.repo.options import SourceOptions
from auditor.util import yamlio
from auditor.util.secrets import mask_secret_values
from auditor.util.text import terminal_safe


def register(subparsers: Any) -> None:
    """Add the ``render`` subcommand."""
    p = subparsers.add_parser(
        "render",
        help="print the desired objects of one target as multi-document YAML",
        description="Print what the auditor believes the desired state of one target is, as multi-document "
        "YAML: the rendered overlay, or for a Flux cluster target everything its Kustomizations (and "
        "local-chart HelmReleases) apply. What could not be rendered is listed on stderr. "
        "Exit: 0 rendered, 2 usage/config/render error.",
    )
    p.add_argument("--config", "-c", metavar="FILE",
                   help="config file (default: $GITOPS_AUDIT_CONFIG, else ./gitops-audit.yaml)")
    p.add_argument("--target", "-t", required=True, metavar="NAME", help="target to render")
    p.add_argument("--show-origin", action="store_true",
                   help="precede each object with the files it comes from (# origin: FILE (ROLE))")
    p.add_argument("--ref", default="", metavar="REF",
                   help="render this branch, tag or commit instead of the config's ref")
    p.add_argument("--worktree", action="store_true", help="render the working tree (local repositories only)")
    p.add_argument("--show-secrets", action="store_true",
                   help="print Secret values as rendered (default: masked as ***; keys are always shown)")
    p.set_defaults(func=handler)


def origin_comments(m: Manifest) -> str:
    """``# origin: FILE (ROLE)`` lines for one object."""
    return "".join(f"# origin: {f.path}{f':{f.line}' if f.line else ''} ({f.role})\n" for f in m.provenance.files)


def format_rendered(rs: RenderedSet, *, show_origin: bool, show_secrets: bool = False) -> str:
    """Multi-document YAML of the desired objects, optionally with origin comments; Secret values masked."""
    parts = []
    for m in rs.objects:
        body = dict(m.body) if show_secrets else mask_secret_values(m.body)
        doc = yamlio.dump_all([body])
        parts.append((origin_comments(m) if show_origin else "") + doc)
    return "---\n".join(parts)


def render_target(cfg: RunConfig, flux: FluxOptions, name: str, *, ref: str = "",
                  worktree: bool = False) -> tuple[Target, RenderedSet]:
    """Render one configured or Flux-discovered target; raises AuditorError subclasses on failure."""
    source: SourceOptions = replace(cfg.source, kustomize_path=cfg.tools.kustomize, kubectl_path=cfg.tools.kubectl,
                                    worktree=worktree)
    opts = RunOptions(config=replace(cfg, flux=flux), source=source)
    tool = find_kustomize(source)
    with tempfile.TemporaryDirectory(prefix="gitops-audit-render-") as tmp:
        location = cfg.repo_location(cfg.repo)
        work = prepare_repo(opts, (location, ref or cfg.ref), Path(tmp) / "tree")
        targets = [*cfg.targets, *discover(opts, work)]
        target = next((t for t in targets if t.name == name), None)
        if target is None:
            known = ", ".join(t.name for t in targets) or "none"
            raise UsageError(f"no target named {name!r} (targets: {known})")
        if target.repo != location or (target.ref != cfg.ref and not ref):
            work = prepare_repo(opts, (target.repo, ref or target.ref), Path(tmp) / "tree-target")
        rs = pipeline_render_target(opts, tool, work, target)
    return target, rs


def handler(args: argparse.Namespace) -> int:
    """Render and print; 0 on success, the error's exit code (2) otherwise."""
    try:
        path = find_config(args.config)
        if path is None:
            raise UsageError("no config file: give --config FILE, set $GITOPS_AUDIT_CONFIG or create "
                             "./gitops-audit.yaml")
        cfg = load_config(path)
        _target, rs = render_target(cfg, cfg.flux, args.target, ref=args.ref, worktree=args.worktree)
    except AuditorError as exc:
        # Errors name their own action ("render overlays/prod: kustomize exited 1"): no second prefix.
        print(terminal_safe(f"gitops-audit render: error: {exc}", one_line=True), file=sys.stderr)
        return exc.exit_code
    shown = replace(rs, objects=split_markers(rs.objects).desired)  # the audit's own bookkeeping stays out
    sys.stdout.write(format_rendered(shown, show_origin=args.show_origin, show_secrets=args.show_secrets))
    for gap in rs.gaps:
        where = f" in {gap.namespace}" if gap.namespace else ""
        print(terminal_safe(f"# not rendered: {gap.group_kind}{where}: {gap.reason}", one_line=True), file=sys.stderr)
    return 0
