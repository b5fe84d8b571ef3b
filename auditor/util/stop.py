"""A process-wide "stop now" request: set by SIGTERM/SIGINT during a run, read by every stage that waits.

``gitops-audit run`` installs :func:`graceful_signals` for the duration of an audit. The first SIGTERM or
SIGINT sets the request and kills every child process group (:mod:`auditor.util.proc`); stages notice
the request where they wait (a child process, an HTTP read, the next target) and give up with an
"interrupted" reason, so the run still writes a partial report. A second signal ends the process at once.

Other commands keep Python's default handling (SIGINT raises ``KeyboardInterrupt``, SIGTERM ends the
process); their children die with them through ``PR_SET_PDEATHSIG``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

_event = threading.Event()
_signal: int | None = None
_on_stop: list[Callable[[], None]] = []


def requested() -> bool:
    """True once a stop was requested (a signal during :func:`graceful_signals`, or :func:`request`)."""
    return _event.is_set()


def wait(seconds: float) -> bool:
    """Sleep up to ``seconds``; True when a stop was requested (immediately, if it already was)."""
    return _event.wait(max(0.0, seconds))


def signal_number() -> int | None:
    """The signal that requested the stop (None when none did)."""
    return _signal


def reason() -> str:
    """``interrupted (SIGTERM)`` style text for "not audited" reasons."""
    if _signal is None:
        return "interrupted"
    return f"interrupted ({signal.Signals(_signal).name})"


def on_stop(callback: Callable[[], None]) -> None:
    """Run ``callback`` (from the signal handler, so: quick and lock-free) when a stop is requested."""
    _on_stop.append(callback)


def request(signum: int | None = None) -> None:
    """Ask every stage to stop, and run the stop callbacks (killing children)."""
    global _signal
    if signum is not None and _signal is None:
        _signal = signum
    _event.set()
    for callback in list(_on_stop):
        with contextlib.suppress(Exception):
            callback()


def reset() -> None:
    """Forget a previous request (a new run in the same process, e.g. tests)."""
    global _signal
    _signal = None
    _event.clear()


def _handler(signum: int, _frame: FrameType | None) -> None:
    if _event.is_set():
        # Second signal: the user means it. Children are killed again, then the process ends.
        request(signum)
        os.write(2, b"gitops-audit: stopped\n")
        os._exit(130 if signum == signal.SIGINT else 128 + signum)
    request(signum)
    name = signal.Signals(signum).name
    os.write(2, f"gitops-audit: {name}: stopping, writing a partial report (send again to quit now)\n".encode())


@contextlib.contextmanager
def graceful_signals() -> Iterator[None]:
    """SIGTERM/SIGINT request a stop instead of killing the process (main thread only; no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread() or sys.platform == "win32":
        yield
        return
    reset()
    previous = {s: signal.signal(s, _handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
