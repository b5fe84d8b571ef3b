"""Load and validate the audit config into frozen dataclasses; errors read ``file:line: key.path: problem``."""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from auditor.cluster.options import ClusterOptions
from auditor.config_schema import Node
from auditor.config_stages import (
    parse_accept_rules,
    parse_argocd,
    parse_change_control,
    parse_cluster,
    parse_drift,
    parse_evidence,
    parse_flux,
    parse_policy,
    parse_source,
)
from auditor.diff.options import DriftOptions
from auditor.errors import ConfigError, UsageError
from auditor.model import Severity, Target
from auditor.policy.options import PolicyOptions
from auditor.provenance.options import ChangeControlOptions
from auditor.render.argocd.options import ArgoOptions
from auditor.render.flux.options import FluxOptions
from auditor.render.options import AcceptRule, PathOptions
from auditor.repo.options import SourceOptions
from auditor.report.options import EvidenceOptions
from auditor.util.yamlio import YamlError, load_with_lines

CONFIG_ENV = "GITOPS_AUDIT_CONFIG"
DEFAULT_CONFIG_NAME = "gitops-audit.yaml"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_SEVERITIES = tuple(s.value for s in Severity)


@dataclass(frozen=True)
class OutputOptions:
    """Where reports go and how many runs are kept."""

    dir: str = "reports"
    """Absolute, or relative to the config file's directory."""
    keep: int = 30


@dataclass(frozen=True)
class ToolPaths:
    """Explicit paths of external programs; empty means "look on PATH"."""

    kustomize: str = ""
    kubectl: str = ""
    helm: str = ""


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, validated."""

    base_dir: Path
    """Directory relative paths in the config are resolved against."""
    repo: str
    ref: str = "HEAD"
    fail_on: Severity = Severity.HIGH
    output: OutputOptions = field(default_factory=OutputOptions)
    tools: ToolPaths = field(default_factory=ToolPaths)
    default_namespace: str = "default"
    protected_envs: tuple[str, ...] = ()
    concurrency: int = 4
    """Targets audited in parallel (bounded pool)."""
    targets: tuple[Target, ...] = ()
    source: SourceOptions = field(default_factory=SourceOptions)
    cluster: ClusterOptions = field(default_factory=ClusterOptions)
    extra_kinds: tuple[tuple[str, str, str], ...] = ()
    """(group, version, kind) read live in every target besides the kinds in desired (orphan detection)."""
    drift: DriftOptions = field(default_factory=DriftOptions)
    policy: PolicyOptions = field(default_factory=PolicyOptions)
    change_control: ChangeControlOptions = field(default_factory=ChangeControlOptions)
    flux: FluxOptions = field(default_factory=FluxOptions)
    """Flux cluster discovery: with ``flux.clusters`` set, targets are also discovered from the repository."""
    argocd: ArgoOptions = field(default_factory=ArgoOptions)
    """Argo CD discovery: with ``argocd.apps`` or ``argocd.root``, one target per destination cluster."""
    paths: PathOptions = field(default_factory=PathOptions)
    """How plain path targets render Helm charts (ad-hoc ``--values``)."""
    accept_unrendered: tuple[AcceptRule, ...] = ()
    """Parts of the desired state knowingly left unaudited (each with a reason); others make a target partial."""
    accept_unread: tuple[AcceptRule, ...] = ()
    """Live kinds knowingly left unread (each with a reason), e.g. a namespace the auditor may not list."""
    evidence: EvidenceOptions = field(default_factory=EvidenceOptions)
    """Evidence bundle signing and contents."""
    source_path: str = ""
    """The config file, for messages and the evidence bundle; empty for ad-hoc runs."""
    raw: bytes = b""
    """The config file's bytes (hashed into the evidence bundle)."""

    @property
    def sha256(self) -> str:
        """Hash of the config file's bytes, recorded as evidence."""
        return hashlib.sha256(self.raw).hexdigest() if self.raw else ""

    def resolve(self, path: str) -> Path:
        """Resolve a config-relative path."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def repo_location(self, repo: str) -> str:
        """A repository location as git should see it: URLs unchanged, paths resolved."""
        if _is_url(repo):
            return repo
        return str(self.resolve(repo))


_TOP_KEYS = (
    "version",
    "repo",
    "ref",
    "fail_on",
    "output",
    "defaults",
    "protected_envs",
    "concurrency",
    "tools",
    "targets",
    "source",
    "cluster",
    "drift",
    "policy",
    "change_control",
    "flux",
    "argocd",
    "accept_unrendered",
    "accept_unread",
    "evidence",
)
_TARGET_KEYS = ("name", "env", "region", "path", "context", "snapshot", "repo", "ref", "namespace", "labels")


def _is_url(location: str) -> bool:
    return "://" in location or bool(re.match(r"^[\w.-]+@[\w.-]+:", location))


def find_config(explicit: str | None, cwd: Path | None = None) -> Path | None:
    """The config to use: ``--config``, else ``$GITOPS_AUDIT_CONFIG``, else ``./gitops-audit.yaml`` if present."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    candidate = (cwd or Path.cwd()) / DEFAULT_CONFIG_NAME
    return candidate if candidate.is_file() else None


