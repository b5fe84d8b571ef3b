"""Policy checks inside an audit: load once, evaluate desired and live documents of each target.

Input contract (documented in README.md):
- per-document namespaces: ``input`` is the manifest itself (as conftest sees a YAML document);
- namespaces whose last segment is ``combined`` (e.g. ``gitops_audit.rbac.combined``) are evaluated once
  per side with ``input`` = ``[{"path": FILE, "contents": MANIFEST}, ...]`` like ``conftest --combine``;
- ``data.gitops_audit.target`` = ``{name, env, region, context}`` and ``data.gitops_audit.side`` =
  ``"desired"`` or ``"live"`` tell a rule where it runs (so it can be stricter in production).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from auditor.errors import PolicyError
from auditor.model import Category, Finding, Manifest, ObjectRef, Provenance, Severity, Target
from auditor.policy.builtin import BUILTIN_NAMESPACE_PREFIX, builtin_policy_dir
from auditor.policy.check import (
    CheckResult,
    NamespaceRules,
    RuleResult,
    build_plan,
    check_results,
    combined_kinds,
    document_plan,
    has_results,
    namespace_rules,
    packages_reading,
    planner,
)
from auditor.policy.context_deps import CONTEXT_ROOT, context_fields
from auditor.policy.engine import EvalError, Evaluator, RegorusEvaluator, RuleError
from auditor.policy.loader import RegoModule, discover_modules, load_data
from auditor.policy.options import PolicyOptions
from auditor.policy.runner import PolicyRunner, auto_workers
from auditor.policy.sides import distinct_paths, merge_sides
from auditor.policy.static_check import check_calls
from auditor.policy.waivers import apply_waivers

ERROR_RULE = "policy.error"
SIDES = ("desired", "live")
_DEFAULT_SEVERITY = {True: Severity.HIGH, False: Severity.MEDIUM}  # failure → high, warning → medium


@dataclass(frozen=True)
class PolicySet:
    """Compiled policies plus what to evaluate; build it once per run with :func:`load_policies`."""

    evaluator: Evaluator
    modules: tuple[RegoModule, ...]
    document_namespaces: tuple[NamespaceRules, ...]
    """Evaluated once per document."""
    combined_namespaces: tuple[NamespaceRules, ...]
    """Evaluated once per side with all documents (``conftest --combine`` input)."""
    options: PolicyOptions
    runner: PolicyRunner
    """Evaluates documents once per run and context, in worker processes for large batches."""

    def close(self) -> None:
        """Stop the policy worker processes, if any were started."""
        self.runner.close()


def is_combined_namespace(namespace: str) -> bool:
    """Packages named ``….combined`` (or ``combined``) take the combined input in audits."""
    return namespace.rsplit(".", 1)[-1] == "combined"


ENGINES = ("embedded", "opa-go", "opa")
"""``policy.engine`` values: regorus in process (default), OPA's Go engine in process, an OPA server."""


def compile_modules(modules: Sequence[RegoModule], data: Mapping[str, Any], options: PolicyOptions) -> Evaluator:
    """Build the evaluator selected by ``options.engine``."""
    if options.engine == "opa-go":
        from auditor.policy.opa_go import OpaGoEvaluator

        return OpaGoEvaluator.compile(modules, data, library=options.opa_library)
    if options.engine == "embedded":
        evaluator = RegorusEvaluator.compile(modules, data)
        # regorus resolves calls only when a body runs: find unknown functions and wrong arities now,
        # as OPA's compiler would (an OPA server compiles, and knows more built-ins, by itself).
        check_calls(modules)
        return evaluator
    if options.engine == "opa":
        if not options.opa_url:
            raise PolicyError("load policies: policy.engine 'opa' needs policy.opa_url")
        from auditor.policy.opa import OpaServerEvaluator

        return OpaServerEvaluator.compile(options.opa_url, modules, data)
    raise PolicyError(f"load policies: unknown policy.engine {options.engine!r} ({', '.join(ENGINES)})")


