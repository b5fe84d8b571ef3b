"""``policy.engine: opa-go``: OPA's own Go engine, in process, through a C shared library loaded with ctypes.

The library is ``libopabridge.so`` from the PyPI package ``opa-golib-python-bindings`` (Apache-2.0): OPA
(``github.com/open-policy-agent/opa/v1/rego``, v1.20.2 in 0.4.4) built as a Go ``c-shared`` library. That
package declares Python >= 3.14, but the library is plain C ABI and loads on any Python: ``gitops-audit tools
install opa-go --dest DIR`` fetches the pinned wheel, checks its SHA-256, extracts the library and checks its
SHA-256 too. This module talks to the library directly (its own small ctypes declarations; the package's
Python wrapper is not used), so nothing of the package runs but OPA itself.

Where the library is looked for, first found wins: ``policy.opa_library`` (``--opa-library``), the
``GITOPS_AUDIT_OPA_LIBRARY`` environment variable, the installed ``opa_bindings`` package (Python >= 3.14 with
the package installed by pip), then every directory on ``PATH`` (where ``tools install --dest`` put it, as for
helm). A library whose SHA-256 is not the pinned one is refused: results are proven equal to the embedded
engine's for that OPA build only (``tests/policy/test_differential.py``).

Semantics are OPA's: Rego v1 only (this OPA build parses v1; a v0 module is refused at load with a hint),
every OPA built-in, compile errors (unknown functions, unsafe variables, type errors) at load time. Built-in
errors (``div`` by zero, a bad ``net.lookup_ip_addr``…) are errors, not undefined values: a rule that meets
one becomes a ``policy.error`` finding, never a silent pass (conftest's ``--show-builtin-errors``).

ctypes releases the GIL during each call, so pipeline threads evaluate in parallel. Each thread gets its own
engine handle (built from the same modules and data): the library's concurrency guarantees are not
documented, and one handle per thread needs none.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from auditor.errors import PolicyError
from auditor.policy.engine import (
    UNDEFINED,
    EvalError,
    Evaluator,
    Plan,
    PlanResult,
    RuleError,
    plan_query,
    plan_value,
)
from auditor.policy.loader import RegoModule, merge_data

LIBRARY_NAME = "libopabridge.so"
LIBRARY_SHA256 = "8da2cf16edeae1c07e617b9572d2d1c61bad2ead8b620c79fc093be493b0f582"
"""SHA-256 of ``libopabridge.so`` in ``opa-golib-python-bindings==0.4.4`` (OPA v1.20.2, Go 1.26.8)."""
OPA_VERSION = "v1.20.2"
LIBRARY_ENV = "GITOPS_AUDIT_OPA_LIBRARY"
_HINT = (
    f"run `gitops-audit tools install opa-go --dest DIR` and put DIR on PATH, or set policy.opa_library "
    f"(--opa-library) or {LIBRARY_ENV} to the file"
)

_lib_lock = threading.Lock()
_libs: dict[str, Any] = {}


def find_library(explicit: str = "") -> Path:
    """The library to load (see the module docstring for the search order); PolicyError when none is found."""
    candidates: list[Path] = []
    for given in (explicit, os.environ.get(LIBRARY_ENV, "")):
        if given:
            path = Path(given)
            candidates.append(path / LIBRARY_NAME if path.is_dir() else path)
            break
    if not candidates:
        try:
            import importlib.util

            spec = importlib.util.find_spec("opa_bindings")
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            candidates.append(Path(spec.origin).parent / LIBRARY_NAME)
        candidates.extend(Path(d) / LIBRARY_NAME for d in os.environ.get("PATH", "").split(os.pathsep) if d)
        for path in candidates:
            if path.is_file():
                return path
        raise PolicyError(f"load policies: policy.engine 'opa-go' needs OPA's Go engine library ({LIBRARY_NAME}): "
                          f"{_HINT}")
    path = candidates[0]
    if not path.is_file():
        raise PolicyError(f"load policies: OPA library {path}: no such file; {_HINT}")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_library(path: Path) -> Any:
    """Load (once per process and file) and declare the library's C functions; the checksum must match."""
    key = str(path.resolve())
    with _lib_lock:
        lib = _libs.get(key)
        if lib is not None:
            return lib
        got = _sha256(path)
        if got != LIBRARY_SHA256:
            raise PolicyError(
                f"load policies: OPA library {path} has sha256 {got}, expected {LIBRARY_SHA256} "
                f"(opa-golib-python-bindings 0.4.4, OPA {OPA_VERSION}); refusing to load it. {_HINT}"
            )
        try:
            lib = ctypes.CDLL(key)
        except OSError as exc:
            raise PolicyError(f"load policies: OPA library {path}: {exc}") from None
        u64, cstr, ptr = ctypes.c_uint64, ctypes.c_char_p, ctypes.c_void_p
        # Calls that can fail return a malloc'd JSON envelope ({"result"} or {"error": {code, message}}):
        # declared as void* so that it can be freed with OpaFreeString after reading.
        for name, args in (
            ("OpaAddPolicy", [u64, cstr, cstr]),
            ("OpaAddData", [u64, cstr, cstr]),
            ("OpaEvalQuery", [u64, cstr, cstr, ctypes.c_int, ctypes.c_int]),
        ):
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = ptr, args
        lib.OpaNew.restype, lib.OpaNew.argtypes = u64, []
        lib.OpaDestroy.restype, lib.OpaDestroy.argtypes = None, [u64]
        lib.OpaFreeString.restype, lib.OpaFreeString.argtypes = None, [ptr]
        _libs[key] = lib
        return lib


