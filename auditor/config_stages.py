"""Config sections that configure one stage each: source, cluster, drift, policy, change_control.

Each function turns one validated YAML section into the stage's own options dataclass
(``auditor/<stage>/options.py``), the only stage modules ``config`` may import.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from auditor.cluster.options import SECRET_MODES, ClusterOptions
from auditor.config_schema import Node
from auditor.diff.options import (
    DEFAULT_APPLIER_MANAGERS,
    DEFAULT_KNOWN_CONTROLLERS,
    DEFAULT_ORPHAN_KINDS,
    DriftOptions,
    IgnoreRule,
)
from auditor.model import Severity
from auditor.policy.options import PolicyOptions, Waiver
from auditor.provenance.options import ApprovalOptions, ChangeControlOptions
from auditor.render.argocd.options import ArgoCluster, ArgoOptions
from auditor.render.flux.options import ClusterOverride, FluxOptions
from auditor.render.options import AcceptRule
from auditor.repo.options import SourceOptions
from auditor.report.options import DEFAULT_KEY_ENV, EvidenceOptions

_SEVERITIES = tuple(s.value for s in Severity)


def parse_source(node: Node) -> SourceOptions:
    """``source:`` — clone cache, timeouts, allow-listed remote bases."""
    node.mapping(("cache_dir", "render_cache", "render_timeout", "git_timeout", "allow_remote_bases",
                  "allow_remote_repos", "repo_urls", "tool_memory_mb", "tool_processes"))
    return SourceOptions(
        cache_dir=node.string("cache_dir"),
        render_cache=node.string("render_cache"),
        render_timeout=node.number("render_timeout", 120.0, minimum=1),
        git_timeout=node.number("git_timeout", 300.0, minimum=1),
        allow_remote_bases=node.strings("allow_remote_bases"),
        allow_remote_repos=node.strings("allow_remote_repos"),
        repo_urls=node.strings("repo_urls"),
        tool_memory_mb=node.integer("tool_memory_mb", 2048, minimum=0),
        tool_processes=node.auto_count("tool_processes", 0, minimum=1),
    )


def parse_cluster(node: Node) -> tuple[ClusterOptions, tuple[tuple[str, str, str], ...]]:
    """``cluster:`` — kubeconfig, timeouts, retries, Secret handling; plus extra kinds to read for orphans."""
    node.mapping(
        (
            "kubeconfig",
            "request_timeout",
            "deadline",
            "max_attempts",
            "parallel_lists",
            "page_size",
            "secrets",
            "extra_kinds",
            "allow_exec_plugins",
        )
    )
    extra = _kinds(node, "extra_kinds")
    opts = ClusterOptions(
        kubeconfig=node.string("kubeconfig"),
        request_timeout=node.number("request_timeout", 10.0, minimum=0.1),
        deadline=node.number("deadline", 120.0, minimum=1),
        max_attempts=node.integer("max_attempts", 4, minimum=1),
        parallel_lists=node.integer("parallel_lists", 4, minimum=1),
        page_size=node.integer("page_size", 500, minimum=1),
        secrets=node.string("secrets", "metadata", choices=SECRET_MODES),
        allow_exec_plugins=node.boolean("allow_exec_plugins", True),
    )
    return opts, tuple(extra)


def _kinds(node: Node, key: str, default: tuple[tuple[str, str, str], ...] = ()) -> tuple[tuple[str, str, str], ...]:
    """A list of ``apiVersion/Kind`` strings as (group, version, kind); ``default`` when the key is absent."""
    if node.get(key).value is None:
        return default
    out: list[tuple[str, str, str]] = []
    for i, text in enumerate(node.strings(key)):
        parts = text.split("/")
        if len(parts) == 2:
            out.append(("", parts[0], parts[1]))
        elif len(parts) == 3:
            out.append((parts[0], parts[1], parts[2]))
        else:
            raise node.error(
                f"expected apiVersion/Kind such as 'v1/ConfigMap' or 'networking.k8s.io/v1/NetworkPolicy', "
                f"got {text!r}",
                (*node.path, key, i),
            )
    return tuple(out)


_IGNORE_KEYS = (
    "group",
    "kind",
    "name",
    "namespace",
    "jsonPointers",
    "jqPathExpressions",
    "managedFieldsManagers",
    "id",
)


def parse_drift(node: Node) -> DriftOptions:
    """``drift:`` — Argo CD-style ``ignoreDifferences``, appliers, controllers, orphan settings."""
    node.mapping(
        ("ignore_differences", "applier_managers", "known_controllers", "orphans", "extra_system_objects",
         "orphan_kinds", "ignore_aggregated_roles", "mutation_webhook_managers", "ignore_extraneous")
    )
    rules = []
    for item in node.items("ignore_differences"):
        item.mapping(_IGNORE_KEYS)
        name = item.string("name")
        glob = any(c in name for c in "*?[")
        rules.append(
            IgnoreRule(
                name="" if glob else name,
                name_pattern=name if glob else "",
                group=item.string("group"),
                kind=item.string("kind"),
                namespace=item.string("namespace"),
                json_pointers=item.strings("jsonPointers"),
                jq_path_expressions=item.strings("jqPathExpressions"),
                managed_fields_managers=item.strings("managedFieldsManagers"),
                id=item.string("id"),
            )
        )
        for j, pointer in enumerate(rules[-1].json_pointers):
            if not pointer.startswith("/"):
                raise item.error(f"JSON pointer must start with '/', got {pointer!r}", (*item.path, "jsonPointers", j))
    return DriftOptions(
        ignore=tuple(rules),
        applier_managers=node.strings("applier_managers", DEFAULT_APPLIER_MANAGERS),
        known_controllers=node.strings("known_controllers", DEFAULT_KNOWN_CONTROLLERS),
        orphans=node.boolean("orphans", True),
        extra_system_objects=node.strings("extra_system_objects"),
        orphan_kinds=_kinds(node, "orphan_kinds", DEFAULT_ORPHAN_KINDS),
        ignore_aggregated_roles=node.boolean("ignore_aggregated_roles", True),
        mutation_webhook_managers=node.strings("mutation_webhook_managers"),
        ignore_extraneous=node.boolean("ignore_extraneous", True),
    )


_WAIVER_KEYS = ("rule", "reason", "owner", "expires", "target", "env", "kind", "namespace", "name")


def parse_policy(node: Node, resolve: Callable[[str], Path]) -> PolicyOptions:
    """``policy:`` — user policy dirs, data, namespaces, engine, waivers. Paths are config-relative."""
    node.mapping(
        (
            "dirs", "builtin", "data", "namespaces", "all_namespaces", "engine", "opa_url", "opa_library",
            "waivers", "workers",
        )
    )
    waivers = []
    for item in node.items("waivers"):
        item.mapping(_WAIVER_KEYS)
        expires = item.string("expires")
        if expires:
            try:
                date.fromisoformat(expires)
            except ValueError:
                raise item.error(f"expected a date YYYY-MM-DD, got {expires!r}", (*item.path, "expires")) from None
        waivers.append(
            Waiver(
                rule=item.string("rule", required=True),
                reason=item.string("reason", required=True),
                owner=item.string("owner"),
                expires=expires,
                target=item.string("target"),
                env=item.string("env"),
                kind=item.string("kind"),
                namespace=item.string("namespace"),
                name=item.string("name"),
            )
        )
    engine = node.string("engine", "embedded", choices=("embedded", "opa-go", "opa"))
    opa_url = node.string("opa_url")
    opa_library = node.string("opa_library")
    if engine == "opa" and not opa_url:
        raise node.error("engine 'opa' needs opa_url (e.g. http://127.0.0.1:8181)", (*node.path, "engine"))
    # `auto` (the default) is one worker process per core, up to 4; 0 evaluates in the audit process.
    workers = node.auto_count("workers", -1, minimum=0)
    return PolicyOptions(
        dirs=tuple(str(resolve(d)) for d in node.strings("dirs")),
        builtin=node.boolean("builtin", True),
        data=tuple(str(resolve(d)) for d in node.strings("data")),
        namespaces=node.strings("namespaces", ("main",)),
        all_namespaces=node.boolean("all_namespaces", False),
        engine=engine,
        opa_url=opa_url,
        opa_library=str(resolve(opa_library)) if opa_library else "",
        waivers=tuple(waivers),
        workers=workers,
    )


def parse_change_control(node: Node, protected_envs: tuple[str, ...]) -> ChangeControlOptions:
    """``change_control:`` — audit window, owner identities, approval trailers, signatures, severities."""
    node.mapping(
        (
            "since",
            "default_window",
            "identities",
            "approval_trailers",
            "accept_merge_commits",
            "include_codeowners_file",
            "require_signed",
            "unowned_severity",
            "unapproved_severity",
            "unsigned_severity",
            "approvals",
        )
    )
    identities_node = node.get("identities")
    identities: dict[str, tuple[str, ...]] = {}
    if identities_node.value is not None:
        identities_node.mapping(tuple(str(k) for k in (identities_node.value or {})))
        for key in identities_node.value:
            identities[str(key)] = identities_node.strings(str(key))
    return ChangeControlOptions(
        protected_envs=protected_envs,
        since=node.string("since"),
        default_window=node.string("default_window", "30d"),
        identities=identities,
        approval_trailers=node.strings("approval_trailers", ("Approved-by", "Reviewed-by")),
        accept_merge_commits=node.boolean("accept_merge_commits", True),
        include_codeowners_file=node.boolean("include_codeowners_file", True),
        require_signed=node.boolean("require_signed", False),
        unowned_severity=Severity(node.string("unowned_severity", "medium", choices=_SEVERITIES)),
        unapproved_severity=Severity(node.string("unapproved_severity", "high", choices=_SEVERITIES)),
        unsigned_severity=Severity(node.string("unsigned_severity", "medium", choices=_SEVERITIES)),
        approvals=parse_approvals(node.get("approvals")),
    )


def parse_approvals(node: Node) -> ApprovalOptions:
    """``change_control.approvals:`` — GitHub/GitLab API for pull-request approvals."""
    node.mapping(("provider", "api_url", "repository", "token_env", "cache_dir", "timeout", "max_wait", "max_pages"))
    provider = node.string("provider", "", choices=("", "github", "gitlab"))
    repository = node.string("repository")
    if provider and not repository:
        raise node.error("required with a provider: owner/name (GitHub) or group/project (GitLab)",
                         (*node.path, "repository"))
    api_url = node.string("api_url")
    if api_url and not re.match(r"https?://", api_url):
        raise node.error(f"expected an http(s) URL, got {api_url!r}", (*node.path, "api_url"))
    return ApprovalOptions(
        provider=provider,
        api_url=api_url,
        repository=repository,
        token_env=node.string("token_env"),
        cache_dir=node.string("cache_dir"),
        timeout=node.number("timeout", 10.0, minimum=0.1),
        max_wait=node.number("max_wait", 60.0, minimum=0),
        max_pages=node.integer("max_pages", 50, minimum=1),
    )


def parse_evidence(node: Node, resolve: Callable[[str], Path]) -> EvidenceOptions:
    """``evidence:`` — signing key (file, env var, mounted Secret directory), what the bundle holds."""
    node.mapping(("signing_key_file", "signing_key_env", "signing_key_dir", "require_signature", "include_state"))
    key_file = node.string("signing_key_file")
    key_dir = node.string("signing_key_dir")
    return EvidenceOptions(
        signing_key_file=str(resolve(key_file)) if key_file else "",
        signing_key_env=node.string("signing_key_env", DEFAULT_KEY_ENV),
        signing_key_dir=str(resolve(key_dir)) if key_dir else "",
        require_signature=node.boolean("require_signature", False),
        include_state=node.boolean("include_state", True),
    )


FLUX_KEYS = (
    "clusters", "name_pattern", "env_var", "region_var", "context", "snapshot", "overrides", "source_paths",
    "repo_sources", "allow_cluster_substitution", "strict_substitution", "helm_charts", "kustomize_helm",
    "helm_timeout", "helm_kube_version", "render_workers", "root_name",
)
_OVERRIDE_KEYS = ("env", "region", "context", "snapshot", "namespace", "name", "source_paths")


def parse_flux(node: Node, resolve: Any) -> FluxOptions:
    """The ``flux:`` config section → FluxOptions (``resolve`` turns config-relative paths absolute).

    Written against :class:`~auditor.config_schema.Node` so it can move to ``config_stages.py`` as is.
    """
    node.mapping(FLUX_KEYS)
    overrides = _overrides(node, resolve)
    pattern = node.string("name_pattern")
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise node.error(f"invalid regular expression: {exc}", (*node.path, "name_pattern")) from None
    snapshot = node.string("snapshot")
    source_paths = _source_paths(node, resolve)
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


def _source_paths(node: Node, resolve: Any) -> dict[str, str]:
    source_paths = {k: str(resolve(v)) for k, v in node.string_map("source_paths").items()}
    for key in source_paths:
        if key.count("/") != 2:
            raise node.error(f"source key {key!r} must read Kind/namespace/name", (*node.path, "source_paths", key))
    return source_paths


def _overrides(node: Node, resolve: Any) -> dict[str, ClusterOverride]:
    """``overrides.<cluster>``: env, region, context, snapshot, namespace, name (and Flux source paths)."""
    overrides: dict[str, ClusterOverride] = {}
    over = node.get("overrides").mapping(tuple(str(k) for k in (node.get("overrides").value or {})))
    for name in over.value or {}:
        o = over.get(str(name)).mapping(_OVERRIDE_KEYS)
        snap = o.string("snapshot")
        overrides[str(name)] = ClusterOverride(
            env=o.string("env"), region=o.string("region"), context=o.string("context"),
            snapshot=str(resolve(snap)) if snap else "", namespace=o.string("namespace"), name=o.string("name"),
            source_paths=_source_paths(o, resolve))
    return overrides


ARGOCD_KEYS = (
    "apps", "root", "root_values", "root_destination", "namespace", "revision", "context", "snapshot", "overrides",
    "clusters", "tracking", "instance_label", "helm_kube_version", "helm_timeout", "jsonnet_timeout", "max_depth",
)


def parse_argocd(node: Node, resolve: Any) -> ArgoOptions:
    """The ``argocd:`` config section → ArgoOptions (``resolve`` turns config-relative paths absolute)."""
    node.mapping(ARGOCD_KEYS)
    clusters = []
    for item in node.items("clusters"):
        item.mapping(("name", "server", "labels", "annotations"))
        clusters.append(ArgoCluster(name=item.string("name", required=True),
                                    server=item.string("server", required=True),
                                    labels=item.string_map("labels"), annotations=item.string_map("annotations")))
    apps = node.string("apps")
    root = node.string("root")
    for key, value in (("apps", apps), ("root", root)):
        if value.startswith("/") or ".." in value.split("/"):
            raise node.error(f"{value!r} must be a path or glob inside the repository", (*node.path, key))
    snapshot = node.string("snapshot")
    return ArgoOptions(
        apps=apps,
        root=root.strip("/"),
        root_values=node.strings("root_values"),
        root_destination=node.string("root_destination", ArgoOptions.root_destination),
        namespace=node.string("namespace", "argocd"),
        revision=node.string("revision", "HEAD"),
        context=node.string("context"),
        snapshot=str(resolve(snapshot)) if snapshot else "",
        overrides=_overrides(node, resolve),
        clusters=tuple(clusters),
        tracking=node.string("tracking", "annotation", choices=("annotation", "label", "annotation+label")),
        instance_label=node.string("instance_label", ArgoOptions.instance_label),
        helm_kube_version=node.string("helm_kube_version"),
        helm_timeout=node.number("helm_timeout", 120.0, minimum=1),
        jsonnet_timeout=node.number("jsonnet_timeout", 60.0, minimum=1),
        max_depth=node.integer("max_depth", 10, minimum=1),
    )


def parse_accept_rules(node: Node, key: str) -> tuple[AcceptRule, ...]:
    """Top-level ``accept_unrendered:`` or ``accept_unread:`` (``node``: the config root), with reasons."""
    rules = []
    for item in node.items(key):
        item.mapping(("kind", "name", "target", "reason", "reason_contains"))
        rules.append(AcceptRule(reason=item.string("reason", required=True), kind=item.string("kind"),
                                name=item.string("name"), target=item.string("target"),
                                reason_contains=item.string("reason_contains")))
    return tuple(rules)
