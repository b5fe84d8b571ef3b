"""The one wrapper for external programs: timeout, captured output, typed errors, no secrets leaked."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import ToolError

# Environment variables passed to child processes. A minimal environment keeps user
# credentials (cloud tokens, GIT_ASKPASS helpers…) away from tools that do not need them.
_PASS_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")
_MAX_STDERR = 2000


@dataclass(frozen=True)
class Result:
    """Completed process output."""

    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: str


def which(name: str, explicit: str = "") -> str | None:
    """Find a program: an explicit path if given (must be executable), else PATH."""
    if explicit:
        p = Path(explicit)
        return str(p) if p.is_file() and os.access(p, os.X_OK) else None
    return shutil.which(name)


def short_stderr(text: str) -> str:
    """Collapse a tool's stderr to its meaningful tail, one line, bounded in size."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    msg = " | ".join(lines[-3:]) if lines else ""
    return msg[-_MAX_STDERR:]


def run(
    args: Sequence[str],
    *,
    action: str,
    cwd: str | Path | None = None,
    timeout: float = 120.0,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    input_bytes: bytes | None = None,
) -> Result:
    """Run a program and capture its output.

    ``action`` names what is being done for error messages (``"render overlays/prod"``).
    Raises :class:`ToolError` when the program is missing, times out, or (with ``check``)
    exits non-zero; the message carries the tail of stderr.
    """
    child_env = {k: v for k, v in os.environ.items() if k in _PASS_ENV}
    if env:
        child_env.update(env)
    try:
        proc = subprocess.run(
            list(args),
            cwd=cwd,
            env=child_env,
            input=input_bytes,
            stdin=None if input_bytes is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ToolError(f"{action}: program not found: {args[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{action}: {Path(args[0]).name} timed out after {timeout:g}s") from exc
    stderr = proc.stderr.decode("utf-8", "replace")
    result = Result(tuple(args), proc.returncode, proc.stdout, stderr)
    if check and proc.returncode != 0:
        raise ToolError(
            f"{action}: {Path(args[0]).name} exited {proc.returncode}: {short_stderr(stderr)}"
        )
    return result
