"""Replay an evidence bundle: judge the recorded state again, offline, and compare with the recorded findings.

From the bundle alone (no repository, cluster or network): the config as read, the policy sources
and data, each repository's change-control inputs, and each audited target's rendered desired
state and live state. The same check function as a run (``pipeline_target.check_state``) runs on
them; the findings' judgements (target, rule, severity, object, path, message, masked values,
suppression) are serialised one per line, sorted, and compared byte for byte with the findings in
the bundle's ``reports/report.json``. Provenance and credit are not re-derived: they come from git
history, which the bundle does not carry.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from auditor.config import RunConfig, parse_config
from auditor.errors import UsageError
from auditor.model import (
    CoverageGap,
    FileProvenance,
    Finding,
    ListRecord,
    LiveState,
    Manifest,
    ObjectRef,
    Provenance,
    RenderedSet,
    Target,
    TargetResult,
)
from auditor.pipeline import _report_unmatched_rules
from auditor.pipeline_target import RepoWork, RunOptions, Shared, check_state
from auditor.policy.audit import load_policies
from auditor.policy.builtin import BUILTIN_NAMESPACE_PREFIX
from auditor.policy.loader import discover_modules
from auditor.policy.options import PolicyOptions, Waiver
from auditor.provenance.changeinputs import from_json
from auditor.render.registry import target_sources
from auditor.render.source import source_for
from auditor.report import bundle, json_report
from auditor.report._common import masked

REPLAY_KEY = b"replay: values were hashed by the run"
"""Non-empty, so drift treats the bundle's hashed Secret values as comparable (it never hashes them again)."""


@dataclass(frozen=True)
class ReplayResult:
    """What a replay found: the recorded and replayed judgement lines, and what was not replayed."""

    recorded: tuple[str, ...]
    replayed: tuple[str, ...]
    targets: tuple[str, ...]
    """Targets replayed (those the run audited)."""
    skipped: tuple[str, ...]
    """Targets the run did not audit (nothing to replay)."""

    @property
    def reproduced(self) -> bool:
        """True when the sorted lines are byte-identical."""
        return "\n".join(self.recorded).encode() == "\n".join(self.replayed).encode()

    @property
    def missing(self) -> list[str]:
        """Recorded findings the replay did not produce."""
        return sorted(set(self.recorded) - set(self.replayed))

    @property
    def extra(self) -> list[str]:
        """Findings the replay produced that the run did not record."""
        return sorted(set(self.replayed) - set(self.recorded))


def judgement(f: Finding) -> str:
    """One finding's judgement as one canonical JSON line (secrets masked, as every report shows them)."""
    expected, actual = masked(f)
    return json.dumps(
        [f.target, f.category.value, f.rule_id, f.severity.value, f.ref.as_dict() if f.ref else None, f.path,
         f.message, expected, actual, f.suppressed_by],
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )


def _member(zf: zipfile.ZipFile, name: str) -> Any:
    try:
        raw = bundle.read_member(zf, name, bundle.MAX_MEMBER_BYTES)
    except KeyError:
        raise UsageError(f"replay: the bundle has no {name} (written without evidence.include_state?)") from None
    return json.loads(raw)


def _manifest(d: Mapping[str, Any], ns_default: str = "") -> Manifest:
    r = d["ref"]
    files = tuple(FileProvenance(f["path"], role=f.get("role", "resource"), line=f.get("line"))
                  for f in d.get("files", ()))
    return Manifest(ObjectRef(r["group"], r["kind"], r["namespace"], r["name"]), str(d["api_version"]), d["body"],
                    Provenance(files=files))


def _gaps(items: Sequence[Mapping[str, Any]]) -> tuple[CoverageGap, ...]:
    return tuple(CoverageGap(g["group_kind"], g["namespace"], g["reason"], str(g.get("name", "")),
                             bool(g.get("informational", False))) for g in items)


