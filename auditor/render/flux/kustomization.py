"""Prepare the directory kustomize builds for one Flux ``Kustomization``, as kustomize-controller does.

kustomize-controller edits the kustomization of ``spec.path`` in place (or generates one when the path
has none) before it runs ``kustomize build``: ``targetNamespace`` → ``namespace``, ``namePrefix``,
``nameSuffix`` (both replace the file's own), ``patches``/``images``/``components`` (appended).
The same path may be used by several Flux Kustomizations (and targets render concurrently from one
tree), so the edit is made on a private copy of the directory placed *next to* the original: at the
same depth, so ``../base`` references still resolve, and inside the tree, so kustomize's default
load restrictor keeps working. Provenance paths are mapped back to the original directory.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import RenderError
from auditor.render.kustomize.build import BUILD_METADATA, KUSTOMIZATION_FILES
from auditor.util import yamlio

WORK_PREFIX = ".gitops-audit-flux-"
"""Name prefix of the generated directories (never scanned, never copied)."""

_YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class BuildDir:
    """A generated build directory inside the tree and the repository directory it stands for."""

    rel: str
    """Tree-relative POSIX path of the generated directory."""
    original: str
    """Tree-relative POSIX path of ``spec.path``."""
    generated: bool
    """True when the kustomization was generated (the path had none)."""


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n.startswith(WORK_PREFIX) or n == ".git"}


def find_kustomization_file(directory: Path) -> Path | None:
    """The kustomization file of a directory, in kustomize's lookup order."""
    for name in KUSTOMIZATION_FILES:
        p = directory / name
        if p.is_file():
            return p
    return None


def _is_manifest_file(path: Path) -> bool:
    """True for YAML files whose documents all look like Kubernetes objects (apiVersion and kind)."""
    try:
        docs = yamlio.load_all(path.read_bytes(), str(path))
    except (OSError, yamlio.YamlError):
        return False
    return bool(docs) and all(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") for d in docs)


def generated_resources(directory: Path) -> list[str]:
    """What kustomize-controller's generator lists for a directory without a kustomization.

    Every YAML manifest in the directory, recursively; a subdirectory holding a kustomization is
    listed as one resource and not descended into. Paths are relative to ``directory``, sorted.
    """
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(directory):
        here = Path(dirpath)
        rel_dir = here.relative_to(directory).as_posix()
        keep = []
        for d in sorted(dirnames):
            if d.startswith(WORK_PREFIX) or d.startswith("."):
                continue
            sub = here / d
            if find_kustomization_file(sub) is not None:
                out.append(posixpath.normpath(posixpath.join(rel_dir, d)))
            else:
                keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            if f.endswith(_YAML_SUFFIXES) and _is_manifest_file(here / f):
                out.append(posixpath.normpath(posixpath.join(rel_dir, f)))
    return sorted(out)


def prepare_build_dir(root: Path, path: str, spec: Mapping[str, Any], *, action: str) -> BuildDir:
    """Copy ``path`` (tree-relative) next to itself and write the kustomization Flux would build.

    Raises :class:`RenderError` when the path is missing or its kustomization is unreadable.
    """
    src = root.joinpath(*path.split("/")) if path else root
    if not src.is_dir():
        raise RenderError(f"{action}: path {path or '.'} does not exist in the source")
    parent = src.parent if path else root
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=parent))
    work.rmdir()
    shutil.copytree(src, work, symlinks=True, ignore=_ignore)
    rel = work.relative_to(root).as_posix()
    kfile = find_kustomization_file(work)
    generated = kfile is None
    if kfile is None:
        data: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": generated_resources(work),
        }
        kfile = work / "kustomization.yaml"
    else:
        try:
            loaded = yamlio.load_one(kfile.read_text(encoding="utf-8"), f"{path}/{kfile.name}")
        except (OSError, UnicodeDecodeError, yamlio.YamlError) as exc:
            shutil.rmtree(work, ignore_errors=True)
            raise RenderError(f"{action}: cannot read {path}/{kfile.name}: {exc}") from None
        data = loaded if isinstance(loaded, dict) else {}
    apply_spec(data, spec)
    have = [str(x) for x in data.get("buildMetadata") or [] if isinstance(x, str)]
    data["buildMetadata"] = have + [o for o in BUILD_METADATA if o not in have]
    kfile.write_text(yaml.safe_dump(data, sort_keys=False, width=1 << 30), encoding="utf-8")
    return BuildDir(rel=rel, original=path, generated=generated)


def apply_spec(data: dict[str, Any], spec: Mapping[str, Any]) -> None:
    """Put a Flux Kustomization's build settings into a kustomization dict (in place)."""
    if spec.get("targetNamespace"):
        data["namespace"] = str(spec["targetNamespace"])
    for key in ("namePrefix", "nameSuffix"):
        if spec.get(key):
            data[key] = str(spec[key])
    for key in ("patches", "images", "components"):
        extra = spec.get(key)
        if isinstance(extra, list) and extra:
            data[key] = [*(data.get(key) or []), *extra]
    # v1beta2 fields (removed in v1) still found in older fleets
    smp = spec.get("patchesStrategicMerge")
    if isinstance(smp, list) and smp:
        data["patches"] = [*(data.get("patches") or []),
                           *({"patch": yaml.safe_dump(p, sort_keys=False)} for p in smp)]
    j6902 = spec.get("patchesJson6902")
    if isinstance(j6902, list) and j6902:
        data["patches"] = [*(data.get("patches") or []),
                           *({"target": p.get("target"), "patch": yaml.safe_dump(p.get("patch"))}
                             for p in j6902 if isinstance(p, dict))]


def remove_build_dir(root: Path, build: BuildDir) -> None:
    """Delete a generated directory (only ever one this module made)."""
    p = root.joinpath(*build.rel.split("/"))
    if p.name.startswith(WORK_PREFIX):
        shutil.rmtree(p, ignore_errors=True)


def map_path(path: str, build: BuildDir) -> str | None:
    """Map a provenance path inside the generated directory back to the original; None for a generated file."""
    if path == build.rel or path.startswith(build.rel + "/"):
        rest = path[len(build.rel):].lstrip("/")
        if build.generated and rest in KUSTOMIZATION_FILES:
            return None
        return posixpath.join(build.original, rest) if build.original else rest
    return path
