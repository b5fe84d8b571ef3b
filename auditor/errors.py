"""Error hierarchy: messages read "<action> <object>: <cause>"; only the CLI maps them to exit codes."""

from __future__ import annotations


class AuditorError(Exception):
    """Base of every error the user can cause or fix; shown as one line, never as a traceback."""

    exit_code = 2


class UsageError(AuditorError):
    """Bad command-line usage."""


class ConfigError(AuditorError):
    """Invalid configuration file; the message carries ``file:line: key.path: problem``."""


class ToolError(AuditorError):
    """An external program (git, kustomize, kubectl, helm) is missing, failed or timed out."""


class SourceError(AuditorError):
    """Git access or rendering failed."""


class RenderError(SourceError):
    """An overlay could not be rendered; the target is reported as not audited."""


class ClusterError(AuditorError):
    """Live state could not be read (unreachable cluster, bad snapshot, auth failure)."""


class DiffError(AuditorError):
    """Invalid input to the drift engine (e.g. ``gitops-audit diff`` with unreadable files)."""


class PolicyError(AuditorError):
    """A policy failed to load or compile (message carries file:line:col)."""


class ReportError(AuditorError):
    """A report could not be written or read."""
