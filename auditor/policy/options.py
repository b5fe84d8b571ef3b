"""Options the policy stage takes from config (frozen dataclasses; imports nothing but the standard library)."""

from __future__ import annotations

from dataclasses import dataclass

WAIVE_ANNOTATION = "gitops-audit.io/waive"
"""Object annotation listing rule ids to waive, comma-separated."""
WAIVE_REASON_ANNOTATION = "gitops-audit.io/waive-reason"
"""Object annotation giving the reason for the waiver (required for the waiver to apply)."""


@dataclass(frozen=True)
class Waiver:
    """A config waiver: hide findings of ``rule`` on matching objects until ``expires``.

    Selector fields are shell-style globs (``fnmatch``); an empty selector field matches anything.
    """

    rule: str
    """Rule id (glob), e.g. ``k8s.resources.memory_limit`` or ``k8s.rbac.*``."""
    reason: str
    """Why the finding is accepted; shown in every report."""
    owner: str = ""
    """Who accepted the risk (person or team)."""
    expires: str = ""
    """ISO date (``YYYY-MM-DD``); from that day on the waiver no longer applies and is reported as expired."""
    target: str = ""
    """Target name glob."""
    env: str = ""
    """Target environment glob."""
    kind: str = ""
    """Object kind glob."""
    namespace: str = ""
    """Object namespace glob."""
    name: str = ""
    """Object name glob."""

    @property
    def label(self) -> str:
        """Stable short name used in ``Finding.suppressed_by``."""
        sel = ",".join(
            f"{k}={v}"
            for k, v in (
                ("target", self.target),
                ("env", self.env),
                ("kind", self.kind),
                ("namespace", self.namespace),
                ("name", self.name),
            )
            if v
        )
        return f"waiver:{self.rule}" + (f"[{sel}]" if sel else "")


@dataclass(frozen=True)
class PolicyOptions:
    """How to load and run policies for an audit (config key ``policy``)."""

    dirs: tuple[str, ...] = ()
    """User policy directories or files (conftest layout: ``*.rego``, ``*_test.rego`` skipped for evaluation)."""
    builtin: bool = True
    """Include the built-in pack (``policies/``)."""
    data: tuple[str, ...] = ()
    """Data files or directories (JSON/YAML) merged into ``data``, like ``conftest --data``."""
    namespaces: tuple[str, ...] = ("main",)
    """Rego packages whose deny/violation/warn rules are evaluated (built-in pack namespaces are added)."""
    all_namespaces: bool = False
    """Evaluate every package found (``conftest --all-namespaces``)."""
    engine: str = "embedded"
    """``embedded`` (regorus, in process), ``opa-go`` (OPA's Go engine, in process) or ``opa`` (an OPA server)."""
    opa_library: str = ""
    """``libopabridge.so`` (file or directory) for ``engine: opa-go``; empty = look it up (``opa_go.find_library``)."""
    opa_url: str = ""
    """Base URL of the OPA server for ``engine: opa``, e.g. ``http://127.0.0.1:8181``."""
    waivers: tuple[Waiver, ...] = ()
    """Config waivers."""
    workers: int = -1
    """Worker processes for the embedded engine: ``-1`` = one per core up to 4 (none on one core), ``0`` = none."""
