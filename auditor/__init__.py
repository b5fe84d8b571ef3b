"""gitops-audit: agentless, read-only GitOps drift, policy and change-control auditor."""

from __future__ import annotations

__version__ = "0.1.0"
