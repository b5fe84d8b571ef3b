"""Build per-stage options from the config and the command-line flags (wiring, no logic)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from auditor import shard
from auditor.config import RunConfig
from auditor.pipeline import RunOptions


def run_options(cfg: RunConfig, args: argparse.Namespace, *, previous_commit: str = "") -> RunOptions:
    """Options for one run (kubeconfig contexts are checked by the pipeline once targets are known)."""
    source = replace(
        cfg.source,
        kustomize_path=cfg.tools.kustomize,
        kubectl_path=cfg.tools.kubectl,
        worktree=bool(getattr(args, "worktree", False)),
    )
    if getattr(args, "no_render_cache", False):
        source = replace(source, render_cache="off")
    cluster = cfg.cluster
    kubeconfig = getattr(args, "kubeconfig", None)
    if kubeconfig:
        cluster = replace(cluster, kubeconfig=kubeconfig)
    return RunOptions(
        config=cfg,
        source=source,
        cluster=cluster,
        drift=cfg.drift,
        previous_commit=previous_commit,
        shard=shard.from_args(args),
    )
