"""The one wrapper for external programs: timeout, bounded output and memory, no network unless asked, no orphans.

Every child (git, kustomize, kubectl, helm) runs:

* in its own process group, killed as a group on timeout, on a stop request (SIGTERM/SIGINT of the
  run, :mod:`auditor.util.stop`) and when this process exits;
* with ``PR_SET_PDEATHSIG=SIGKILL`` (through util-linux ``setpriv``), so it dies even when this
  process is killed with SIGKILL and cannot clean up;
* with ``RLIMIT_DATA`` (heap and anonymous memory) bounded: a YAML alias bomb in a manifest makes
  kustomize fail with "out of memory" instead of growing to the machine's size. Not RLIMIT_AS: Go
  programs reserve address space they never use and git maps whole packfiles, so an address-space
  limit low enough to matter breaks ordinary runs. Set from outside right after the start
  (``prlimit(2)``), it needs no code in the child between fork and exec;
* with its captured output bounded (stdout up to ``max_output``, the tail of stderr);
* optionally without network (``network=False``): in a new user and network namespace
  (``unshare --user --net``, where the kernel allows it to unprivileged users), and in any case with
  proxy variables pointing at a closed local port, so Go programs that honour them cannot reach
  another host. :func:`network_isolation` says which mechanism is in effect.
* with a minimal environment: user credentials (cloud tokens, ``GIT_ASKPASS`` helpers…) stay away from
  tools that do not need them.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import re
import resource
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import ToolError
from auditor.util import stop

_PASS_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")
_MAX_STDERR = 2000
_STDERR_KEEP = 256 * 1024
_STDERR_HEAD = 16 * 1024
"""Bytes of a child's stderr kept (its tail): enough for any error message, bounded for a hostile one."""

DEFAULT_MEMORY_MB = 2048
"""RLIMIT_DATA of every child unless configured otherwise (``source.tool_memory_mb``)."""
_memory_mb = DEFAULT_MEMORY_MB
DEFAULT_MAX_OUTPUT = 512 * 1024 * 1024
"""Largest stdout read from a child; larger output is an error, never an unbounded buffer."""
CLOSED_PROXY = "http://127.0.0.1:9"
"""Where proxy variables point for a child without network: a local port nobody should listen on."""
_NO_NETWORK_ENV = {
    "HTTP_PROXY": CLOSED_PROXY, "HTTPS_PROXY": CLOSED_PROXY, "ALL_PROXY": CLOSED_PROXY,
    "http_proxy": CLOSED_PROXY, "https_proxy": CLOSED_PROXY, "all_proxy": CLOSED_PROXY,
    "NO_PROXY": "", "no_proxy": "",
    # Git (run by kustomize for remote bases) accepts no transport at all.
    "GIT_ALLOW_PROTOCOL": "none",
    "GOPROXY": "off",
}
_OOM_RE = re.compile(r"(?i)\b(?:out of memory|cannot allocate memory)\b")


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


# ---- children alive right now (killed on stop and at exit) ------------------------------------------

_live: dict[int, subprocess.Popen[bytes]] = {}
_live_lock = threading.Lock()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def kill_all() -> None:
    """Kill every running child's process group (signal-handler safe: no lock, no allocation-heavy work)."""
    for pid in list(_live):
        _kill_group(pid)


stop.on_stop(kill_all)


# ---- sandbox prefixes, probed once per process -------------------------------------------------------

def _probe(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def _pdeathsig_prefix() -> tuple[str, ...]:
    """``setpriv --pdeathsig KILL --`` when util-linux setpriv supports it, else nothing."""
    setpriv = shutil.which("setpriv")
    if setpriv and _probe([setpriv, "--pdeathsig", "KILL", "--", "true"]):
        return (setpriv, "--pdeathsig", "KILL", "--")
    return ()


@functools.cache
def _netns_prefix() -> tuple[str, ...]:
    """``unshare --user --net --map-current-user --`` when unprivileged namespaces work here, else nothing."""
    unshare = shutil.which("unshare")
    if not unshare:
        return ()
    for mapping in ("--map-current-user", "--map-root-user"):
        prefix = (unshare, "--user", "--net", mapping, "--")
        if _probe([*prefix, "true"]):
            return prefix
    return ()


def network_isolation() -> str:
    """How children without network are cut off here: ``namespace`` or ``proxy`` (weaker: see module doc)."""
    return "namespace" if _netns_prefix() else "proxy"


def process_guard() -> str:
    """Whether children die with this process even on SIGKILL: ``pdeathsig`` or ``process group only``."""
    return "pdeathsig" if _pdeathsig_prefix() else "process group only"


def configure_memory(mb: int) -> None:
    """Set the memory limit (MiB, RLIMIT_DATA) of children started without an explicit one; 0 = none."""
    global _memory_mb
    _memory_mb = max(0, int(mb))


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n} bytes"