def _check_compiles(evaluator: Evaluator, spaces: Sequence[NamespaceRules]) -> None:
    """Evaluate every rule once on empty inputs to surface compile errors at load time.

    regorus resolves functions lazily, so a call to an unknown function would otherwise surface only
    as a per-document error.
    """
    groups = [
        [ns for ns in spaces if ns.rules and not is_combined_namespace(ns.namespace)],
        [ns for ns in spaces if ns.rules and is_combined_namespace(ns.namespace)],
    ]
    probes: tuple[Any, ...] = ({}, [])
    for active, probe in ((g, p) for g in groups if g for p in probes):
        try:
            values = evaluator.evaluate(build_plan(active), probe)
        except EvalError as exc:
            values = {"": {"": RuleError(str(exc))}}
        for rules in values.values():
            for value in rules.values():
                text = value.message if isinstance(value, RuleError) else ""
                # Only "no such function" is a compile error; other messages on empty input are runtime matters.
                if "could not find function" in text or "undefined function" in text:
                    raise PolicyError(f"{text} (compile policy)") from None


def load_policies(options: PolicyOptions) -> PolicySet:
    """Load and compile the built-in pack (when on), user policy dirs and data files.

    Raises :class:`PolicyError` (``file:line:col: message``) when a policy does not compile.
    """
    paths: list[str] = []
    if options.builtin:
        paths.append(str(builtin_policy_dir()))
    paths.extend(options.dirs)
    seen: set[str] = set()
    modules: list[RegoModule] = []
    for mod in discover_modules(paths):
        if mod.path not in seen:
            seen.add(mod.path)
            modules.append(mod)
    if not modules:
        raise PolicyError(f"load policies: no policies found in {', '.join(paths) or '(no directories)'}")
    data = load_data(options.data)
    evaluator = compile_modules(modules, data, options)
    spaces = namespace_rules(modules)
    if options.all_namespaces:
        selected = sorted(spaces)
    else:
        selected = list(dict.fromkeys(options.namespaces))
        if options.builtin:
            selected += sorted(ns for ns in spaces if ns.startswith(BUILTIN_NAMESPACE_PREFIX))
        selected = list(dict.fromkeys(selected))
    chosen = [spaces[ns] for ns in selected if ns in spaces and spaces[ns].rules]
    _check_compiles(evaluator, chosen)
    workers = auto_workers() if options.workers < 0 else options.workers
    runner = PolicyRunner(
        modules,
        data,
        context_fields=context_fields(modules),
        workers=workers if options.engine == "embedded" else 0,  # an OPA server parallelises itself
    )
    return PolicySet(
        evaluator=evaluator,
        modules=tuple(modules),
        document_namespaces=tuple(ns for ns in chosen if not is_combined_namespace(ns.namespace)),
        combined_namespaces=tuple(ns for ns in chosen if is_combined_namespace(ns.namespace)),
        options=options,
        runner=runner,
    )


def policy_input(manifest: Manifest, side: str) -> Mapping[str, Any]:
    """The ``input`` a policy sees: the manifest; live copies lose managedFields/status; Secret values masked.

    Secret values are replaced by ``***`` (keys kept) so no policy message can ever print one. Only the
    top level and ``metadata`` are copied when something must change: the input is serialized, never
    mutated, and a deep copy of every document would cost more than some policies.
    """
    body = manifest.body
    secret = body.get("kind") == "Secret" and body.get("apiVersion") == "v1"
    if side != "live" and not secret:
        return body
    out: dict[str, Any] = dict(body)
    meta = dict(out.get("metadata") or {})
    if side == "live":
        out.pop("status", None)
        meta.pop("managedFields", None)
    ann = meta.get("annotations")
    if isinstance(ann, Mapping) and "kubectl.kubernetes.io/last-applied-configuration" in ann:
        meta["annotations"] = {
            k: v for k, v in ann.items() if k != "kubectl.kubernetes.io/last-applied-configuration"
        }
    if "metadata" in out:
        out["metadata"] = meta
    if secret:
        for key in ("data", "stringData"):
            if isinstance(out.get(key), Mapping):
                out[key] = {k: "***" for k in out[key]}
    return out


def _filename(manifest: Manifest) -> str:
    primary = manifest.provenance.primary
    return primary.path if primary else manifest.ref.subject


def _severity(result: RuleResult) -> Severity:
    raw = result.metadata.get("severity")
    if isinstance(raw, str):
        try:
            return Severity(raw.lower())
        except ValueError:
            pass
    return _DEFAULT_SEVERITY[result.is_failure]


