r"""Progress of a run on stderr: one updating status line on a terminal, one line per target otherwise.

On a TTY the line shows ``[done/total] stage: target`` and is rewritten in place (``\\r``), then cleared,
so the summary that follows starts on a clean line. Elsewhere (CI logs, files) each target gets one
line when it completes: ``[3/6] production-us-east: 25 findings (2 critical, 1 high)``. The pipeline
calls the display from its worker threads; a lock keeps lines whole.
"""

from __future__ import annotations

import threading
from typing import TextIO

from auditor.model import TargetResult
from auditor.report._common import SEVERITIES, plural, totals
from auditor.util.text import terminal_safe

_CLEAR = "\r\x1b[K"


def _safe(text: str) -> str:
    # stderr is a terminal: escape sequences from target names or reasons are dropped, not shown.
    return terminal_safe(text, one_line=True)


def target_line(result: TargetResult, done: int, total: int) -> str:
    """``[done/total] target: N findings (worst counts)`` or ``… NOT AUDITED: reason``."""
    head = f"[{done}/{total}] {_safe(result.target.name)}"
    if not result.audited:
        reason = _safe(result.skip_reason)
        return f"{head}: NOT AUDITED: {reason}"
    t = totals(result.findings)
    worst = ", ".join(f"{t.severity(s)} {s.value}" for s in SEVERITIES if t.severity(s))
    return f"{head}: {plural(t.counted, 'finding')}" + (f" ({worst})" if worst else "")


class ProgressDisplay:
    """The run's progress callback (see :func:`auditor.pipeline.run_audit`)."""

    def __init__(self, stream: TextIO, *, tty: bool, width: int = 100) -> None:
        self.stream = stream
        self.tty = tty
        self.width = width
        self.total = 0
        self.done = 0
        self._lock = threading.Lock()
        self._shown = False

    def begin(self, total: int) -> None:
        """Called once with the number of targets to audit."""
        with self._lock:
            self.total = total
            self._status("starting")

    def __call__(self, target: str, stage: str) -> None:
        """A target entered a stage (``render overlays/…``, ``read live state from …``)."""
        with self._lock:
            self._status(f"{_safe(stage)}: {_safe(target)}")

    def finished(self, result: TargetResult) -> None:
        """A target is done (audited or not)."""
        with self._lock:
            self.done += 1
            line = target_line(result, self.done, self.total)
            if self.tty:
                self._status(f"done: {_safe(result.target.name)}")
            else:
                self.stream.write(line + "\n")
                self.stream.flush()

    def close(self) -> None:
        """Clear the status line (TTY only)."""
        with self._lock:
            if self.tty and self._shown:
                self.stream.write(_CLEAR)
                self.stream.flush()
                self._shown = False

    def _status(self, text: str) -> None:
        if not self.tty:
            return
        line = f"[{self.done}/{self.total}] {text}"
        if len(line) > self.width:
            line = line[: self.width - 1] + "…"
        self.stream.write(_CLEAR + line)
        self.stream.flush()
        self._shown = True