def load_config(path: Path) -> RunConfig:
    """Read and validate a config file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"read config {path}: {exc.strerror or exc}") from None
    return parse_config(raw, source=str(path), base_dir=path.resolve().parent)


def parse_config(raw: bytes, *, source: str, base_dir: Path) -> RunConfig:
    """Validate config bytes; ``source`` names the file in messages."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        value, lines = load_with_lines(text, source, strict_keys=True)
    except YamlError as exc:
        raise ConfigError(str(exc)) from None
    root = Node(value, (), source, lines).mapping(_TOP_KEYS)
    version = root.integer("version", 1)
    if version != 1:
        raise root.error(f"unsupported config version {version} (this gitops-audit reads version 1)", ("version",))

    output = root.get("output").mapping(("dir", "keep"))
    defaults = root.get("defaults").mapping(("namespace",))
    tools = root.get("tools").mapping(("kustomize", "kubectl", "helm"))
    default_ns = defaults.string("namespace", "default")
    protected_envs = root.strings("protected_envs")
    cluster, extra_kinds = parse_cluster(root.get("cluster"))
    cfg = RunConfig(
        base_dir=base_dir,
        repo=root.string("repo", "."),
        ref=root.string("ref", "HEAD"),
        fail_on=Severity(root.string("fail_on", "high", choices=_SEVERITIES)),
        output=OutputOptions(dir=output.string("dir", "reports"), keep=output.integer("keep", 30, minimum=1)),
        tools=ToolPaths(
            kustomize=tools.string("kustomize"), kubectl=tools.string("kubectl"), helm=tools.string("helm")
        ),
        default_namespace=default_ns,
        protected_envs=protected_envs,
        concurrency=root.integer("concurrency", 4, minimum=1),
        source=parse_source(root.get("source")),
        cluster=cluster,
        extra_kinds=extra_kinds,
        drift=parse_drift(root.get("drift")),
        change_control=parse_change_control(root.get("change_control"), protected_envs),
        source_path=source,
        raw=raw,
    )
    cfg = replace(
        cfg,
        policy=parse_policy(root.get("policy"), cfg.resolve),
        flux=replace(parse_flux(root.get("flux"), cfg.resolve), helm_path=cfg.tools.helm),
        argocd=replace(parse_argocd(root.get("argocd"), cfg.resolve), helm_path=cfg.tools.helm),
        paths=PathOptions(helm_path=cfg.tools.helm),
        accept_unrendered=parse_accept_rules(root, "accept_unrendered"),
        accept_unread=parse_accept_rules(root, "accept_unread"),
        evidence=parse_evidence(root.get("evidence"), cfg.resolve),
    )
    if cfg.source.cache_dir:
        cfg = replace(cfg, source=replace(cfg.source, cache_dir=str(cfg.resolve(cfg.source.cache_dir))))
    if cfg.source.render_cache not in ("", "off"):
        cfg = replace(cfg, source=replace(cfg.source, render_cache=str(cfg.resolve(cfg.source.render_cache))))
    targets = tuple(_parse_target(node, cfg) for node in root.items("targets"))
    named = [cfg.repo_location(cfg.repo), *(t.repo for t in targets)]
    cfg = replace(cfg, source=with_credential_hosts(cfg.source, named))
    seen: dict[str, int] = {}
    for i, t in enumerate(targets):
        if t.name in seen:
            raise root.error(
                f"duplicate target name {t.name!r} (also targets[{seen[t.name]}])", ("targets", i, "name")
            )
        seen[t.name] = i
    return replace(cfg, targets=targets)


