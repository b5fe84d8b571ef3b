"""The per-framework view of a report: controls, findings, passed and failed checks, a score.

Definitions (the README repeats them for auditors):

- A **check** is one rule on one subject of one target (see :mod:`auditor.catalog.checks`); a target's
  :class:`~auditor.model.RuleCheck` entries say how many subjects each rule looked at.
- A check **failed** when a counted finding (not waived, not suppressed) of the rule names that subject:
  the same object, namespace or file, desired or live side alike. For rules whose subject is the target
  (commit approval, CODEOWNERS presence), any counted finding fails that target's one check.
- A check is **waived** when all of its findings are waived or suppressed.
- A check **passed** when it was evaluated and neither failed nor waived.
- A control's **score** is passed / (passed + failed) x 100, over every rule that names the control, on
  every target; a framework's score is the mean of its evaluated controls' scores (Kubescape's
  compliance score works the same way: share of passing resources per control, averaged). A control no
  rule was evaluated for has no score ("not evaluated"), which is not a pass.

Findings of a rule without a check entry (a report written before checks were recorded) count as failed
checks; their passes are unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from auditor.catalog.model import Framework
from auditor.model import Finding, TargetResult

CHANGE_MANAGEMENT_CATEGORIES = ("drift", "change-control")


@dataclass(frozen=True)
class Tally:
    """Checks of one rule or control, summed over targets."""

    evaluated: int = 0
    failed: int = 0
    waived: int = 0
    findings: int = 0
    """Counted findings (one check can have several: desired and live, several messages)."""

    @property
    def passed(self) -> int:
        """Evaluated checks that neither failed nor were waived."""
        return max(self.evaluated - self.failed - self.waived, 0)

    @property
    def score(self) -> float | None:
        """Passed / (passed + failed) x 100, rounded to 0.1; None when nothing was decided."""
        decided = self.passed + self.failed
        return round(100.0 * self.passed / decided, 1) if decided else None

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.evaluated + other.evaluated,
            self.failed + other.failed,
            self.waived + other.waived,
            self.findings + other.findings,
        )

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "evaluated": self.evaluated,
            "passed": self.passed,
            "failed": self.failed,
            "waived": self.waived,
            "findings": self.findings,
            "score": self.score,
        }


@dataclass(frozen=True)
class ControlView:
    """One control of a framework."""

    control: str
    title: str
    rules: tuple[str, ...]
    tally: Tally

    @property
    def status(self) -> str:
        """``failed``, ``passed`` or ``not evaluated``."""
        if self.tally.failed:
            return "failed"
        return "passed" if self.tally.evaluated else "not evaluated"


@dataclass(frozen=True)
class FrameworkView:
    """One framework: its controls that some rule names, in the framework's order."""

    key: str
    name: str
    version: str
    controls: tuple[ControlView, ...]

    @property
    def tally(self) -> Tally:
        """Checks summed over the controls (a check counts once per control it evidences)."""
        total = Tally()
        for c in self.controls:
            total = total + c.tally
        return total

    @property
    def score(self) -> float | None:
        """Mean of the controls' scores (controls without a score left out)."""
        scores = [c.tally.score for c in self.controls if c.tally.score is not None]
        return round(sum(scores) / len(scores), 1) if scores else None

    def count(self, status: str) -> int:
        """How many controls have ``status``."""
        return sum(1 for c in self.controls if c.status == status)


def _subject(f: Finding) -> str:
    if f.ref is not None:
        return f"{f.ref.group}|{f.ref.subject}"
    return f.path.split(":", 1)[0] if f.category.value == "policy" else f.path


