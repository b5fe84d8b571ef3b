"""conftest-style runs outside an audit: ``policy test`` over files and ``policy verify`` of test rules."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import PolicyError
from auditor.policy.audit import compile_modules, is_combined_namespace
from auditor.policy.builtin import BUILTIN_NAMESPACE_PREFIX, builtin_policy_dir
from auditor.policy.check import (
    CheckResult,
    NamespaceRules,
    RuleResult,
    evaluate_namespaces,
    namespace_rules,
    select_namespaces,
)
from auditor.policy.engine import UNDEFINED, EvalError
from auditor.policy.loader import SKIPPED_TEST_RULE, TEST_RULE, discover_modules, load_data
from auditor.policy.options import PolicyOptions
from auditor.util import yamlio
from auditor.util.secrets import is_secret, mask_secret_values

_CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class TestOutcome:
    """Result of one ``test_*`` rule."""

    __test__ = False  # not a pytest class

    name: str
    """``data.<package>.<rule>``."""
    file: str
    passed: bool
    error: str = ""
    skipped: bool = False
    """A ``todo_test_*`` rule: not evaluated, neither passed nor failed."""


class InputNotFoundError(PolicyError):
    """No configuration file to test: conftest's "no files found" (and a missing path), which exit 1 there."""

    exit_code = 1


def _documents(parsed: list[Any]) -> list[Any]:
    # conftest evaluates a top-level list as several documents, exactly like a multi-document YAML file: its
    # parsers return one value per file, and Engine.Check splits any list value into its elements. A file with
    # no document at all is one null input there.
    if len(parsed) == 1 and isinstance(parsed[0], list):
        return list(parsed[0])
    return parsed or [None]


def read_configs(paths: Sequence[str]) -> dict[str, list[Any]]:
    """Parse the YAML/JSON files to test (directories recursively, ``-`` for stdin), keyed by file name.

    Each value is the file's documents: the documents of a multi-document YAML stream, or the elements of a
    top-level list (JSON or YAML), as conftest does. Raises :class:`InputNotFoundError` for a missing path and
    when no file is found at all.
    """
    out: dict[str, list[Any]] = {}
    for raw in paths:
        if raw == "-":  # conftest reads standard input for "-"
            try:
                out["-"] = _documents(yamlio.load_json_or_yaml(sys.stdin.buffer.read(), "-"))
            except ValueError as exc:
                raise PolicyError(f"parse configurations: {exc}") from exc
            continue
        p = Path(raw)
        if p.is_dir():
            files = [f for f in sorted(p.rglob("*")) if f.is_file() and f.name.endswith(_CONFIG_SUFFIXES)]
        elif p.is_file():
            files = [p]
        else:
            raise InputNotFoundError(f"parse configurations {raw}: no such file or directory")
        for f in files:
            try:
                out[str(f)] = _documents(yamlio.load_json_or_yaml(f.read_bytes(), str(f)))
            except (OSError, ValueError) as exc:
                raise PolicyError(f"parse configurations: {exc}") from exc
    if not out:
        raise InputNotFoundError(f"parse configurations {' '.join(paths)}: no files found")
    return out


