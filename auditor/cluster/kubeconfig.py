"""kubeconfig handling like kubectl: --kubeconfig, merged KUBECONFIG, ~/.kube/config, in-cluster."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.cluster.options import ClusterOptions
from auditor.errors import ConfigError
from auditor.util import yamlio

IN_CLUSTER = "in-cluster"
"""Context name that selects the pod's service account (also used when no kubeconfig exists)."""
_SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class KubeconfigSource:
    """Where contexts come from: kubeconfig paths (merged in order), or the in-cluster service account."""

    paths: tuple[str, ...]
    in_cluster: bool

    @property
    def joined(self) -> str:
        """Paths joined the way ``KUBECONFIG`` joins them (what the kubernetes loader merges)."""
        return os.pathsep.join(self.paths)

    @property
    def description(self) -> str:
        """Human description for error messages."""
        if self.paths:
            return "kubeconfig " + os.pathsep.join(self.paths)
        return "in-cluster service account"


def in_cluster_available() -> bool:
    """True when running in a pod with a mounted service-account token."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (_SA_DIR / "token").is_file()


def resolve_source(options: ClusterOptions) -> KubeconfigSource:
    """Pick the kubeconfig as kubectl does; raises :class:`ConfigError` when there is none.

    The ``--kubeconfig`` file only, else ``KUBECONFIG`` (merged), else ``~/.kube/config``, else the
    in-cluster service account.
    """
    if options.kubeconfig:
        path = Path(options.kubeconfig).expanduser()
        if not path.is_file():
            raise ConfigError(f"load kubeconfig {options.kubeconfig}: no such file")
        return KubeconfigSource((str(path),), in_cluster=False)
    env = os.environ.get("KUBECONFIG", "")
    if env:
        # kubectl skips KUBECONFIG entries that do not exist, and merges the rest in order.
        paths = tuple(
            str(Path(p).expanduser()) for p in env.split(os.pathsep) if p and Path(p).expanduser().is_file()
        )
        if paths:
            return KubeconfigSource(paths, in_cluster=in_cluster_available())
    default = Path("~/.kube/config").expanduser()
    if not env and default.is_file():
        return KubeconfigSource((str(default),), in_cluster=in_cluster_available())
    if in_cluster_available():
        return KubeconfigSource((), in_cluster=True)
    raise ConfigError(
        "load kubeconfig: none found (give --kubeconfig, set KUBECONFIG or create ~/.kube/config)"
        " and not running in a cluster"
    )


_Signature = tuple[tuple[str, int, int, int], ...]
_PARSED: dict[_Signature, tuple[dict[str, dict[str, Any]], dict[str, Any], str]] = {}
_PARSED_LOCK = threading.Lock()
_PARSED_KEEP = 8


def _signature(source: KubeconfigSource) -> _Signature | None:
    """The files as they are now (path, inode, size, mtime); None when one cannot be read."""
    try:
        stats = [(p, os.stat(p)) for p in source.paths]
    except OSError:
        return None
    return tuple((p, st.st_ino, st.st_size, st.st_mtime_ns) for p, st in stats)


def load_contexts(source: KubeconfigSource) -> tuple[dict[str, dict[str, Any]], str]:
    """(context name → context entry, current-context) of the merged kubeconfig."""
    if not source.paths:
        return {}, ""
    contexts, _, current = _parsed(source)
    return {name: dict(entry) for name, entry in contexts.items()}, current


def _parsed(source: KubeconfigSource) -> tuple[dict[str, dict[str, Any]], dict[str, Any], str]:
    """(contexts, users by name, current-context), parsed once per version of the files.

    Every target of a fleet reads its context from the same kubeconfig, usually one with every context
    of the fleet: parsed per target (three times), the cost grew with the square of the fleet.
    """
    sig = _signature(source)
    with _PARSED_LOCK:
        hit = _PARSED.get(sig) if sig is not None else None
    if hit is not None:
        return hit
    parsed = _parse(source)
    if sig is not None:
        with _PARSED_LOCK:
            while len(_PARSED) >= _PARSED_KEEP:
                _PARSED.pop(next(iter(_PARSED)))
            _PARSED[sig] = parsed
    return parsed


def _parse(source: KubeconfigSource) -> tuple[dict[str, dict[str, Any]], dict[str, Any], str]:
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigMerger

    for path in source.paths:
        # The kubernetes loader parses without bounds: an alias bomb or a self-referencing alias in a
        # kubeconfig would take the process down. Our parser refuses both first, with file:line.
        try:
            yamlio.load_one(Path(path).read_bytes(), path)
        except yamlio.YamlError as exc:
            raise ConfigError(f"load kubeconfig {exc}") from None
        except OSError as exc:
            raise ConfigError(f"load kubeconfig {path}: {exc.strerror or exc}") from None
    try:
        # The merger alone (not the loader): the loader insists on a valid current-context.
        merged = KubeConfigMerger(source.joined).config
        value = merged.value if merged is not None else {}
        contexts = value.get("contexts") or []
        users = value.get("users") or []
    except ConfigException as exc:
        raise ConfigError(f"load {source.description}: {_first_line(exc)}") from None
    except Exception as exc:  # malformed YAML and the like, raised by the loader's parser
        raise ConfigError(f"load {source.description}: {type(exc).__name__}: {_first_line(exc)}") from None
    by_name: dict[str, dict[str, Any]] = {}
    for node in contexts:
        entry = getattr(node, "value", node)  # merged entries are wrapped in ConfigNode
        if isinstance(entry, dict) and entry.get("name"):
            by_name.setdefault(str(entry["name"]), dict(entry.get("context") or {}))
    user_specs: dict[str, Any] = {}
    for node in users:
        entry = getattr(node, "value", node)
        if isinstance(entry, dict) and entry.get("name"):
            spec = entry.get("user") or {}
            user_specs.setdefault(str(entry["name"]), getattr(spec, "value", spec))
    # The merger lets the last file's current-context win; kubectl takes the first file that sets one.
    return by_name, user_specs, _first_current_context(source.paths)


def _first_current_context(paths: Sequence[str]) -> str:
    """``current-context`` of the first file that sets one (kubectl's merge rule)."""
    for path in paths:
        try:
            doc = yamlio.load_one(Path(path).read_bytes(), path)
        except (OSError, yamlio.YamlError):
            continue  # the loader already accepted the files; an unreadable one sets nothing
        if isinstance(doc, dict) and doc.get("current-context"):
            return str(doc["current-context"])
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def check_contexts(contexts: Sequence[str], options: ClusterOptions) -> None:
    """Fail before any API call when a context does not exist (``ConfigError``, exit 2).

    ``""`` means the kubeconfig's current-context; ``in-cluster`` the pod's service account.
    """
    source = resolve_source(options)
    known, current = load_contexts(source)
    for ctx in contexts:
        if ctx == IN_CLUSTER and IN_CLUSTER not in known:
            if not in_cluster_available():
                raise ConfigError(f"context {IN_CLUSTER}: not running in a cluster (no service-account token)")
            continue
        if not ctx:
            if current or (not source.paths and source.in_cluster):
                continue
            raise ConfigError(f"{source.description}: no current-context set; name a context")
        if ctx not in known:
            names = ", ".join(sorted(known)) or "none"
            raise ConfigError(f"unknown kubeconfig context {ctx!r} in {source.description} (known: {names})")


def user_entry(source: KubeconfigSource, user: str) -> dict[str, Any] | None:
    """The ``user:`` mapping of a kubeconfig user (first file that defines it, as kubectl merges), or None."""
    if not source.paths or not user:
        return None
    try:
        spec = _parsed(source)[1].get(user)
    except ConfigError:  # already loaded successfully once; a re-read failure only loses this detail
        return None
    return dict(spec) if isinstance(spec, dict) else None


def user_is_renewable(source: KubeconfigSource, user: str) -> bool:
    """True when a kubeconfig user's token comes from an exec plugin, auth provider or token file."""
    spec = user_entry(source, user)
    return spec is not None and any(k in spec for k in ("exec", "auth-provider", "tokenFile"))