class _Handle:
    """One OPA engine in the library: modules and data added once, then queries (prepared and cached by OPA)."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        self.handle = lib.OpaNew()

    def call(self, fn: Any, *args: Any) -> Any:
        raw = fn(self.handle, *args)
        if not raw:
            raise EvalError("OPA library returned no result")
        try:
            text = ctypes.string_at(raw)
        finally:
            self._lib.OpaFreeString(raw)
        envelope = json.loads(text)
        error = envelope.get("error")
        if error:
            raise _OpaError(str(error.get("code", "")), str(error.get("message", "")))
        return envelope.get("result")

    def close(self) -> None:
        if self.handle:
            self._lib.OpaDestroy(self.handle)
            self.handle = 0

    def __del__(self) -> None:
        # At interpreter shutdown the library may be gone already: nothing left to free then.
        with contextlib.suppress(Exception):
            self.close()


class _OpaError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_OCCURRED = re.compile(r"^.*?\d+ errors? occurred:\s*", re.DOTALL)
_PREFIXES = ("bundle activation failed: ",)


def _error_lines(message: str) -> list[str]:
    """OPA's ``N errors occurred: file:row: type: message`` as one line per error, without source excerpts."""
    text = _OCCURRED.sub("", message, count=1)
    for prefix in _PREFIXES:
        text = text.removeprefix(prefix)
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith(("\t", " "))]


def _v0_hint(source: str) -> str:
    from auditor.policy.engine import _looks_v0

    return (
        "; Rego v0 module, and OPA's Go engine here parses Rego v1 only: rewrite it in Rego v1 "
        "(`opa fmt --v0-v1`), or use policy.engine embedded"
        if _looks_v0(source) else ""
    )


def _encode(value: Any) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise EvalError(f"input is not JSON: {exc}") from None


def _cstr(text: str) -> bytes:
    if "\0" in text:
        raise PolicyError("load policies: a NUL character in a policy or path")
    return text.encode("utf-8", "surrogatepass")


class _Recipe:
    """Modules and base data; builds one handle per (thread, overlay)."""

    def __init__(self, lib: Any, modules: Sequence[RegoModule], data: Mapping[str, Any]) -> None:
        self.lib = lib
        self.modules = tuple(modules)
        self.data = dict(data)

    def build(self, overlays: Sequence[Mapping[str, Any]]) -> _Handle:
        handle = _Handle(self.lib)
        for mod in self.modules:
            try:
                handle.call(self.lib.OpaAddPolicy, _cstr(mod.path), _cstr(mod.source))
            except _OpaError as exc:
                handle.close()
                lines = _error_lines(exc.message) or [f"{mod.path}: {exc.message}"]
                raise PolicyError(f"{lines[0]}{_v0_hint(mod.source)} (compile policy)") from None
        data = json.loads(json.dumps(self.data))
        for overlay in overlays:
            merge_data(data, overlay, "overlay")
        if data:
            try:
                handle.call(self.lib.OpaAddData, b"", _encode(data))
            except (_OpaError, EvalError) as exc:
                handle.close()
                raise PolicyError(f"load data: {exc}") from None
        try:
            # OPA compiles the module set when the first query is prepared: compile errors surface here.
            handle.call(self.lib.OpaEvalQuery, b"true", b"", 0, 0)
        except _OpaError as exc:
            handle.close()
            lines = _error_lines(exc.message) or [exc.message]
            shown = "\n".join(f"{line} (compile policy)" for line in lines[:20])
            raise PolicyError(shown) from None
        return handle