# ---- CPU-bound children: at most one per CPU ---------------------------------------------------------

_CGROUP = Path("/sys/fs/cgroup")


def available_cpus(cgroup: Path = _CGROUP) -> int:
    """CPUs this process may use: its affinity mask, lowered by a cgroup CPU quota (a pod's ``limits.cpu``).

    ``os.cpu_count()`` is the node's count: in a pod limited to 2 CPUs on a 64-CPU node it would be 64. The quota
    is cgroup v2's ``cpu.max`` or, on v1 hosts, ``cpu/cpu.cfs_quota_us`` over ``cpu.cfs_period_us``.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    quota = _cpu_quota(cgroup)
    if quota is not None:
        cpus = min(cpus, quota)
    return max(1, cpus)


def _cpu_quota(cgroup: Path) -> int | None:
    """Whole CPUs of the quota (rounded up), or None when there is no quota (or no cgroup file to say so)."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        q, per = int(quota), int(period)  # "max" (v2) raises: no quota
    except ValueError:
        return None
    return -(-q // per) if q > 0 and per > 0 else None  # v1 says -1 for none


_cpu_slots: threading.BoundedSemaphore | None = None
_cpu_slots_lock = threading.Lock()


def configure_cpu_slots(n: int) -> None:
    """How many ``cpu_bound`` children may run at once (default :func:`available_cpus`); call before any run."""
    global _cpu_slots
    with _cpu_slots_lock:
        _cpu_slots = threading.BoundedSemaphore(max(1, int(n)))


def _slots() -> threading.BoundedSemaphore:
    global _cpu_slots
    with _cpu_slots_lock:
        if _cpu_slots is None:
            _cpu_slots = threading.BoundedSemaphore(available_cpus())
        return _cpu_slots


@contextlib.contextmanager
def _cpu_slot(action: str) -> Iterator[None]:
    """Hold one CPU slot while the child runs; waiting for it does not count against the child's timeout."""
    slots = _slots()
    while not slots.acquire(timeout=0.25):
        if stop.requested():
            raise ToolError(f"{action}: {stop.reason()}")
    try:
        yield
    finally:
        slots.release()


# ---- running ---------------------------------------------------------------------------------------

class _Overflow(Exception):
    pass


def _collect(p: subprocess.Popen[bytes], input_bytes: bytes | None, deadline: float,
             max_output: int) -> tuple[bytes, bytes]:
    """Feed stdin and read stdout/stderr until EOF, the deadline, a stop request or too much output."""
    out = bytearray()
    err = bytearray()
    head = b""
    sel = selectors.DefaultSelector()
    assert p.stdout is not None and p.stderr is not None
    sel.register(p.stdout, selectors.EVENT_READ)
    sel.register(p.stderr, selectors.EVENT_READ)
    pending = memoryview(input_bytes or b"")
    if p.stdin is not None:
        if pending:
            os.set_blocking(p.stdin.fileno(), False)
            sel.register(p.stdin, selectors.EVENT_WRITE)
        else:
            p.stdin.close()
    try:
        while sel.get_map():
            if stop.requested():
                raise InterruptedError
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(p.args, 0)
            for key, _events in sel.select(min(remaining, 0.5)):
                f = key.fileobj
                if f is p.stdin:
                    try:
                        n = os.write(p.stdin.fileno(), pending[:65536])
                    except BrokenPipeError:
                        n = len(pending)
                    except BlockingIOError:
                        continue
                    pending = pending[n:]
                    if not pending:
                        sel.unregister(f)
                        with contextlib.suppress(OSError):
                            p.stdin.close()
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(f)
                    continue
                if f is p.stdout:
                    out += chunk
                    if len(out) > max_output:
                        raise _Overflow
                else:
                    err += chunk
                    if len(err) > 2 * _STDERR_KEEP:
                        # Keep the head (Go prints "fatal error: …" first, then pages of goroutines) and the tail.
                        head = head or bytes(err[:_STDERR_HEAD])
                        del err[:-_STDERR_KEEP]
    finally:
        sel.close()
    if head:
        return bytes(out), head + b"\n...\n" + bytes(err[-_STDERR_KEEP:])
    return bytes(out), bytes(err)


def run(
    args: Sequence[str],
    *,
    action: str,
    cwd: str | Path | None = None,
    timeout: float = 120.0,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    input_bytes: bytes | None = None,
    memory_mb: int | None = None,
    network: bool = True,
    max_output: int = DEFAULT_MAX_OUTPUT,
    cpu_bound: bool = False,
) -> Result:
    """Run a program and capture its output.

    ``action`` names what is being done for error messages (``"render overlays/prod"``).
    Raises :class:`ToolError` when the program is missing, times out, runs out of memory
    (``memory_mb``), prints more than ``max_output`` bytes, is interrupted by a stop request, or
    (with ``check``) exits non-zero; the message carries the tail of stderr.
    ``network=False`` runs it without network access (see the module docstring).
    ``cpu_bound`` children (renders) wait for one of :func:`available_cpus` slots: more of them at once
    than CPUs only made each slower, and together they cost more CPU (kustomize x12 on 2 CPUs: 45-59 s
    of CPU two at a time, 58-80 s four at a time; ``bench/RESULTS.md``).
    """
    with _cpu_slot(action) if cpu_bound else contextlib.nullcontext():
        return _run(args, action, cwd, timeout, env, check, input_bytes, memory_mb, network, max_output)


def _run(args: Sequence[str], action: str, cwd: str | Path | None, timeout: float, env: Mapping[str, str] | None,
         check: bool, input_bytes: bytes | None, memory_mb: int | None, network: bool, max_output: int) -> Result:
    name = Path(args[0]).name
    if memory_mb is None:
        memory_mb = _memory_mb
    if stop.requested():
        raise ToolError(f"{action}: {stop.reason()}")
    child_env = {k: v for k, v in os.environ.items() if k in _PASS_ENV}
    if env:
        child_env.update(env)
    prefix: tuple[str, ...] = _pdeathsig_prefix()
    if not network:
        child_env.update(_NO_NETWORK_ENV)
        prefix += _netns_prefix()
    deadline = time.monotonic() + timeout
    try:
        p = subprocess.Popen(
            [*prefix, *args],
            cwd=cwd,
            env=child_env,
            stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,
        )
    except FileNotFoundError as exc:
        raise ToolError(f"{action}: program not found: {args[0]}") from exc
    except OSError as exc:
        raise ToolError(f"{action}: cannot start {name}: {exc.strerror or exc}") from None
    with _live_lock:
        _live[p.pid] = p
    problem = ""
    try:
        if memory_mb > 0:
            limit = memory_mb * 1024 * 1024
            with contextlib.suppress(OSError, ValueError):
                # Set from outside right after the start: inherited by everything the child runs.
                resource.prlimit(p.pid, resource.RLIMIT_DATA, (limit, limit))
        try:
            stdout, stderr_b = _collect(p, input_bytes, deadline, max_output)
        except subprocess.TimeoutExpired:
            problem = f"{name} timed out after {timeout:g}s"
        except InterruptedError:
            problem = stop.reason()
        except _Overflow:
            problem = f"{name} printed more than {_size(max_output)}"
        except OSError as exc:
            problem = f"reading output of {name}: {exc.strerror or exc}"
        if problem:
            _kill_group(p.pid)
            p.wait()
            if stop.requested() and not problem.startswith("interrupted"):
                problem = stop.reason()
            raise ToolError(f"{action}: {problem}")
        returncode = _wait_leader(p, deadline)
    finally:
        if p.returncode is None:
            _kill_group(p.pid)
            with contextlib.suppress(Exception):
                p.wait(5)
        with _live_lock:
            _live.pop(p.pid, None)
        for f in (p.stdin, p.stdout, p.stderr):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
    stderr = stderr_b.decode("utf-8", "replace")
    if returncode != 0 and stop.requested() and returncode < 0:
        raise ToolError(f"{action}: {stop.reason()}")
    if returncode != 0 and memory_mb > 0 and (_OOM_RE.search(stderr[:4000]) or _OOM_RE.search(stderr[-4000:])):
        raise ToolError(f"{action}: {name} ran out of memory (limit {memory_mb} MiB; source.tool_memory_mb)")
    result = Result(tuple(args), returncode, stdout, stderr)
    if check and returncode != 0:
        raise ToolError(f"{action}: {name} exited {returncode}: {short_stderr(stderr)}")
    return result


def _wait_leader(p: subprocess.Popen[bytes], deadline: float) -> int:
    """Wait for the child, kill what it left in its process group, then reap it.

    The group is killed while the leader is still a zombie (``WNOWAIT``): its pid, which is the
    group id, cannot have been reused by an unrelated process yet.
    """
    delay = 0.001
    while True:
        try:
            info = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        except ChildProcessError:
            break
        if info is not None:
            break
        if time.monotonic() >= deadline or stop.requested():
            break  # the caller's finally kills the group; the leader is reaped below
        time.sleep(delay)
        delay = min(0.05, delay * 2)
    _kill_group(p.pid)
    return p.wait()


# A normal exit (an exception escaping the CLI, sys.exit) takes the children with it.
atexit.register(kill_all)
