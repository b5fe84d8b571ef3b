"""Which rules ran on a target and on how many subjects: the denominators of the framework view.

No stage reports what it evaluated, so the count is derived from what a rule applies to (its catalogue
``kinds`` and ``unit``) and what the target holds (its :class:`Inventory`). A check is one (rule, subject)
pair; a subject is an object of the rule's kinds (desired, or found only in the cluster), a namespace that
runs workloads, a file that feeds a protected target, or the target itself. See :mod:`auditor.catalog.scoring`
for how passed and failed checks are counted from these and the findings.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

from auditor.catalog.model import WORKLOAD_KINDS, Catalog, RuleInfo
from auditor.model import Finding, Manifest, RuleCheck


@dataclass(frozen=True)
class Inventory:
    """What one target's checks could look at."""

    kinds: Mapping[str, int] = field(default_factory=dict, hash=False)
    """Objects per kind: desired objects plus objects found only in the cluster."""
    namespaces_with_workloads: int = 0
    desired_objects: int = 0
    live_objects: int = 0
    files: int = 0
    """Files that feed the target (change control)."""
    policy_packages: frozenset[str] | None = None
    """Rego packages evaluated on the target; None when policies are off."""
    drift: bool = True
    orphans: bool = True
    change_control: str = ""
    """``""`` (not a protected target), ``on``, or ``no-codeowners`` (only that rule ran)."""
    signed_commits: bool = False
    production: bool = False
    """The target's env is one of the pack's production_envs (rules that require ``production``)."""
    settings: frozenset[str] = frozenset()
    """Pack settings that are set (rules that require one, e.g. ``allowed_registries``)."""
    enabled: frozenset[str] = frozenset()
    """The pack's ``enable`` setting: opt-in rules switched on (``all`` for every one)."""
    disabled: frozenset[str] = frozenset()
    """The pack's ``disable`` setting: rules switched off."""
    cluster_read: bool = False
    """Live state was read from an API server (not a snapshot): the transport rules (``cluster.*``) ran."""


def inventory_of(
    desired: Collection[Manifest],
    live: Collection[Manifest],
    **fields: object,
) -> Inventory:
    """An :class:`Inventory` counting kinds over desired objects and live-only objects; other fields as given."""
    desired_refs = {m.ref for m in desired}
    counts: dict[str, int] = {}
    namespaces: set[str] = set()
    for m in (*desired, *(m for m in live if m.ref not in desired_refs)):
        counts[m.ref.kind] = counts.get(m.ref.kind, 0) + 1
        if m.ref.kind in WORKLOAD_KINDS:
            namespaces.add(m.ref.namespace)
    return Inventory(
        kinds=counts,
        namespaces_with_workloads=len(namespaces),
        desired_objects=len(desired),
        live_objects=len(live),
        **fields,  # type: ignore[arg-type]
    )


def _policy_count(info: RuleInfo, inv: Inventory) -> int:
    if not info.package and info.unit == "object":
        # A policy-category rule the tool itself checks (input.bidi-characters): every object, always.
        return sum(inv.kinds.values())
    if inv.policy_packages is None or info.package not in inv.policy_packages:
        return 0
    if info.rule_id in inv.disabled:
        return 0
    if not info.default_on and info.rule_id not in inv.enabled and "all" not in inv.enabled:
        return 0
    if info.requires == "production" and not inv.production:
        return 0
    if info.requires and info.requires != "production" and info.requires not in inv.settings:
        return 0
    if info.unit == "namespace":
        return inv.namespaces_with_workloads
    if not info.kinds:
        return sum(inv.kinds.values())
    return sum(inv.kinds.get(k, 0) for k in info.kinds)


def _drift_count(info: RuleInfo, inv: Inventory) -> int:
    if info.unit == "live-object":
        return inv.live_objects if inv.orphans else 0
    if info.unit == "target":
        return 1 if inv.drift else 0
    return inv.desired_objects if inv.drift else 0


def _change_control_count(info: RuleInfo, inv: Inventory) -> int:
    if inv.change_control == "no-codeowners":
        return 1 if info.rule_id == "change-control.no-codeowners" else 0
    if inv.change_control != "on" or info.rule_id == "change-control.no-codeowners":
        return 0
    if info.rule_id == "change-control.unsigned-commit" and not inv.signed_commits:
        return 0
    return inv.files if info.unit == "file" else 1


def evaluated(info: RuleInfo, inv: Inventory) -> int:
    """How many subjects ``info`` was evaluated on for a target with inventory ``inv``."""
    if info.category == "policy":
        return _policy_count(info, inv)
    if info.category == "drift":
        return _drift_count(info, inv)
    if info.category == "change-control":
        return _change_control_count(info, inv)
    if info.category == "coverage" and info.rule_id.startswith("cluster.") and info.unit == "target":
        return 1 if inv.cluster_read else 0  # transport of the live read: one check per target read live
    return 0


def rule_checks(catalog: Catalog, inv: Inventory) -> tuple[RuleCheck, ...]:
    """The :class:`RuleCheck` of every rule with controls that ran on at least one subject, by rule id."""
    out = []
    for rule_id in sorted(catalog.rules):
        info = catalog.rules[rule_id]
        if not info.controls:
            continue
        n = evaluated(info, inv)
        if n > 0:
            out.append(RuleCheck(rule_id, n, info.control_ids))
    return tuple(out)


def annotate(finding: Finding, catalog: Catalog) -> Finding:
    """The finding with ``details.controls`` (and title/remediation when it has none) from the catalogue."""
    info = catalog.lookup(finding.rule_id, str(finding.details.get("namespace", "")))
    if info is None:
        return finding
    extra: dict[str, object] = {}
    if info.control_ids and "controls" not in finding.details:
        extra["controls"] = list(info.control_ids)
    for key, value in (("title", info.title), ("remediation", info.remediation)):
        if value and not finding.details.get(key):
            extra[key] = value
    if not extra:
        return finding
    return replace(finding, details={**finding.details, **extra})