def _parse_target(node: Node, cfg: RunConfig) -> Target:
    node.mapping(_TARGET_KEYS)
    name = node.string("name", required=True)
    if not _NAME_RE.match(name):
        raise node.error("must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", (
            *node.path,
            "name",
        ))
    path = node.string("path", required=True)
    if Path(path).is_absolute() or ".." in Path(path).parts:
        raise node.error("must be a path inside the repository (relative, no '..')", (*node.path, "path"))
    context = node.string("context")
    snapshot = node.string("snapshot")
    if context and snapshot:
        raise node.error("give either 'context' or 'snapshot', not both", (*node.path, "snapshot"))
    if not context and not snapshot:
        raise node.error("missing live source: give 'context' (kubeconfig context) or 'snapshot' (directory)")
    labels = node.string_map("labels")
    return Target(
        name=name,
        env=node.string("env"),
        region=node.string("region"),
        path=path.strip("/") or ".",
        context=context,
        snapshot=str(cfg.resolve(snapshot)) if snapshot else "",
        repo=cfg.repo_location(node.string("repo", cfg.repo)),
        ref=node.string("ref", cfg.ref),
        namespace=node.string("namespace", cfg.default_namespace),
        labels=tuple(sorted(labels.items())),
    )


@dataclass(frozen=True)
class Selection:
    """Which targets a run covers (all filters must match; each filter may be given several times)."""

    names: tuple[str, ...] = ()
    contexts: tuple[str, ...] = ()
    envs: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing filters."""
        return not (self.names or self.contexts or self.envs or self.regions)


def select_targets(targets: Sequence[Target], sel: Selection) -> tuple[Target, ...]:
    """Filter targets; a filter that matches nothing is a usage error listing what exists."""
    out = [
        t
        for t in targets
        if (not sel.names or t.name in sel.names)
        and (not sel.contexts or t.context in sel.contexts)
        and (not sel.envs or t.env in sel.envs)
        and (not sel.regions or t.region in sel.regions)
    ]
    if not out:
        raise UsageError(f"select targets: {_no_match(targets, sel)}")
    return tuple(out)


def _known(values: Sequence[str], limit: int = 20) -> str:
    """``a, b, c`` (sorted, unique, capped) or ``none``."""
    unique = sorted({v for v in values if v})
    more = f", … ({len(unique) - limit} more)" if len(unique) > limit else ""
    return ", ".join(unique[:limit]) + more if unique else "none"


def _no_match(targets: Sequence[Target], sel: Selection) -> str:
    """Which filter matched nothing, with the values that exist for it (never every target's details)."""
    dims = (
        ("--target", "targets", sel.names, [t.name for t in targets]),
        ("--context", "contexts", sel.contexts, [t.context for t in targets]),
        ("--env", "envs", sel.envs, [t.env for t in targets]),
        ("--region", "regions", sel.regions, [t.region for t in targets]),
    )
    for flag, plural, wanted, have in dims:
        unknown = [w for w in wanted if w not in have]
        if wanted and len(unknown) == len(wanted):
            given = ", ".join(f"{flag} {w}" for w in unknown)
            return f"{given}: no target matches (known {plural}: {_known(have)})"
    given = " and ".join(f"{flag} {'|'.join(wanted)}" for flag, _p, wanted, _h in dims if wanted)
    return f"no target matches {given} together (targets: {_known([t.name for t in targets])})"


def with_credential_hosts(source: SourceOptions, locations: list[str]) -> SourceOptions:
    """``source`` plus the http(s) hosts of the repositories the user named (env-var credentials go only there)."""
    hosts = set(source.credential_hosts)
    for loc in locations:
        parts = urllib.parse.urlsplit(loc)
        if parts.scheme in ("http", "https") and parts.hostname:
            hosts.add(f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else ""))
    return replace(source, credential_hosts=tuple(sorted(hosts)))


def adhoc_config(
    *,
    repo: str,
    ref: str,
    path: str,
    context: str,
    snapshot: str,
    env: str,
    region: str,
    namespace: str,
    cwd: Path,
    values: tuple[str, ...] = (),
) -> RunConfig:
    """A one-target config from command-line flags alone (no config file)."""
    if not path:
        raise UsageError("ad-hoc target: --path is required with --repo (the overlay, chart or directory to render)")
    if bool(context) == bool(snapshot):
        raise UsageError("ad-hoc target: give exactly one of --context or --snapshot")
    cfg = RunConfig(base_dir=cwd, repo=repo, ref=ref or "HEAD", default_namespace=namespace or "default",
                    paths=PathOptions(helm_values=tuple(values)))
    name = context or Path(snapshot).name or "adhoc"
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", name)[:63] or "adhoc"
    target = Target(
        name=safe,
        env=env,
        region=region,
        path=path.strip("/") or ".",
        context=context,
        snapshot=str(cfg.resolve(snapshot)) if snapshot else "",
        repo=cfg.repo_location(repo),
        ref=cfg.ref,
        namespace=cfg.default_namespace,
    )
    return replace(cfg, targets=(target,), source=with_credential_hosts(cfg.source, [target.repo]))
