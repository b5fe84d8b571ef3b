"""The rule catalogue in a run (wiring): controls on every finding, and the checks each target ran.

Built once per run from the loaded policy modules (built-in pack and user policies, so user METADATA
counts too) and the catalogue's data files. Each audited target then gets its findings annotated
(``details.controls``, and a title/remediation where the check gave none) and its
:class:`~auditor.model.RuleCheck` list, the denominators of the report's framework view.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from auditor.catalog.checks import annotate, inventory_of, rule_checks
from auditor.catalog.load import load_catalog, rego_sources
from auditor.catalog.model import Catalog
from auditor.errors import AuditorError
from auditor.model import AuditReport, Finding, Manifest, RenderedSet, RuleCheck, Target
from auditor.policy.audit import PolicySet
from auditor.policy.builtin import builtin_policy_dir
from auditor.policy.loader import load_data
from auditor.policy.options import PolicyOptions
from auditor.provenance.options import ChangeControlOptions

log = logging.getLogger("gitops_audit")

_DEFAULT_PRODUCTION_ENVS = ("production", "prod")


@dataclass(frozen=True)
class RunCatalog:
    """The catalogue plus what the run's policy configuration says about which rules can run."""

    catalog: Catalog
    packages: frozenset[str] | None
    """Rego packages the run evaluates; None when policies are off."""
    settings: frozenset[str]
    """Pack settings (data.gitops_audit.config) that are set to a non-empty value."""
    production_envs: frozenset[str]
    enabled: frozenset[str] = frozenset()
    """The pack's ``enable`` setting (opt-in rules switched on)."""
    disabled: frozenset[str] = frozenset()
    """The pack's ``disable`` setting."""


def run_catalog(policies: PolicySet | None, options: PolicyOptions) -> RunCatalog:
    """Build the run's catalogue; METADATA that cannot be read is logged (OPA would refuse the module)."""
    if policies is not None:
        sources = [(m.path, m.source) for m in policies.modules if not m.is_test]
        packages: frozenset[str] | None = frozenset(
            ns.namespace for ns in (*policies.document_namespaces, *policies.combined_namespaces)
        )
    else:
        sources = rego_sources([builtin_policy_dir()])
        packages = None
    catalog = load_catalog(sources)
    for problem in catalog.problems:
        log.warning("rule catalogue: %s", problem)
    config: dict[str, object] = {}
    if policies is not None:
        try:
            data = load_data(options.data)
            raw = data.get("gitops_audit", {}).get("config", {}) if isinstance(data.get("gitops_audit"), dict) else {}
            config = raw if isinstance(raw, dict) else {}
        except (AuditorError, AttributeError):  # already reported by load_policies; counts stay conservative
            config = {}
    envs = config.get("production_envs", _DEFAULT_PRODUCTION_ENVS)
    return RunCatalog(
        catalog=catalog,
        packages=packages,
        settings=frozenset(k for k, v in config.items() if v not in (None, "", [], {})),
        production_envs=frozenset(str(e) for e in envs) if isinstance(envs, list | tuple) else frozenset(),
        enabled=_names(config.get("enable")),
        disabled=_names(config.get("disable")),
    )


def _names(value: object) -> frozenset[str]:
    return frozenset(str(v) for v in value) if isinstance(value, list | tuple) else frozenset()


def annotate_all(rc: RunCatalog, findings: Sequence[Finding]) -> list[Finding]:
    """Every finding with its controls (and title/remediation when missing) from the catalogue."""
    return [annotate(f, rc.catalog) for f in findings]


def target_checks(
    rc: RunCatalog,
    target: Target,
    desired: Collection[Manifest],
    live: Collection[Manifest],
    rendered: RenderedSet,
    *,
    change_control: ChangeControlOptions,
    change_control_ran: bool,
    codeowners_found: bool,
    orphans: bool,
) -> tuple[RuleCheck, ...]:
    """The rules with controls that ran on this target and on how many subjects (see auditor.catalog.checks)."""
    protected = change_control_ran and target.env in change_control.protected_envs
    # Files of other repositories or branches are not changes to this repository (as change control).
    files = {f.path for m in rendered.objects for f in m.provenance.files if not f.repo}
    if protected and codeowners_found and change_control.include_codeowners_file:
        files.add("CODEOWNERS")
    inv = inventory_of(
        desired,
        live,
        files=len(files),
        policy_packages=rc.packages,
        orphans=orphans,
        change_control=("on" if codeowners_found else "no-codeowners") if protected else "",
        signed_commits=change_control.require_signed,
        production=bool(target.env) and target.env in rc.production_envs,
        settings=rc.settings,
        enabled=rc.enabled,
        disabled=rc.disabled,
        cluster_read=bool(target.context),
    )
    return rule_checks(rc.catalog, inv)


def evidenced_controls(report: AuditReport) -> Mapping[str, tuple[str, ...]]:
    """Rule id → the catalogue controls of every rule that ran on an audited target (its checks).

    The OSCAL assessment results (``write_run(controls=...)``) name, per control, the findings
    that evidence it; a control of a rule that ran without a counted finding is ``satisfied``. Only
    rules that ran count: an opt-in rule left off, or change control on a target that is not
    protected, proves nothing about its controls. The checks are in the report itself, so a merged
    report (``report merge``) gives the same answer as the shards' run.
    """
    out: dict[str, set[str]] = {}
    for r in report.results:
        if not r.audited:
            continue
        for c in r.checks:
            if c.evaluated > 0 and c.controls:
                out.setdefault(c.rule_id, set()).update(c.controls)
    return {rule: tuple(sorted(ids)) for rule, ids in sorted(out.items())}