def _policies(zf: zipfile.ZipFile, cfg: RunConfig, tmp: Path) -> PolicyOptions | None:
    names = set(zf.namelist())
    if "state/policies.json" not in names:
        return None
    meta = _member(zf, "state/policies.json")
    root = tmp / "policies"
    for rel in meta["modules"]:
        dest = root / rel
        if root.resolve() not in dest.resolve().parents:
            raise UsageError(f"replay: unsafe policy path {rel!r} in the bundle")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(bundle.read_member(zf, f"state/policies/{rel}", bundle.MAX_MEMBER_BYTES))
    data_dirs: tuple[str, ...] = ()
    if meta.get("data"):
        data_file = tmp / "policy-data" / "data.json"
        data_file.parent.mkdir(parents=True)
        data_file.write_text(json.dumps(meta["data"]))
        data_dirs = (str(data_file.parent),)
    namespaces = list(meta.get("namespaces") or ("main",))
    if meta.get("builtin"):
        # The run added the built-in pack's namespaces itself; here the pack is a plain directory.
        packages = {m.package for m in discover_modules([str(root)])}
        found = sorted(p for p in packages if p.startswith(BUILTIN_NAMESPACE_PREFIX))
        namespaces += [ns for ns in found if ns not in namespaces]
    return replace(
        cfg.policy,
        dirs=(str(root),),
        builtin=False,
        data=data_dirs,
        namespaces=tuple(namespaces),
        all_namespaces=bool(meta.get("all_namespaces")),
        engine="embedded",  # offline: the run's OPA server is not needed to judge Rego
        waivers=tuple(Waiver(**w) for w in meta.get("waivers", ())),
        workers=0,
    )


def replay(path: str | Path) -> ReplayResult:
    """Replay the bundle at ``path`` (verify it first: this reads it as evidence, it does not judge its integrity)."""
    try:
        zf = bundle.open_bundle(path)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise UsageError(f"replay {path}: not a readable evidence bundle: {exc}") from None
    with zf, tempfile.TemporaryDirectory(prefix="gitops-audit-replay-") as tmpdir:
        tmp = Path(tmpdir)
        run = _member(zf, "state/run.json")
        recorded_report = json_report.from_dict(_member(zf, "reports/report.json"))
        names = set(zf.namelist())
        if "state/config.yaml" in names:
            raw = bundle.read_member(zf, "state/config.yaml", bundle.MAX_MANIFEST_BYTES)
            cfg = parse_config(raw, source="state/config.yaml", base_dir=tmp)
        else:
            cfg = RunConfig(base_dir=tmp, repo=".")
        policy_opts = _policies(zf, cfg, tmp)
        cfg = replace(cfg, policy=policy_opts or replace(cfg.policy, builtin=False, dirs=()))
        opts = RunOptions(config=cfg, drift=cfg.drift, scope=str(run.get("scope", "")))
        policies = load_policies(policy_opts) if policy_opts is not None else None
        started = str(run.get("started", ""))
        today = date.fromisoformat(started[:10]) if len(started) >= 10 else None
        sources = target_sources(cfg.flux, cfg.argocd, cfg.paths)
        shared = Shared(opts, policies, REPLAY_KEY, lambda _t, _m: None, sources=sources, today=today)
        works: dict[tuple[str, str], RepoWork] = {}
        for name in sorted(n for n in names if n.startswith("state/change/") and n.endswith(".json")):
            doc = _member(zf, name)
            location, ref = doc["key"]
            works[(location, ref)] = RepoWork(location=location, ref=ref, change=from_json(doc["inputs"]))
        results: list[TargetResult] = []
        replayed_targets: list[str] = []
        try:
            for tname, info in sorted(run.get("targets", {}).items()):
                desired_doc = _member(zf, f"state/targets/{info['dir']}/desired.json")
                live_doc = _member(zf, f"state/targets/{info['dir']}/live.json")
                raw_target = dict(desired_doc["target"])
                raw_target["labels"] = tuple((str(k), str(v)) for k, v in raw_target.get("labels", ()))
                target = Target(**raw_target)
                rendered = RenderedSet(desired_doc["path"], desired_doc["commit"],
                                       tuple(_manifest(m) for m in desired_doc["objects"]),
                                       gaps=_gaps(desired_doc.get("gaps", ())))
                live = LiveState(
                    objects=tuple(_manifest(m) for m in live_doc["objects"]),
                    source=live_doc.get("source", ""),
                    identity=live_doc.get("identity", ""),
                    reads=tuple(ListRecord(**r) for r in live_doc.get("reads", ())),
                    gaps=_gaps(live_doc.get("gaps", ())),
                )
                work = works.get((info["repo"], info["ref"])) or RepoWork(location=info["repo"], ref=info["ref"])
                results.append(check_state(shared, target, rendered, live, work, source_for(sources, target)))
                replayed_targets.append(tname)
        finally:
            if policies is not None:
                policies.close()
        final = _report_unmatched_rules(tuple(results), shared.unmatched)
    audited = set(replayed_targets)
    recorded = sorted(judgement(f) for f in recorded_report.findings if f.target in audited)
    replayed = sorted(judgement(f) for r in final for f in r.findings)
    skipped = tuple(sorted(r.target.name for r in recorded_report.results if r.target.name not in audited))
    return ReplayResult(tuple(recorded), tuple(replayed), tuple(sorted(audited)), skipped)
