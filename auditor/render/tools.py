"""Find the kustomize renderer (standalone ``kustomize`` or ``kubectl kustomize``) and tool versions."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from auditor.errors import ToolError
from auditor.model import ToolInfo
from auditor.repo.options import SourceOptions
from auditor.util import proc

_MISSING = (
    "kustomize not found: install kubectl (it includes kustomize) or kustomize, "
    "or set tools.kustomize in the config"
)
_VERSION_RE = re.compile(r"v?\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.-]+)?")


@dataclass(frozen=True)
class KustomizeTool:
    """How to run ``kustomize build``: the argv prefix (the overlay directory is appended) and its version."""

    argv: tuple[str, ...]
    """e.g. ``("/usr/bin/kubectl", "kustomize")`` or ``("/usr/local/bin/kustomize", "build")``."""
    info: ToolInfo


def find_kustomize(options: SourceOptions) -> KustomizeTool:
    """Pick the renderer: ``options.kustomize_path``, else ``kustomize`` on PATH, else ``kubectl kustomize``.

    Raises :class:`ToolError` (exit 2) saying how to get one when none is usable.
    """
    if options.kustomize_path:
        path = proc.which("kustomize", options.kustomize_path)
        if path is None:
            raise ToolError(f"kustomize not found: {options.kustomize_path} is not an executable file "
                            "(tools.kustomize in the config)")
        return _make(path, kubectl=_looks_like_kubectl(path))
    path = proc.which("kustomize")
    if path is not None:
        return _make(path, kubectl=False)
    kubectl = proc.which("kubectl", options.kubectl_path)
    if kubectl is None:
        if options.kubectl_path:
            raise ToolError(f"{_MISSING} ({options.kubectl_path} is not an executable file)")
        raise ToolError(_MISSING)
    return _make(kubectl, kubectl=True)


def _looks_like_kubectl(path: str) -> bool:
    name = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return name.startswith("kubectl")


def _make(path: str, *, kubectl: bool) -> KustomizeTool:
    argv = (path, "kustomize") if kubectl else (path, "build")
    return KustomizeTool(argv=argv, info=tool_version(path, kubectl=kubectl))


def tool_version(path: str, *, kubectl: bool = False, timeout: float = 30.0) -> ToolInfo:
    """Version of a kustomize binary, or of the kustomize embedded in kubectl (``kubectl=True``).

    The ToolInfo goes into the run metadata; its ``version`` for kubectl reads
    ``v5.5.0 (kubectl v1.32.4)`` because the embedded kustomize decides the rendering.
    """
    if kubectl:
        res = proc.run([path, "version", "--client", "-o", "json"], action="kubectl version", timeout=timeout)
        try:
            data = json.loads(res.stdout or b"{}")
        except ValueError as exc:
            raise ToolError(f"kubectl version: unreadable output from {path}") from exc
        kust = str(data.get("kustomizeVersion") or "")
        client = str((data.get("clientVersion") or {}).get("gitVersion") or "")
        if not kust:
            raise ToolError(f"kubectl version: {path} has no embedded kustomize (kubectl {client or '?'})")
        return ToolInfo(name="kustomize", path=f"{path} kustomize", version=f"{kust} (kubectl {client})".strip())
    res = proc.run([path, "version"], action="kustomize version", timeout=timeout)
    text = res.stdout.decode("utf-8", "replace").strip()
    # v5 prints "v5.5.0"; v4 prints "{Version:kustomize/v4.5.7 GitCommit:…}".
    m = _VERSION_RE.search(text.split("kustomize/", 1)[-1])
    return ToolInfo(name="kustomize", path=path, version=m.group(0) if m else text[:60])


def git_info(timeout: float = 30.0) -> ToolInfo:
    """Version of the ``git`` program on PATH, for the run metadata."""
    path = proc.which("git")
    if path is None:
        raise ToolError("git not found: install git")
    res = proc.run([path, "--version"], action="git version", timeout=timeout)
    text = res.stdout.decode("utf-8", "replace").strip()
    m = _VERSION_RE.search(text)
    return ToolInfo(name="git", path=path, version=m.group(0) if m else text[:60])
