"""Catalogue entries: rules, frameworks and the catalogue itself (frozen, built once per run)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController", "Pod",
                  "CronJob")
"""Every kind that carries a pod spec (the pack's ``lib/k8s.rego`` workload_kinds)."""

KIND_GROUPS: Mapping[str, tuple[str, ...]] = {
    "workloads": WORKLOAD_KINDS,
    "long-running": ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Pod"),
    "replicated": ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"),
}
"""Names a rule's ``kinds`` may use instead of listing kinds (the pack's lib/k8s.rego sets of the same names)."""

UNITS = ("object", "live-object", "namespace", "file", "target")
"""What one check of a rule looks at (see the catalogue README section of the project README)."""


@dataclass(frozen=True)
class Framework:
    """A compliance framework or benchmark, with the controls rules can name."""

    key: str
    """Short id used in rule entries and reports, e.g. ``soc2``."""
    name: str
    version: str = ""
    url: str = ""
    controls: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Control id → short name (our wording)."""


@dataclass(frozen=True)
class Tool:
    """A scanner whose checks a rule is equivalent to (Polaris, Kubescape, kube-linter)."""

    key: str
    name: str
    url: str = ""


@dataclass(frozen=True)
class RuleInfo:
    """Everything the catalogue knows about one rule."""

    rule_id: str
    title: str
    description: str = ""
    remediation: str = ""
    severity: str = ""
    """Default severity (``critical`` … ``info``); empty when the rule sets it per result."""
    category: str = "policy"
    """``policy``, ``drift``, ``change-control`` or ``coverage``."""
    level: str = ""
    """Rego rule name the entry annotates (``deny``, ``warn``…); empty for other rules."""
    package: str = ""
    """Rego package, without ``data.``."""
    kinds: tuple[str, ...] = ()
    """Kinds the rule is evaluated on; empty means every kind."""
    unit: str = "object"
    """What one check looks at (one of :data:`UNITS`)."""
    requires: str = ""
    """A condition for the rule to run at all: ``production`` (production targets) or a setting name."""
    default_on: bool = True
    """False for opt-in rules: they run only when the pack's ``enable`` setting names them (or ``all``)."""
    controls: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    """Framework key → control ids."""
    equivalents: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    """Tool key → that tool's check ids for the same thing."""
    source: str = ""
    """``file:line`` of the METADATA block, or the data file."""

    @functools.cached_property
    def control_ids(self) -> tuple[str, ...]:
        """``framework:control`` strings, in framework then control order.

        Made once per rule: every finding of the rule carries these strings, and building them per
        finding held tens of thousands of copies of the same few strings until the reports were written.
        """
        return tuple(f"{fw}:{c}" for fw in sorted(self.controls) for c in self.controls[fw])


@dataclass(frozen=True)
class Catalog:
    """Rules by id, package defaults, frameworks and tools; plus METADATA blocks that could not be read."""

    rules: Mapping[str, RuleInfo] = field(default_factory=dict, hash=False)
    packages: Mapping[str, RuleInfo] = field(default_factory=dict, hash=False)
    """Package-scoped METADATA (a user policy's defaults), by package, for results without an entry."""
    frameworks: Mapping[str, Framework] = field(default_factory=dict, hash=False)
    tools: Mapping[str, Tool] = field(default_factory=dict, hash=False)
    problems: tuple[str, ...] = ()
    """``file:line: problem`` for each METADATA block that is not valid YAML or not a mapping."""

    def lookup(self, rule_id: str, package: str = "") -> RuleInfo | None:
        """The entry of a rule, else the package-scoped entry of ``package`` (policy findings), else None."""
        found = self.rules.get(rule_id)
        if found is None and package:
            found = self.packages.get(package)
        return found

    def controls_of(self, rule_id: str, package: str = "") -> tuple[str, ...]:
        """``framework:control`` ids of a rule (empty when unknown)."""
        info = self.lookup(rule_id, package)
        return info.control_ids if info is not None else ()
