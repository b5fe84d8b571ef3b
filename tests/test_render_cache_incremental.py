"""The incremental render cache never changes a finding: every fleet audited both ways.

For every fleet the test suite builds (tests/fleets.py), three commits are audited with the render
cache and without it: the first commit (the cache starts empty), a commit touching one overlay, and a
commit touching a file several overlays share. The reports must be identical (apart from run ids and
times), and the cache must be incremental where it can be: after the one-overlay commit only the targets
whose closure holds the touched file render again; Flux and Argo CD targets, keyed by the repository's
root tree (documented), render again after any commit.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor import pipeline, wiring
from auditor.config import load_config
from auditor.errors import AuditorError
from auditor.render.kustomize import closure as kclosure
from auditor.render.kustomize.graph import scan
from auditor.render.kustomize.tree import prepare_tree
from auditor.repo.git import open_repo
from auditor.repo.options import SourceOptions
from tests.fleets import FLEETS, ROOT, commit_all, kustomization_dirs
from tests.test_report_merge import comparable

pytestmark = pytest.mark.slow


def _path_targets(repo: Path) -> list[str]:
    """Kustomization directories that build as targets (not components), by a plain kustomize build."""
    from auditor.util import proc

    out = []
    for rel in kustomization_dirs(repo):
        text = next((repo / rel / n).read_text() for n in ("kustomization.yaml", "kustomization.yml", "Kustomization")
                    if (repo / rel / n).is_file())
        if "kind: Component" in text:
            continue
        res = proc.run(["kubectl", "kustomize", f"./{rel}" if rel else "."], cwd=repo, action="probe", check=False,
                       timeout=300)
        if res.returncode == 0:
            out.append(rel)
    return out


def _setup(fleet: str, tmp_path: Path) -> tuple[Path, Path]:
    """(repository, config) for ``fleet``, with snapshot live state."""
    if fleet == "demo":
        repo = FLEETS[fleet](tmp_path / "demo")
        return repo, repo / "gitops-audit.yaml"
    if fleet in ("flux-example", "argocd-example"):
        repo = FLEETS[fleet](tmp_path / "repo")
        example = ROOT / "examples" / fleet.replace("-example", "-fleet")
        conf_dir = tmp_path / "config"
        shutil.copytree(example / "snapshots", conf_dir / "snapshots")
        text = (example / "gitops-audit.yaml").read_text()
        config = conf_dir / "gitops-audit.yaml"
        config.write_text("\n".join(f"repo: {repo}" if line.startswith("repo:") else line
                                    for line in text.splitlines()) + "\n")
        return repo, config
    repo = FLEETS[fleet](tmp_path / "fleet")
    conf_dir = tmp_path / "config"
    live = conf_dir / "live"
    live.mkdir(parents=True)
    if fleet == "fleetgen":  # live state as fleetgen made it, one snapshot per overlay
        cfg = yaml.safe_load((repo.parent / "gitops-audit.yaml").read_text())
        targets = []
        for t in cfg["targets"][::2]:
            snap = conf_dir / "snapshots" / t["name"]
            snap.mkdir(parents=True)
            items = json.loads((repo.parent / "live" / f"{t['name']}.json").read_text())
            (snap / "live.yaml").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
            targets.append(f"  - {{name: {t['name']}, path: {t['path']}, snapshot: snapshots/{t['name']}}}")
    else:  # no live state: every desired object is missing (findings with provenance all the same)
        targets = [f"  - {{name: t{i}, path: '{rel}', snapshot: live}}" for i, rel in enumerate(_path_targets(repo))]
    config = conf_dir / "gitops-audit.yaml"
    config.write_text(f"version: 1\nrepo: {repo}\nref: main\ntargets:\n" + "\n".join(targets) + "\n")
    return repo, config


def _audit(config: Path, cache: str, **source: Any) -> tuple[dict[str, Any], list[str]]:
    """The comparable report of one audit, and the targets that rendered (not from the cache).

    ``source``: source options to change (``flux_helm=True`` turns on Flux's kustomize Helm support).
    """
    cfg = load_config(config)
    flux_helm = source.pop("flux_helm", None)
    cfg = dataclasses.replace(cfg, source=dataclasses.replace(cfg.source, render_cache=cache, **source))
    if flux_helm is not None:
        cfg = dataclasses.replace(cfg, flux=dataclasses.replace(cfg.flux, kustomize_helm=flux_helm))
    opts = wiring.run_options(cfg, argparse.Namespace(worktree=False))
    fresh: list[str] = []

    def progress(target: str, message: str) -> None:
        if message.startswith("render ") and not message.endswith("(cached)"):
            fresh.append(target)

    report = pipeline.run_audit(opts, cfg.targets, progress)
    assert report.results
    doc = comparable(report)
    doc.pop("audit_window")  # "commits since <now - 30 days>": a clock, not the cache
    return doc, sorted(fresh)


def _touch_yaml(path: Path, mark: str) -> None:
    """A real change to a YAML file: an annotation on its first object (or the kustomization's own)."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    if path.name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        docs[0].setdefault("commonAnnotations", {})["gitops-audit.test/touched"] = mark
    elif path.name == "values.yaml":
        docs[0]["gitopsAuditTouched"] = mark
    else:
        meta = docs[0].setdefault("metadata", {})
        (meta.get("annotations") or meta.setdefault("annotations", {}))["gitops-audit.test/touched"] = mark
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def _closures(repo: Path, tmp: Path) -> dict[str, set[str]]:
    opts = SourceOptions()
    tree = prepare_tree(open_repo(str(repo), opts), "HEAD", tmp, opts)
    out = {}
    for rel in kustomization_dirs(repo):
        try:
            c = kclosure.compute(tree, scan(tree, rel, opts, "render"))
        except AuditorError:  # a directory that does not scan has no closure to use
            continue
        if not c.fallback and not c.uncacheable:
            out[rel] = set(c.files) | {f"{d}/" for d in c.dirs}
    return out


def _choose(fleet: str, repo: Path, tmp: Path, targets: set[str]) -> tuple[Path, Path]:
    """(a file one target's overlay reads, a file several read); ``targets``: their paths (or all roots)."""
    if fleet == "argocd-example":
        return repo / "guestbook" / "deployment.yaml", repo / "charts" / "web" / "values.yaml"
    closures = _closures(repo, tmp)
    readers: dict[str, set[str]] = {}
    for rel, files in closures.items():
        for f in files:
            readers.setdefault(f, set()).add(rel)
    roots = targets or {rel for rel in closures if not any(rel != o and f"{rel}/kustomization.yaml" in closures[o]
                                                           for o in closures)}
    own = sorted(f for f, who in readers.items() if len(who & roots) == 1 and f.endswith("kustomization.yaml"))
    shared = sorted((f for f, who in readers.items() if len(who & roots) >= 2 and f.endswith((".yaml", ".yml"))
                     and not f.endswith("kustomization.yaml")), key=lambda f: (-len(readers[f]), f))
    assert own and shared, (fleet, roots)
    return repo / own[0], repo / shared[0]


@pytest.mark.parametrize("fleet", sorted(FLEETS))
def test_incremental_cache_never_changes_a_finding(fleet: str, tmp_path: Path) -> None:
    repo, config = _setup(fleet, tmp_path)
    cache = str(tmp_path / "render-cache")
    first, fresh = _audit(config, cache)
    assert fresh  # the cache started empty
    assert first == _audit(config, "off")[0]
    path_targets = {t.name: t.path for t in load_config(config).targets}
    own, shared = _choose(fleet, repo, tmp_path / "closures", set(path_targets.values()))
    for step, touched in enumerate((own, shared), start=1):
        _touch_yaml(touched, str(step))
        commit_all(repo, f"touch {touched.relative_to(repo)}")
        with_cache, fresh = _audit(config, cache)
        without, everything = _audit(config, "off")
        assert with_cache == without, (fleet, step)
        assert with_cache != first  # the touched file changed what was audited
        if path_targets:
            rel = touched.relative_to(repo).as_posix()
            closures = _closures(repo, tmp_path / f"closures-{step}")
            expected = sorted(n for n, p in path_targets.items() if rel in closures.get(p, set()))
            assert fresh == expected, (fleet, step, rel)  # only what reads the file renders again
            assert len(fresh) < len(everything) or len(path_targets) == len(expected)
        else:  # Flux and Argo CD: keyed by the root tree, every target renders after a commit
            assert fresh == everything
        first = with_cache


def test_security_settings_are_part_of_the_closure_key(tmp_path: Path) -> None:
    """A closure-keyed render made under other security settings is never served (main's key, kept)."""
    _, config = _setup("base", tmp_path)
    cache = str(tmp_path / "render-cache")
    first, fresh = _audit(config, cache)
    assert fresh
    assert _audit(config, cache)[1] == []  # nothing changed: every render from the cache
    everything = fresh
    # An allow-listed remote base prefix the fleet never uses: the renders are the same, the key is not.
    doc, fresh = _audit(config, cache, allow_remote_bases=("https://github.com/acme/",))
    assert fresh == everything and doc == first
    doc, fresh = _audit(config, cache, flux_helm=True)
    assert fresh == everything and doc == first
    assert _audit(config, cache)[1] == []  # the strict settings' entries are still there, and still used
