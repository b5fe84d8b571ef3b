"""``gitops-audit render --config FILE --target NAME [--show-origin]``: print a target's desired objects.

Prints what the auditor believes the desired state is, as multi-document YAML on stdout: the rendered
overlay of a plain target, or, for a Flux cluster target (``flux.clusters`` in the config), everything
its Flux Kustomizations (and local-chart HelmReleases) apply plus those Kustomizations. With
``--show-origin`` every object is preceded by ``# origin: <file> (<role>)`` comments. What could not be
rendered is listed on stderr (``# not rendered: …``). Exit 0 rendered, 2 usage/config/render error.

The config loader does not know the ``flux:`` section yet: :func:`load_config_with_flux` takes it out
of the file (keeping line numbers) before :func:`auditor.config.parse_config` sees the rest.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditor.config import RunConfig, find_config, parse_config
from auditor.config_schema import Node
from auditor.errors import AuditorError, ConfigError, UsageError
from auditor.model import Manifest, RenderedSet, Target
from auditor.source.flux import discover_targets, is_flux_target, render_flux_target
from auditor.source.flux_options import ClusterOverride, FluxOptions
from auditor.source.git import describe_url, open_repo, resolve_ref
from auditor.source.options import SourceOptions
from auditor.source.render import prepare_tree, render_overlay
from auditor.source.tools import find_kustomize
from auditor.util import yamlio
from auditor.util.yamlio import load_with_lines

FLUX_KEYS = (
    "clusters", "name_pattern", "env_var", "region_var", "context", "snapshot", "overrides", "source_paths",
    "repo_sources", "allow_cluster_substitution", "strict_substitution", "helm_charts", "kustomize_helm",
    "helm_timeout", "helm_kube_version", "render_workers", "root_name",
)
_OVERRIDE_KEYS = ("env", "region", "context", "snapshot", "namespace", "name")


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


def parse_flux(node: Node, resolve: Any) -> FluxOptions:
    """The ``flux:`` config section → FluxOptions (``resolve`` turns config-relative paths absolute).

    Written against :class:`~auditor.config_schema.Node` so it can move to ``config_stages.py`` as is.
    """
    node.mapping(FLUX_KEYS)
    overrides: dict[str, ClusterOverride] = {}
    over = node.get("overrides").mapping(tuple(str(k) for k in (node.get("overrides").value or {})))
    for name in over.value or {}:
        o = over.get(str(name)).mapping(_OVERRIDE_KEYS)
        snap = o.string("snapshot")
        overrides[str(name)] = ClusterOverride(
            env=o.string("env"), region=o.string("region"), context=o.string("context"),
            snapshot=str(resolve(snap)) if snap else "", namespace=o.string("namespace"), name=o.string("name"))
    pattern = node.string("name_pattern")
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise node.error(f"invalid regular expression: {exc}", (*node.path, "name_pattern")) from None
    snapshot = node.string("snapshot")
    source_paths = {k: str(resolve(v)) for k, v in node.string_map("source_paths").items()}
    for key in source_paths:
        if key.count("/") != 2:
            raise node.error(f"source key {key!r} must read Kind/namespace/name", (*node.path, "source_paths", key))
    return FluxOptions(
        clusters=node.string("clusters"),
        name_pattern=pattern,
        env_var=node.string("env_var"),
        region_var=node.string("region_var"),
        context=node.string("context"),
        snapshot=str(resolve(snapshot)) if snapshot else "",
        overrides=overrides,
        source_paths=source_paths,
        repo_sources=node.strings("repo_sources", FluxOptions.repo_sources),
        allow_cluster_substitution=node.boolean("allow_cluster_substitution", False),
        strict_substitution=node.boolean("strict_substitution", False),
        helm_charts=tuple(str(resolve(p)) for p in node.strings("helm_charts")),
        kustomize_helm=node.boolean("kustomize_helm", False),
        helm_timeout=node.number("helm_timeout", 120.0, minimum=1),
        render_workers=node.integer("render_workers", 4, minimum=1),
        helm_kube_version=node.string("helm_kube_version"),
        root_name=node.string("root_name", "flux-system"),
    )


def _without_top_key(text: str, key: str) -> str:
    """``text`` with the top-level block ``key:`` blanked out (line numbers stay as they were)."""
    out: list[str] = []
    inside = False
    for line in text.splitlines(keepends=True):
        top = bool(line) and not line[0].isspace() and not line.startswith("#")
        if top:
            inside = line.split(":", 1)[0].strip().strip("'\"") == key
        out.append("\n" if inside and line.strip() else line)
    return "".join(out)


def load_config_with_flux(path: Path) -> tuple[RunConfig, FluxOptions]:
    """The run config and its ``flux:`` section (until ``config.py`` parses ``flux:`` itself)."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"read config {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        value, lines = load_with_lines(text, str(path))
    except yamlio.YamlError as exc:
        raise ConfigError(str(exc)) from None
    base_dir = path.resolve().parent
    cfg = parse_config(_without_top_key(text, "flux").encode("utf-8"), source=str(path), base_dir=base_dir)
    cfg = replace(cfg, raw=raw)
    root = Node(value if isinstance(value, dict) else {}, (), str(path), lines)
    flux = parse_flux(root.get("flux"), cfg.resolve)
    return cfg, replace(flux, helm_path=cfg.tools.helm)


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
        cfg, flux = load_config_with_flux(path)
        _target, rs = render_target(cfg, flux, args.target, ref=args.ref, worktree=args.worktree)
    except AuditorError as exc:
        print(f"gitops-audit render: {exc}", file=sys.stderr)
        return exc.exit_code
    sys.stdout.write(format_rendered(rs, show_origin=args.show_origin))
    for gap in rs.gaps:
        where = f" in {gap.namespace}" if gap.namespace else ""
        print(f"# not rendered: {gap.group_kind}{where}: {gap.reason}", file=sys.stderr)
    return 0