_NETWORK_BUILTIN = re.compile(r"(?<![\w.])(http\.send|net\.lookup_ip_addr)\s*\(")


def _refuse_network_builtins(modules: Sequence[RegoModule]) -> None:
    """The audit is read-only and fetches nothing a policy asks for: OPA's network built-ins are refused at load.

    (The embedded engine has neither built-in, so a policy using one fails to load there too.)
    """
    from auditor.policy.loader import strip_comments_and_strings

    for mod in modules:
        text = strip_comments_and_strings(mod.source)
        m = _NETWORK_BUILTIN.search(text)
        if m:
            # Comments and strings only shrink when stripped; lines stay, so the line number is right.
            line = text.count("\n", 0, m.start()) + 1
            raise PolicyError(
                f"{mod.path}:{line}: {m.group(1)} is not allowed: an audit makes no network request on a policy's "
                f"behalf (compile policy)"
            )


class OpaGoEvaluator(Evaluator):
    """OPA's Go engine in process (see the module docstring); thread-safe, one engine handle per thread."""

    def __init__(self, recipe: _Recipe, overlays: tuple[Mapping[str, Any], ...] = ()) -> None:
        self._recipe = recipe
        self._overlays = overlays
        self._local = threading.local()

    @classmethod
    def compile(
        cls, modules: Sequence[RegoModule], data: Mapping[str, Any], *, library: str = ""
    ) -> OpaGoEvaluator:
        """Load the library, add modules and data, compile; PolicyError with OPA's ``file:row: message``."""
        _refuse_network_builtins(modules)
        lib = load_library(find_library(library))
        evaluator = cls(_Recipe(lib, modules, data))
        evaluator._handle()  # compile now, so errors surface at load time
        return evaluator

    def _handle(self) -> _Handle:
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is None:
            handle = self._local.handle = self._recipe.build(self._overlays)
        return handle

    def _query(self, query: str, input_doc: Any) -> list[dict[str, Any]]:
        handle = self._handle()
        try:
            rows = handle.call(self._recipe.lib.OpaEvalQuery, _cstr(query), _encode(input_doc), 0, 0)
        except _OpaError as exc:
            lines = _error_lines(exc.message) or [exc.message]
            raise EvalError("; ".join(lines)) from None
        return list(rows or [])

    def query(self, query: str, input_doc: Any) -> Any:
        """See :meth:`Evaluator.query`."""
        rows = self._query(f"__r := {query}", input_doc)
        if not rows or "__r" not in (rows[0].get("bindings") or {}):
            return UNDEFINED
        return rows[0]["bindings"]["__r"]

    def evaluate(self, plan: Plan, input_doc: Any) -> PlanResult:
        """See :meth:`Evaluator.evaluate`: one OPA query per document (:func:`plan_query`), rules by full name.

        When the query fails (one rule's runtime error fails all of it), rules are asked one by one so that
        only the failing ones become errors.
        """
        if not plan:
            return {}
        try:
            value = self.query(plan_query(plan), input_doc)
        except EvalError:
            return super().evaluate(plan, input_doc)
        return plan_value(plan, value)

    def rule(self, path: str, input_doc: Any) -> Any:
        """See :meth:`Evaluator.rule`."""
        return self.query(path, input_doc)

    def with_data(self, overlay: Mapping[str, Any]) -> OpaGoEvaluator:
        """See :meth:`Evaluator.with_data` (the overlay's engines are built on first use, per thread)."""
        evaluator = OpaGoEvaluator(self._recipe, (*self._overlays, dict(overlay)))
        # A conflict with the data files raises here, as with the embedded engine.
        merge_data(json.loads(json.dumps(self._recipe.data)), overlay, "overlay")
        return evaluator


def library_available(explicit: str = "") -> Path | None:
    """The library path when one would load (found and pinned checksum), else None (for tests and ``tools``)."""
    try:
        path = find_library(explicit)
        load_library(path)
    except PolicyError:
        return None
    return path


__all__ = ["LIBRARY_NAME", "LIBRARY_SHA256", "OpaGoEvaluator", "RuleError", "find_library", "library_available"]
