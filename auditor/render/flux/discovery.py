"""Discover Flux cluster targets: one target per directory matching ``flux.clusters``."""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError
from auditor.model import Target, split_api_version
from auditor.render.flux import kustomization as fk
from auditor.render.flux.markers import CONTEXT_LABEL, ENV_LABEL, KS_GROUP, REGION_LABEL
from auditor.render.flux.options import FLUX_RENDERER_LABEL, FluxOptions
from auditor.util import yamlio

_TARGET_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def _cluster_hints(directory: Path, options: FluxOptions) -> dict[str, str]:
    """env/region/context read from the cluster directory's own files (labels, substitute vars)."""
    hints: dict[str, str] = {}
    files = sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
                   and not any(part.startswith(fk.WORK_PREFIX) for part in p.parts))
    for path in files:
        try:
            docs = yamlio.load_all(path.read_bytes(), str(path))
        except (OSError, yamlio.YamlError):
            continue
        for doc in docs:
            for obj in yamlio.iter_items(doc):
                group, _ = split_api_version(str(obj.get("apiVersion") or ""))
                labels = (obj.get("metadata") or {}).get("labels") or {}
                if group == KS_GROUP and obj.get("kind") == "Kustomization" and isinstance(labels, dict):
                    for key, label in (("env", ENV_LABEL), ("region", REGION_LABEL), ("context", CONTEXT_LABEL)):
                        if labels.get(label):
                            hints.setdefault(key, str(labels[label]))
                    subst = ((obj.get("spec") or {}).get("postBuild") or {}).get("substitute") or {}
                    _hint_vars(hints, subst, options)
                elif obj.get("kind") == "ConfigMap" and obj.get("apiVersion") == "v1":
                    _hint_vars(hints, obj.get("data") or {}, options)
    return hints


def _hint_vars(hints: dict[str, str], values: Any, options: FluxOptions) -> None:
    if not isinstance(values, dict):
        return
    for key, var in (("env", options.env_var), ("region", options.region_var)):
        if var and values.get(var) and "${" not in str(values[var]):
            hints.setdefault(key, str(values[var]))


def discover_targets(tree_root: Path, options: FluxOptions, defaults: Target) -> tuple[Target, ...]:
    """One target per directory matching ``options.clusters`` under ``tree_root``.

    ``defaults`` supplies repo, ref, namespace and labels. See :class:`FluxOptions` for how env,
    region, context and snapshot are chosen. Raises :class:`ConfigError` for a glob that leaves the
    repository or two clusters with the same target name.
    """
    pattern = options.clusters.strip().strip("/")
    if not pattern:
        return ()
    if pattern.startswith("/") or ".." in pattern.split("/"):
        raise ConfigError(f"flux.clusters: {options.clusters!r} must be a glob inside the repository")
    root = Path(tree_root)
    dirs = sorted(
        Path(p) for p in glob.glob(str(root / pattern))
        if Path(p).is_dir() and not Path(p).name.startswith(".")
    )
    name_re = re.compile(options.name_pattern) if options.name_pattern else None
    out: list[Target] = []
    seen: dict[str, str] = {}
    for d in dirs:
        rel = d.relative_to(root).as_posix()
        cluster = d.name
        ov = options.overrides.get(cluster) or options.overrides.get(rel)
        hints = _cluster_hints(d, options)
        groups: dict[str, str] = {}
        if name_re is not None:
            m = name_re.fullmatch(cluster)
            if m:
                groups = {k: v for k, v in m.groupdict().items() if v}
        env = (ov.env if ov else "") or hints.get("env") or groups.get("env") or cluster
        region = (ov.region if ov else "") or hints.get("region") or groups.get("region") or ""
        fmt = {"name": cluster, "env": env, "region": region}
        context = (ov.context if ov else "") or hints.get("context") or _fill(options.context, fmt)
        snapshot = (ov.snapshot if ov else "") or ("" if context else _fill(options.snapshot, fmt))
        if ov and ov.snapshot:
            context = ""
        name = (ov.name if ov else "") or _TARGET_NAME_RE.sub("-", cluster)[:63]
        if not context and not snapshot:
            # `flux: {clusters: ...}` alone audits every cluster through the kubeconfig context named
            # like its directory; the wiring checks that the contexts exist before reading anything.
            context = cluster
        if name in seen:
            raise ConfigError(f"flux cluster {rel}: target name {name!r} is also used by {seen[name]} "
                              f"(set flux.overrides.{cluster}.name)")
        seen[name] = rel
        out.append(Target(
            name=name, env=env, region=region, path=rel, context=context, snapshot=snapshot,
            repo=defaults.repo, ref=defaults.ref,
            namespace=(ov.namespace if ov and ov.namespace else defaults.namespace),
            labels=tuple(sorted({*defaults.labels, FLUX_RENDERER_LABEL})),
        ))
    return tuple(out)


def _fill(template: str, values: Mapping[str, str]) -> str:
    if not template:
        return ""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"flux: template {template!r}: {exc} (use {{name}}, {{env}}, {{region}})") from None


def is_flux_target(target: Target) -> bool:
    """True for targets made by :func:`discover_targets` (render them with :func:`render_flux_target`)."""
    return FLUX_RENDERER_LABEL in target.labels