def rule_tallies(results: Iterable[TargetResult]) -> dict[str, Tally]:
    """Per rule id: checks evaluated, failed and waived, and counted findings, over every audited target."""
    out: dict[str, Tally] = {}
    for r in results:
        if not r.audited:
            continue
        evaluated = {c.rule_id: c.evaluated for c in r.checks}
        failing: dict[str, set[str]] = {}
        waived: dict[str, set[str]] = {}
        counted: dict[str, int] = {}
        for f in r.findings:
            key = _subject(f)
            if f.counts:
                failing.setdefault(f.rule_id, set()).add(key)
                counted[f.rule_id] = counted.get(f.rule_id, 0) + 1
            else:
                waived.setdefault(f.rule_id, set()).add(key)
        for rule_id in evaluated.keys() | failing.keys():
            fails = failing.get(rule_id, set())
            n = evaluated.get(rule_id, len(fails))
            failed = min(len(fails), n)
            w = min(len(waived.get(rule_id, set()) - fails), n - failed)
            out[rule_id] = out.get(rule_id, Tally()) + Tally(n, failed, w, counted.get(rule_id, 0))
    return out


def rule_controls(results: Iterable[TargetResult]) -> dict[str, tuple[str, ...]]:
    """Per rule id: its ``framework:control`` ids, from the targets' checks and the findings' details."""
    out: dict[str, set[str]] = {}
    for r in results:
        for c in r.checks:
            out.setdefault(c.rule_id, set()).update(c.controls)
        for f in r.findings:
            controls = f.details.get("controls")
            if isinstance(controls, list | tuple):
                out.setdefault(f.rule_id, set()).update(str(c) for c in controls)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def framework_views(results: Sequence[TargetResult], frameworks: Mapping[str, Framework]) -> tuple[FrameworkView, ...]:
    """One view per framework that at least one evaluated rule or finding names, in catalogue order."""
    tallies = rule_tallies(results)
    by_control: dict[tuple[str, str], list[str]] = {}
    for rule_id, control_ids in rule_controls(results).items():
        for cid in control_ids:
            fw_key, _, control = cid.partition(":")
            by_control.setdefault((fw_key, control), []).append(rule_id)
    out = []
    for key, framework in frameworks.items():
        known = [c for c in framework.controls if (key, c) in by_control]
        extra = sorted(c for (k, c) in by_control if k == key and c not in framework.controls)
        views: list[ControlView] = []
        for control in (*known, *extra):
            rules = tuple(sorted(by_control[(key, control)]))
            total = Tally()
            for rule_id in rules:
                total = total + tallies.get(rule_id, Tally())
            views.append(ControlView(control, framework.controls.get(control, ""), rules, total))
        if views:
            out.append(FrameworkView(key, framework.name, framework.version, tuple(views)))
    return tuple(out)


def change_management(results: Sequence[TargetResult], categories: Mapping[str, str]) -> dict[str, Tally]:
    """Per drift and change-control rule (``categories``: rule id → category): its tally over the run."""
    tallies = rule_tallies(results)
    return {
        rule_id: tallies.get(rule_id, Tally())
        for rule_id, category in sorted(categories.items())
        if category in CHANGE_MANAGEMENT_CATEGORIES and rule_id in tallies
    }


def frameworks_json(results: Sequence[TargetResult], frameworks: Mapping[str, Framework],
                    categories: Mapping[str, str]) -> dict[str, object]:
    """The JSON report's ``frameworks`` section: per framework and control, tallies and scores."""
    views = framework_views(results, frameworks)
    return {
        "definition": "check = rule x subject (object, namespace, file or target); score = passed / "
        "(passed + failed) x 100 per control, framework score = mean of control scores",
        "frameworks": [
            {
                "key": v.key,
                "name": v.name,
                "version": v.version,
                "score": v.score,
                "controls_failed": v.count("failed"),
                "controls_passed": v.count("passed"),
                "controls_not_evaluated": v.count("not evaluated"),
                **{k: val for k, val in v.tally.as_dict().items() if k != "score"},
                "controls": [
                    {"control": c.control, "title": c.title, "status": c.status, "rules": list(c.rules),
                     **c.tally.as_dict()}
                    for c in v.controls
                ],
            }
            for v in views
        ],
        "change_management": [
            {"rule_id": rule_id, "category": categories.get(rule_id, ""), **t.as_dict()}
            for rule_id, t in change_management(results, categories).items()
        ],
    }