def _rule_id(result: RuleResult) -> str:
    rid = result.metadata.get("rule_id")
    return rid if isinstance(rid, str) and rid else f"{result.namespace}.{result.rule}"


def _finding(
    target: Target,
    result: RuleResult,
    side: str,
    manifest: Manifest | None,
    *,
    combined: bool = False,
    suppressed_by: str = "",
) -> Finding:
    details: dict[str, Any] = {
        "source": side,
        "rule": f"data.{result.namespace}.{result.rule}",
        "namespace": result.namespace,
        "level": "failure" if result.is_failure else "warning",
    }
    for key in ("title", "remediation", "details", "references", "path"):
        if key in result.metadata:
            details[key] = result.metadata[key]
    extra = {k: v for k, v in result.metadata.items() if k not in ("rule_id", "severity", *details)}
    if extra:
        details["metadata"] = extra
    if combined:
        details["combined"] = True
    if result.location:
        details["location"] = dict(result.location)
    field_path = result.metadata.get("path")
    return Finding(
        target=target.name,
        category=Category.POLICY,
        rule_id=_rule_id(result),
        severity=_severity(result),
        message=result.msg,
        ref=manifest.ref if manifest else None,
        path=f"{side}:{field_path}" if isinstance(field_path, str) and field_path else side,
        provenance=manifest.provenance if manifest else Provenance(),
        suppressed_by=suppressed_by,
        details=details,
    )


def _findings_from(
    target: Target, checks: Sequence[CheckResult], side: str, manifest: Manifest | None
) -> list[Finding]:
    out: list[Finding] = []
    for chk in checks:
        for r in (*chk.failures, *chk.warnings):
            out.append(_finding(target, r, side, manifest))
        for r in chk.excepted:
            out.append(_finding(target, r, side, manifest, suppressed_by=f"exception:data.{r.namespace}.exception"))
    return out


def _resolve(resource: Any, index: Mapping[tuple[str, str, str], Manifest]) -> Manifest | None:
    """Find the manifest a combined result names with ``resource: {kind, namespace, name}``.

    An object that is not among the documents (e.g. a Namespace that only appears as a field) gets a
    bare manifest so the finding still names it.
    """
    if not isinstance(resource, Mapping):
        return None
    key = (str(resource.get("kind", "")), str(resource.get("namespace", "") or ""), str(resource.get("name", "")))
    found = index.get(key)
    if found is None and key[0] and key[2]:
        group = str(resource.get("group", ""))
        return Manifest(ObjectRef(group, *key), str(resource.get("apiVersion", "")), {})
    return found


def _error_finding(target: Target, side: str, manifest: Manifest | None, error: str, rule: str = "") -> Finding:
    """A rule (or the whole evaluation, without ``rule``) failed on one document: its results are unknown."""
    subject = manifest.ref.subject if manifest else "combined input"
    what = f"{rule} on {side} {subject}" if rule else f"policies on {side} {subject}"
    details: dict[str, Any] = {"source": side, "error": error}
    if rule:
        details["rule"] = rule
    return Finding(
        target=target.name,
        category=Category.POLICY,
        rule_id=ERROR_RULE,
        severity=Severity.HIGH,
        message=f"evaluate {what}: {error}",
        ref=manifest.ref if manifest else None,
        path=side,
        provenance=manifest.provenance if manifest else Provenance(),
        details=details,
    )


def incomplete_reasons(findings: Sequence[Finding]) -> tuple[str, ...]:
    """Why a target's policy results are incomplete: one line per rule that failed to evaluate on a document."""
    return tuple(f.message for f in findings if f.rule_id == ERROR_RULE and f.category is Category.POLICY)


