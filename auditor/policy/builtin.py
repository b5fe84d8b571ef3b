"""Where the built-in policy pack lives."""

from __future__ import annotations

from pathlib import Path

BUILTIN_NAMESPACE_PREFIX = "gitops_audit."
"""Every package of the built-in pack starts with this; they are always evaluated when the pack is on."""


def builtin_policy_dir() -> Path:
    """Directory holding the built-in pack: ``<checkout>/policies``, or a copy packaged inside ``auditor``."""
    packaged = Path(__file__).resolve().parent / "_builtin_policies"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "policies"
