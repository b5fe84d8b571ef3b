"""Load-time checks that OPA's compiler does and regorus leaves to evaluation.

regorus resolves a called function, counts its arguments and plans variable safety only when a rule body
runs. A bad call behind a guard (``input.kind == "Pod"``) is therefore found only when a matching document
reaches it, while OPA and conftest reject the policy at load. :func:`check_calls` closes that gap for the
embedded engine:

- **Calls** (every rule, function, ``else`` branch, comprehension, ``every`` and ``with`` body): the called
  name is resolved the way regorus does it — ``data.…`` paths, then ``import … [as alias]``, then a rule of
  the calling module's package (so a user ``startswith(x)`` shadows the built-in), then a built-in. Unknown
  names and wrong argument counts are reported. The set of built-ins and their arities comes from the
  binding itself (one probe ``name()`` per distinct name, cached per process), so it matches the engine
  that evaluates.
- **Unsafe variables** (best effort): regorus' RVM compiler plans every rule eagerly and reports
  ``Undefined variable``. It does not support Rego v0 files or the ``with`` keyword, so modules it cannot
  compile are left out, and only its undefined-variable errors are used (see :func:`find_problems`).

Not for the OPA server engine: OPA compiles policies itself and has other built-ins.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from auditor.errors import PolicyError
from auditor.policy.engine import _add_policy_any_version, format_regorus_error
from auditor.policy.loader import RegoModule

_MAX_LINES = 20
"""Problems listed in one error; the rest are counted."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_ARITY = re.compile(r"`(?P<name>[^`]+)` expects (?P<n>\d+) argument")
_UNDEFINED_VAR = re.compile(r"Undefined variable: '(?P<name>[^']+)'")
_VARIADIC = -1
"""Arity marker of a built-in that takes any number of arguments (``print``)."""
_UNCHECKED = -2
"""Arity marker of a built-in whose probe neither succeeded nor named its arity."""
_VARIADIC_BUILTINS = frozenset({"print"})

_probe_lock = threading.Lock()
_builtin_arity: dict[str, int | None] = {}
"""Built-in name → arity (None: not a built-in). Filled by probes; the binding's set never changes in-process."""


@dataclass(frozen=True, order=True)
class Problem:
    """One load-time error found in a policy."""

    path: str
    """Policy file as given to the engine."""
    line: int
    col: int
    """1-based character column of the start of the called name (or variable)."""
    message: str
    """E.g. ``unknown function startwith`` or ``sprintf expects 2 arguments, got 1``."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message} (compile policy)"


def check_calls(
    modules: Sequence[RegoModule], *, engine: Any | None = None, unsafe_vars: bool = True
) -> None:
    """Raise :class:`PolicyError` when a policy calls an unknown function or passes a wrong argument count.

    ``modules`` are the policy files as loaded (embedded engine only). ``engine`` is an optional
    ``regorus.Engine`` of the calling thread that already holds those modules: it saves compiling them
    again (about 10 ms for the built-in pack) and is only read; every module it holds is checked. With
    ``unsafe_vars``, the first undefined variable regorus' RVM compiler finds is reported too. The message
    lists every problem, one ``FILE:LINE:COL: message (compile policy)`` per line, sorted by file and
    position (at most 20 lines, then a count). Syntax errors raise as they do when compiling.
    """
    problems = find_problems(modules, engine=engine, unsafe_vars=unsafe_vars)
    if not problems:
        return
    lines = [str(p) for p in problems[:_MAX_LINES]]
    if len(problems) > _MAX_LINES:
        lines.append(f"... and {len(problems) - _MAX_LINES} more problems (compile policy)")
    raise PolicyError("\n".join(lines))


def find_problems(
    modules: Sequence[RegoModule], *, engine: Any | None = None, unsafe_vars: bool = True
) -> list[Problem]:
    """Every call problem (and, with ``unsafe_vars``, undefined variable) in ``modules``, sorted.

    Unsafe variables come from regorus' RVM compiler, which compiles the Rego v1 modules from every
    non-function rule. It stops at its first error, does not know ``with`` or v0 syntax (modules where it
    fails that way are left out and the compile is retried), and a variable that names a rule or import
    it could not see is not reported, so this part finds the first undefined variable, not all of them.
    """
    if not modules:
        return []
    if engine is None:
        engine = _build(modules)
    get_ast = getattr(engine, "get_ast_as_json", None)
    if get_ast is None:  # a binding without the AST export: nothing to check with
        return []
    try:
        entries = json.loads(get_ast())
    except Exception as exc:  # the binding raises plain RuntimeError
        raise PolicyError(f"check policies: {format_regorus_error(str(exc))}") from exc
    parsed = [_Module.from_ast(entry) for entry in entries]
    functions = _user_functions(parsed)
    problems: list[Problem] = []
    prober = _Prober()
    for mod in parsed:
        problems.extend(_check_module(mod, functions, prober))
    if unsafe_vars:
        problems.extend(_unsafe_vars(parsed))
    originals = {mod.path: mod.source for mod in modules}
    engine_sources = {mod.path: mod.source for mod in parsed}
    return sorted({_original_position(p, engine_sources, originals) for p in problems})


def _original_position(problem: Problem, seen: Mapping[str, str], originals: Mapping[str, str]) -> Problem:
    """Map a column in the source the engine parsed back to the file on disk.

    v0 files reach the engine through ``v0_compat`` (``re_match(`` → ``regex.match(``), which shifts the
    columns after a rewritten call on the same line; lines never move.
    """
    original, parsed = originals.get(problem.path), seen.get(problem.path)
    if original is None or parsed is None or original == parsed:
        return problem
    try:
        old_line = original.splitlines()[problem.line - 1]
        new_line = parsed.splitlines()[problem.line - 1]
    except IndexError:
        return problem
    if old_line == new_line:
        return problem
    index = problem.col - 1
    for tag, old_start, _old_end, new_start, new_end in SequenceMatcher(None, old_line, new_line).get_opcodes():
        if new_start <= index < new_end:
            offset = index - new_start
            col = old_start + (offset if tag == "equal" else 0) + 1
            return Problem(problem.path, problem.line, col, problem.message)
    return problem


def _build(modules: Sequence[RegoModule]) -> Any:
    import regorus

    engine = regorus.Engine()
    for mod in modules:
        _add_policy_any_version(engine, mod)
    return engine


# ---------------------------------------------------------------------------------------------- AST model


def _ref_path(node: Mapping[str, Any]) -> tuple[list[str], Mapping[str, Any]] | None:
    """Static path of a reference (``a.b["c"]`` → ``["a", "b", "c"]``) and its root ``Var`` node.

    None for anything dynamic (``data.x[y].f``) or not a reference.
    """
    parts: list[str] = []
    while True:
        if "Var" in node:
            var = node["Var"]
            parts.append(str(var["value"]))
            parts.reverse()
            return parts, var
        if "RefDot" in node:
            parts.append(str(node["RefDot"]["field"][1]))
            node = node["RefDot"]["refr"]
        elif "RefBrack" in node:
            index = node["RefBrack"]["index"]
            if "String" not in index:
                return None
            parts.append(str(index["String"]["value"]))
            node = node["RefBrack"]["refr"]
        else:
            return None


def _static_prefix(node: Mapping[str, Any]) -> list[str] | None:
    """The longest static prefix of a rule head reference (``deny[msg]`` → ``["deny"]``)."""
    while True:
        found = _ref_path(node)
        if found is not None:
            return found[0]
        if "RefBrack" in node:
            node = node["RefBrack"]["refr"]
        elif "RefDot" in node:
            node = node["RefDot"]["refr"]
        else:
            return None


@dataclass(frozen=True)
class _Module:
    """What the checks need from one module of ``get_ast_as_json()``."""

    path: str
    source: str
    v1: bool
    package: tuple[str, ...]
    aliases: Mapping[str, tuple[str, ...]]
    """Import alias → the ``data`` path it stands for (``import data.lib.k8s`` → ``k8s``)."""
    imported: frozenset[str]
    """Every name an import binds, ``input`` imports included."""
    rules: tuple[Mapping[str, Any], ...]
    calls: tuple[tuple[Mapping[str, Any], bool], ...]
    """Every call expression, with True when it is a whole statement."""
    uses_with: bool

    @classmethod
    def from_ast(cls, entry: Mapping[str, Any]) -> _Module:
        source = entry["source"]
        ast = entry["ast"]
        contents = str(source["contents"])
        raw = contents.encode("utf-8")  # spans are byte offsets
        pkg = _ref_path(ast["package"]["refr"])
        aliases: dict[str, tuple[str, ...]] = {}
        imported: set[str] = set()
        for imp in ast.get("imports") or []:
            found = _ref_path(imp["refr"])
            if found is None:
                continue
            target = tuple(found[0])
            span = imp.get("as")
            alias = raw[span["start"] : span["end"]].decode("utf-8", "replace") if span else target[-1]
            imported.add(alias)
            if target[0] == "data":  # rego.v1, future.keywords.*, input.…: never called as functions
                aliases[alias] = target
        rules = tuple(ast.get("rules") or ())
        calls, uses_with = _scan(rules)
        return cls(
            path=str(source["file"]),
            source=contents,
            v1=entry.get("version") == 1,
            package=("data", *(pkg[0] if pkg else [])),
            aliases=aliases,
            imported=frozenset(imported),
            rules=rules,
            calls=tuple(calls),
            uses_with=uses_with,
        )

    def rule_heads(self) -> Iterator[tuple[list[str], int | None]]:
        """(head path relative to the package, arity or None for a non-function rule) of every rule."""
        for rule in self.rules:
            if "Default" in rule:
                head = rule["Default"]
                args = head.get("args") or []
                path = _static_prefix(head["refr"])
                if path is not None:
                    yield path, len(args) if args else None
            elif "Spec" in rule:
                kind, head = next(iter(rule["Spec"]["head"].items()))
                path = _static_prefix(head["refr"])
                if path is not None:
                    yield path, len(head.get("args") or []) if kind == "Func" else None


def _user_functions(mods: Sequence[_Module]) -> dict[tuple[str, ...], set[int]]:
    """Full path of every user function → the argument counts its definitions take."""
    out: dict[tuple[str, ...], set[int]] = {}
    for mod in mods:
        for path, arity in mod.rule_heads():
            if arity is not None:
                out.setdefault((*mod.package, *path), set()).add(arity)
    return out


def _scan(rules: Sequence[Any]) -> tuple[list[tuple[Mapping[str, Any], bool]], bool]:
    """Every ``Call`` node in ``rules`` with True for a whole statement; and whether any ``with`` is used.

    A statement call may take one extra argument that receives the result (``count(x, n)``), as in OPA.
    """
    calls: list[Mapping[str, Any]] = []
    statement: set[int] = set()
    uses_with = False
    stack: list[Any] = list(rules)
    pop, push = stack.pop, stack.append
    while stack:
        cur = pop()
        if type(cur) is dict:
            call = cur.get("Call")
            if type(call) is dict and "fcn" in call:
                calls.append(call)
            literal = cur.get("literal")
            if type(literal) is dict:
                uses_with = uses_with or bool(cur.get("with_mods"))
                for kind in ("Expr", "NotExpr"):
                    wrapper = literal.get(kind)
                    expr = wrapper.get("expr") if type(wrapper) is dict else None
                    if type(expr) is dict and "Call" in expr:
                        statement.add(id(expr["Call"]))
            for key, value in cur.items():
                kind_ = type(value)
                # Spans are the bulk of the tree and never hold calls.
                if kind_ is list or (kind_ is dict and key != "span"):
                    push(value)
        else:
            for value in cur:
                kind_ = type(value)
                if kind_ is dict or kind_ is list:
                    push(value)
    return [(call, id(call) in statement) for call in calls], uses_with


# ------------------------------------------------------------------------------------------------- calls


class _Prober:
    """Asks the binding whether a name is a built-in and how many arguments it takes."""

    def __init__(self) -> None:
        self._engine: Any = None

    def arity(self, name: str) -> int | None:
        """Arity of built-in ``name``, :data:`_VARIADIC`/:data:`_UNCHECKED`, or None when it is no built-in."""
        with _probe_lock:
            if name in _builtin_arity:
                return _builtin_arity[name]
        if name in _VARIADIC_BUILTINS:
            found: int | None = _VARIADIC
        elif not _NAME.match(name):
            found = None
        else:
            found = self._probe(name)
        with _probe_lock:
            _builtin_arity[name] = found
        return found

    def _probe(self, name: str) -> int | None:
        if self._engine is None:
            import regorus

            # An engine without policies: the query can only reach built-ins. Engines are bound to the
            # thread that made them, so each check makes its own (cheap: no policies).
            self._engine = regorus.Engine()
        try:
            # Zero arguments: every built-in checks its argument count before anything else, so this
            # runs only the zero-argument ones (time.now_ns, opa.runtime), which have no side effects.
            self._engine.eval_query(f"{name}()")
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            text = str(exc)
            if "could not find function" in text:
                return None
            m = _ARITY.search(text)
            if m and m.group("name") == name:
                return int(m.group("n"))
            return _UNCHECKED
        return 0


def _plural(n: int) -> str:
    return f"{n} argument" if n == 1 else f"{n} arguments"


def _arity_ok(expected: int, got: int, statement: bool) -> bool:
    return got == expected or (statement and got == expected + 1)


def _check_module(
    mod: _Module, functions: Mapping[tuple[str, ...], set[int]], prober: _Prober
) -> Iterator[Problem]:
    for call, statement in mod.calls:
        found = _ref_path(call["fcn"])
        if found is None:
            continue  # a computed name (data.lib[x].f): cannot be resolved statically
        parts, root = found
        name = ".".join(parts)
        got = len(call.get("params") or [])
        span = root["span"]
        where = (mod.path, int(span["line"]), int(span["col"]))
        candidates: list[tuple[str, ...]] = []
        if parts[0] == "data":
            candidates.append(tuple(parts))
        else:
            if parts[0] in mod.aliases:
                candidates.append((*mod.aliases[parts[0]], *parts[1:]))
            candidates.append((*mod.package, *parts))
        user = next((functions[c] for c in candidates if c in functions), None)
        if user is not None:
            if not any(_arity_ok(n, got, statement) for n in user):
                want = " or ".join(_plural(n) for n in sorted(user))
                yield Problem(*where, f"{name} expects {want}, got {got}")
            continue
        if parts[0] == "data":
            yield Problem(*where, f"unknown function {name}")
            continue
        arity = prober.arity(name)
        if arity is None:
            yield Problem(*where, f"unknown function {name}")
        elif arity >= 0 and not _arity_ok(arity, got, statement):
            yield Problem(*where, f"{name} expects {_plural(arity)}, got {got}")


# ---------------------------------------------------------------------------------------- unsafe variables

_LOCATION = re.compile(r"-->\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)")


def _unsafe_vars(mods: Sequence[_Module]) -> list[Problem]:
    """The first undefined variable regorus' RVM compiler finds, if any (best effort, see find_problems)."""
    try:
        import regorus

        compile_program = regorus.Program.compile_from_modules
    except (ImportError, AttributeError):  # an older binding without the RVM compiler
        return []
    # Names a bare variable may legitimately stand for without the RVM seeing a definition: rules of the
    # same package in any file (some may be left out below) and import aliases.
    known: dict[tuple[str, ...], set[str]] = {}
    for mod in mods:
        known.setdefault(mod.package, set()).update(path[0] for path, _ in mod.rule_heads())
    entry_points: dict[str, list[str]] = {}
    for mod in mods:
        if mod.v1:
            heads = {".".join((*mod.package, *path)) for path, arity in mod.rule_heads() if arity is None}
            entry_points[mod.path] = sorted(heads)
    # The RVM compiler parses v1 only and has no `with`: such modules would only cost a failed compile.
    sources = {mod.path: mod for mod in mods if mod.v1 and not mod.uses_with}
    # One retry per module at most: each failure that is not an undefined variable drops that module.
    for _ in range(len(sources) + 1):
        eps = sorted({ep for path in sources for ep in entry_points[path]})
        if not eps:
            return []
        try:
            compile_program("{}", [(m.path, m.source) for m in sources.values()], eps)
            return []
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            text = str(exc)
        var = _UNDEFINED_VAR.search(text)
        locs = _LOCATION.findall(text)
        loc = locs[-1] if locs else None  # the innermost location is the variable's own
        if loc is None or loc[0] not in sources:
            return []
        mod = sources[loc[0]]
        if var is not None:
            name = var.group("name")
            if name in mod.imported or name in known.get(mod.package, set()) or name in {"input", "data"}:
                return []  # defined somewhere the RVM could not look: not an error
            return [Problem(mod.path, int(loc[1]), int(loc[2]), f"unsafe variable {name}")]
        # Unsupported here (`with`, a v0 dependency, …): leave that module out and try the rest.
        del sources[loc[0]]
    return []