def evaluate_target(
    policies: PolicySet,
    target: Target,
    desired: Sequence[Manifest],
    live: Sequence[Manifest],
    *,
    live_changed: Collection[ObjectRef] | None = None,
    today: date | None = None,
) -> tuple[Finding, ...]:
    """Run the policies on every desired and live document of one target; apply waivers.

    A failing rule gives one finding per side (``path`` and ``details.source`` say which), so the same
    problem in git and in the cluster are two findings with distinct fingerprints. An evaluation error
    on one document becomes a ``policy.error`` finding for it and the other documents go on.

    ``live_changed`` (the audit passes the drifted and live-only objects) limits the per-document live
    evaluation to those objects: an in-sync live object would only repeat its desired twin's findings.
    Combined packages always see every live object, since a rule about one object may depend on others
    that are in sync; their live findings that repeat a desired finding word for word are dropped.
    """
    day = today or datetime.now(UTC).date()
    target_doc = {"name": target.name, "env": target.env, "region": target.region, "context": target.context}
    findings: list[Finding] = []
    by_side: dict[tuple[str, ObjectRef], Manifest] = {}
    desired_combined: set[tuple[str, ObjectRef | None, str]] = set()
    for side, docs in (("desired", desired), ("live", live)):
        if not docs:
            continue
        context = {"target": target_doc, "side": side}
        evaluator = policies.evaluator.with_data({CONTEXT_ROOT: context})
        index = {(m.ref.kind, m.ref.namespace, m.ref.name): m for m in docs}
        per_doc = list(docs) if side == "desired" or live_changed is None else [
            m for m in docs if m.ref in live_changed
        ]
        combined_spaces = policies.combined_namespaces
        if combined_spaces and side == "live" and live_changed is not None:
            # A combined package whose kinds are all in sync would only repeat the desired side's
            # findings (dropped below): run the ones that read a kind that drifted, appeared or went missing.
            live_refs = {m.ref for m in docs}
            changed = {r.kind for r in live_changed} | {m.ref.kind for m in desired if m.ref not in live_refs}
            combined_spaces = packages_reading(evaluator, combined_spaces, changed)
        kinds = combined_kinds(evaluator, combined_spaces) if combined_spaces else frozenset()
        in_combined = [] if not combined_spaces else [m for m in docs if kinds is None or m.ref.kind in kinds]
        # Inputs (and waiver lookups) only for the documents some evaluation reads.
        needed = {m.ref: m for m in (*per_doc, *in_combined)}
        inputs = {ref: policy_input(m, side) for ref, m in needed.items()}
        by_side.update(((side, ref), m) for ref, m in needed.items())
        jobs: list[tuple[Any, Any]] = []
        if policies.document_namespaces:
            plan = planner(evaluator, policies.document_namespaces)
            jobs = [(plan(inputs[m.ref]), inputs[m.ref]) for m in per_doc]
        if combined_spaces:
            combined = [{"path": _filename(m), "contents": inputs[m.ref]} for m in in_combined]
            jobs.append((document_plan(evaluator, combined_spaces, combined), combined))
        values = policies.runner.run(evaluator, context, jobs)
        if policies.document_namespaces:
            for manifest, value in zip(per_doc, values, strict=False):
                if isinstance(value, EvalError):
                    findings.append(_error_finding(target, side, manifest, str(value)))
                    continue
                if not has_results(value):
                    continue  # the common case: nothing fired, no findings to build
                checks = check_results(value, policies.document_namespaces, _filename(manifest))
                findings.extend(_findings_from(target, checks, side, manifest))
                findings.extend(
                    _error_finding(target, side, manifest, error, rule) for chk in checks for rule, error in chk.errors
                )
        if combined_spaces:
            value = values[-1]
            if isinstance(value, EvalError):
                findings.append(_error_finding(target, side, None, str(value)))
                continue
            for chk in check_results(value, combined_spaces, "Combined"):
                findings.extend(_error_finding(target, side, None, error, rule) for rule, error in chk.errors)
                results = [(r, "") for r in (*chk.failures, *chk.warnings)]
                results += [(r, f"exception:data.{r.namespace}.exception") for r in chk.excepted]
                for r, suppressed_by in results:
                    m = _resolve(r.metadata.get("resource"), index)
                    f = _finding(target, r, side, m, combined=True, suppressed_by=suppressed_by)
                    key = (f.rule_id, f.ref, f.message)
                    if side == "desired":
                        desired_combined.add(key)
                    elif live_changed is not None and key in desired_combined:
                        continue  # live state says what git says: the desired finding covers it
                    findings.append(f)
    findings = apply_waivers(distinct_paths(findings), by_side, target, policies.options.waivers, day)
    findings = merge_sides(findings)
    findings.sort(key=Finding.sort_key)
    return tuple(findings)