def combine_configs(configs: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The ``--combine`` input, as conftest's ``CombineConfigurations`` builds it.

    One ``{"path", "contents"}`` entry per document (a multi-document file gives several entries with the same
    path), sorted by path; documents of one file keep their order.
    """
    return [{"path": name, "contents": doc} for name in sorted(configs) for doc in configs[name]]


class NoRulesError(PolicyError):
    """Policies were given but none of their deny/violation/warn rules is in a selected namespace (exit 2)."""


def _is_builtin_dir(path: str) -> bool:
    try:
        return Path(path).resolve() == builtin_policy_dir().resolve()
    except OSError:
        return False


def policy_dirs(options: PolicyOptions) -> tuple[str, ...]:
    """Policy paths of a ``policy test``/``verify`` run: ``-p`` paths, plus the built-in pack with ``--builtin``."""
    dirs = tuple(options.dirs)
    if options.builtin and not any(_is_builtin_dir(d) for d in dirs):
        dirs = (str(builtin_policy_dir()), *dirs)
    return dirs


def _selected(
    options: PolicyOptions, spaces: Mapping[str, NamespaceRules], dirs: Sequence[str], *, combine: bool
) -> list[NamespaceRules]:
    """Conftest's namespace selection, plus the built-in pack's packages when the pack is among the policies.

    The pack's per-document packages are selected for a run on files, its ``*.combined`` packages for a
    ``--combine`` run (the input each expects, as in an audit).
    """
    chosen = select_namespaces(spaces, options.namespaces, options.all_namespaces)
    if options.all_namespaces or not (options.builtin or any(_is_builtin_dir(d) for d in dirs)):
        return chosen
    names = [ns.namespace for ns in chosen]
    names += sorted(
        ns for ns in spaces
        if ns.startswith(BUILTIN_NAMESPACE_PREFIX) and is_combined_namespace(ns) == combine and ns not in names
    )
    return select_namespaces(spaces, names, False)


def _no_rules(spaces: Sequence[NamespaceRules], found: Mapping[str, NamespaceRules], dirs: Sequence[str]) -> str:
    wanted = ", ".join(ns.namespace for ns in spaces) or "(none)"
    packages = sorted(ns for ns, rules in found.items() if rules.rules)
    have = f"packages with rules: {', '.join(packages)}" if packages else "no package has deny/violation/warn rules"
    hint = "; select them with --namespace NS or --all-namespaces"
    if any(_is_builtin_dir(d) for d in dirs) or any(p.startswith(BUILTIN_NAMESPACE_PREFIX) for p in packages):
        hint += " (the built-in pack: --builtin)"
    return (
        f"evaluate policies in {', '.join(dirs)}: no rule evaluated: no deny/violation/warn rule in namespace(s) "
        f"{wanted} ({have}){hint if packages else ''}"
    )


def mask_secret_inputs(configs: dict[str, list[Any]]) -> int:
    """Replace Secret values (``data``/``stringData``, also inside ``List`` items) by ``***`` in place; the count.

    The audit hands policies the same masked Secrets, so a policy behaves alike in ``policy test`` and in a
    run, and no policy message can print a value into a CI log.
    """
    masked = 0

    def mask(doc: Any) -> Any:
        nonlocal masked
        if isinstance(doc, dict) and is_secret(doc):
            masked += 1
            return mask_secret_values(doc)
        if isinstance(doc, dict) and isinstance(doc.get("items"), list):
            return {**doc, "items": [mask(i) for i in doc["items"]]}
        return doc

    for name, docs in configs.items():
        configs[name] = [mask(d) for d in docs]
    return masked


def run_test(
    files: Sequence[str],
    options: PolicyOptions,
    *,
    combine: bool = False,
    mask_secrets: bool = True,
) -> list[CheckResult]:
    """``conftest test``: evaluate the chosen namespaces on every document; one result per file and namespace.

    Multi-document files are evaluated per document and aggregated under the file name, as conftest does.
    An evaluation error raises :class:`PolicyError` (conftest stops on it too), naming the file and the rule.
    Policies whose selected namespaces hold no rule at all raise :class:`NoRulesError`: such a run would
    pass without checking anything (conftest exits 0 there; we do not). Secret values are masked first
    unless ``mask_secrets`` is False (conftest's raw input; a warning says so).
    """
    configs = read_configs(files)  # first, as conftest: a mistyped input path is reported before policy errors
    if mask_secrets and (count := mask_secret_inputs(configs)):
        logging.getLogger("gitops_audit").warning(
            "policy test: the values of %d Secret%s were masked (***) before evaluation, as in an audit; "
            "--show-secrets passes them as written", count, "s" if count != 1 else "")
    dirs = policy_dirs(options)
    modules = discover_modules(dirs)
    if not modules:
        raise PolicyError(f"load policies: no policies found in {', '.join(dirs)}")
    evaluator = compile_modules(modules, load_data(options.data), options)
    found = namespace_rules(modules)
    spaces = _selected(options, found, dirs, combine=combine)
    if not any(ns.rule_count for ns in spaces):
        raise NoRulesError(_no_rules(spaces, found, dirs))
    if combine:
        try:
            combined = evaluate_namespaces(evaluator, spaces, combine_configs(configs), "Combined")
        except EvalError as exc:
            raise PolicyError(f"evaluate policies on the combined input: {exc}") from exc
        _raise_rule_errors(combined, "the combined input")
        return combined
    results: list[CheckResult] = []
    for name, docs in configs.items():
        # An empty top-level list is no document: conftest still lists the file, with no result.
        per_ns: dict[str, CheckResult] = {ns.namespace: CheckResult(name, ns.namespace) for ns in spaces}
        try:
            for doc in docs:
                for res in evaluate_namespaces(evaluator, spaces, doc, name):
                    per_ns[res.namespace] = per_ns[res.namespace].merged(res)
        except EvalError as exc:
            # Name the input: the message alone (e.g. a value the engine cannot take) does not say which file.
            raise PolicyError(f"evaluate policies on {name}: {exc}") from exc
        _raise_rule_errors(per_ns.values(), name)
        results.extend(per_ns.values())
    # conftest loops over namespaces, then files: results are grouped by namespace (files keep their order).
    order = {ns.namespace: i for i, ns in enumerate(spaces)}
    return sorted(results, key=lambda r: order[r.namespace])


def _raise_rule_errors(results: Iterable[CheckResult], where: str) -> None:
    for res in results:
        for rule, error in res.errors:
            raise PolicyError(f"evaluate {rule} on {where}: {error}")


def run_verify(options: PolicyOptions) -> list[TestOutcome]:
    """``conftest verify``: evaluate every ``test_*`` rule of the policy dirs (tests included); true passes.

    ``todo_test_*`` rules are reported as skipped without being evaluated, as OPA's tester does.
    """
    dirs = policy_dirs(options)
    modules = discover_modules(dirs, include_tests=True)
    if not modules:
        raise PolicyError(f"load policies: no policies found in {', '.join(dirs)}")
    evaluator = compile_modules(modules, load_data(options.data), options)
    outcomes: list[TestOutcome] = []
    for mod in modules:
        seen: set[str] = set()
        for rule in mod.rules:
            if rule in seen or not (TEST_RULE.match(rule) or SKIPPED_TEST_RULE.match(rule)):
                continue
            seen.add(rule)
            name = f"data.{mod.package}.{rule}"
            if SKIPPED_TEST_RULE.match(rule):
                outcomes.append(TestOutcome(name, mod.path, False, skipped=True))
                continue
            try:
                value = evaluator.query(name, {})
            except EvalError as exc:
                outcomes.append(TestOutcome(name, mod.path, False, str(exc)))
                continue
            outcomes.append(TestOutcome(name, mod.path, value is not UNDEFINED and value is True))
    return outcomes


def exit_code(results: Sequence[CheckResult], *, fail_on_warn: bool = False, no_fail: bool = False) -> int:
    """Conftest's exit code: 1 on failures; with ``--fail-on-warn`` 2 on failures and 1 on warnings.

    ``no_fail`` (``--no-fail``) makes it 0 whatever the results, as conftest does.
    """
    if no_fail:
        return 0
    failures = any(r.failures for r in results)
    warnings = any(r.warnings for r in results)
    if fail_on_warn:
        return 2 if failures else 1 if warnings else 0
    return 1 if failures else 0


def result_dict(r: RuleResult) -> dict[str, Any]:
    """Conftest's JSON shape of one result: ``{msg, loc?, metadata?}``."""
    out: dict[str, Any] = {"msg": r.msg}
    if r.location:
        out["loc"] = dict(r.location)
    if r.metadata:
        out["metadata"] = dict(r.metadata)
    return out
