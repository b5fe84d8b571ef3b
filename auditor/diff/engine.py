"""The drift engine: desired vs live for one target → per-object verdicts and DRIFT findings.

Steps per object (fixed order, DESIGN §4): identity → normalize (Secrets hashed) → desired-subset
compare with merge keys → managedFields attribution → fields added out-of-band → HPA and ignore
rules mark suppressions → findings. Then orphans. Nothing here reads the network or writes files.

Rule ids: ``drift.missing``, ``drift.modified``, ``drift.added``, ``drift.stale-field``,
``drift.orphaned.stale``, ``drift.orphaned.unmanaged``, and the informational ``drift.rollout-restart``
(README.md documents them with the severity table).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from auditor.diff import apply as _apply
from auditor.diff import normalize
from auditor.diff import server as _server
from auditor.diff.compare import Comparer, RawChange, pointer_of
from auditor.diff.defaults import is_server_default
from auditor.diff.fieldsv1 import ManagerEntry, Ownership, decode_managed_fields, manager_names, owned_values
from auditor.diff.ignore import ActiveRule, Ignorer, suppressing_rule
from auditor.diff.options import IGNORE_ANNOTATION, DriftOptions
from auditor.diff.orphans import find_orphans, gitops_pairs
from auditor.diff.schema import Schemas, crds_in
from auditor.diff.severity import field_severity, object_severity
from auditor.diff.text import attribution_text, format_path, format_value
from auditor.model import (
    Category,
    DriftKind,
    FieldChange,
    Finding,
    LiveState,
    Manifest,
    ObjectDrift,
    ObjectRef,
    Provenance,
    Severity,
    Target,
    split_api_version,
)
from auditor.util import kinds as _kinds
from auditor.util import secrets as _secrets

Key = tuple[str, str, str, str]
"""Identity as a plain tuple (group, kind, namespace, name): the engine's dict key."""

RULE_MISSING = "drift.missing"
RULE_MODIFIED = "drift.modified"
RULE_ADDED = "drift.added"
RULE_ORPHANED_STALE = "drift.orphaned.stale"
RULE_ORPHANED_UNMANAGED = "drift.orphaned.unmanaged"
RULE_STALE_FIELD = "drift.stale-field"
RULE_ROLLOUT_RESTART = "drift.rollout-restart"
INFO_RULES = frozenset({RULE_ROLLOUT_RESTART})
"""Rules that report events, not drift: their findings never make an object out of sync."""

SECRET_CHANGED = f"{_secrets.MASK} (changed)"


@dataclass(frozen=True)
class DriftOutcome:
    """Result of :func:`diff_target`."""

    drifts: tuple[ObjectDrift, ...]
    """One per identity (desired and orphaned), IN_SYNC included, sorted by identity."""
    findings: tuple[Finding, ...]
    """Category DRIFT, sorted; suppressed ones carry ``suppressed_by``."""
    unmatched_rules: tuple[str, ...]
    """Config ignore rules that matched nothing (with a reason when they could not be evaluated)."""


class _Item(NamedTuple):
    """One difference on its way to a FieldChange and a Finding."""

    change: RawChange
    kind: DriftKind
    owner: ManagerEntry | None
    rule: str
    how: str = ""
    """For stale fields: the mechanism that will remove it (``server-side apply by …``)."""


class _Engine:
    """One run of :func:`diff_target`: indexes, schemas and rule state for a single target."""

    def __init__(self, target: Target, desired: Sequence[Manifest], live: LiveState, options: DriftOptions):
        self.target = target
        self.options = options
        self.key = options.secret_hash_key or _secrets.new_run_key()
        bodies = [m.body for m in desired] + [m.body for m in live.objects]
        self.schemas = Schemas(crds_in(bodies))
        self.comparer = Comparer(self.schemas)
        self.applier = frozenset(options.applier_managers)
        self.controllers = frozenset(options.known_controllers)
        self.rank = {m: 0 for m in self.applier} | {m: 1 for m in self.controllers}
        self.webhook_managers = frozenset(options.mutation_webhook_managers)
        self.gitops_labels = frozenset(options.gitops_labels)
        self.gitops_annotations = frozenset(options.gitops_annotations)
        self.ignorer = Ignorer(options.ignore)
        self.desired = self._index(desired)
        self.live = self._index(live.objects)
        self.gaps = live.gaps
        self.hpa = self._hpa_targets()
        self.drifts: list[ObjectDrift] = []
        self.findings: list[Finding] = []

    # identity -----------------------------------------------------------------------------
    def _identity(self, ref: ObjectRef) -> ObjectRef:
        namespaced = _kinds.is_namespaced(ref.group, ref.kind, self.schemas.cluster_scoped)
        if ref.namespace:
            # The API server drops metadata.namespace of a cluster-scoped object (ClusterRole, an
            # instance of a `scope: Cluster` CRD) written with one: identify it as the server does.
            return ref if namespaced else dataclasses.replace(ref, namespace="")
        if not namespaced:
            return ref
        return dataclasses.replace(ref, namespace=self.target.namespace)

    def _index(self, objects: Sequence[Manifest]) -> dict[Key, Manifest]:
        """Manifests by identity tuple (cheaper to hash than ObjectRef); each ``ref`` is the identity."""
        out: dict[Key, Manifest] = {}
        for m in objects:
            ref = self._identity(m.ref)
            out[_ref_key(ref)] = m if ref is m.ref else dataclasses.replace(m, ref=ref)
        return out

    def _covered_by_gap(self, ref: ObjectRef) -> bool:
        """The cluster stage could not read this kind here: "missing" would be a guess."""
        gk = ref.group_kind
        return any(g.group_kind in (gk, ref.kind) and (not g.namespace or g.namespace == ref.namespace)
                   for g in self.gaps)

    def _hpa_targets(self) -> dict[Key, str]:
        """Workloads an HPA scales (from desired or live HPAs) → ``HorizontalPodAutoscaler ns/name``."""
        out: dict[Key, str] = {}
        for source in (self.live, self.desired):
            for m in source.values():
                ref = m.ref
                if ref.kind != "HorizontalPodAutoscaler" or ref.group != "autoscaling":
                    continue
                tgt = (m.body.get("spec") or {}).get("scaleTargetRef") or {}
                kind, name = tgt.get("kind"), tgt.get("name")
                if not kind or not name:
                    continue
                group, _ = split_api_version(str(tgt.get("apiVersion", "")))
                out[(group, kind, ref.namespace, name)] = f"HorizontalPodAutoscaler {ref.namespace}/{ref.name}"
        return out

    # manager classes ------------------------------------------------------------------------
    def _out_of_band(self, manager: str, subresource: str = "") -> bool:
        return subresource != "status" and manager not in self.applier and manager not in self.controllers

    # main -----------------------------------------------------------------------------------
    def run(self) -> DriftOutcome:
        matched: list[Key] = []
        # Each matched object's GitOps markers, read while _pair has its metadata at hand: a second
        # pass over every live object for find_orphans costs more than the reading itself.
        orphans, labels = self.options.orphans, self.options.gitops_labels
        pairs: set[tuple[str, str]] = set()
        for key in sorted(self.desired):
            dm = self.desired[key]
            lm = self.live.get(key)
            if lm is None:
                hook = _server.transient_hook(dm.body)
                if hook:
                    self.drifts.append(ObjectDrift(dm.ref, DriftKind.IN_SYNC, note=f"{hook}: absent live is normal"))
                elif not self._covered_by_gap(dm.ref):
                    self._missing(dm.ref, dm)
                continue
            matched.append(key)
            self._pair(dm.ref, dm, lm)
            if orphans:
                pairs |= gitops_pairs(lm, labels)
        if orphans:
            for o in find_orphans(self.desired.keys(), self.live, matched, labels,
                                  self.options.extra_system_objects, pairs):
                self._orphan(o.ref, o.manifest, o.stale, o.labels)
        self.drifts.sort(key=lambda d: _ref_key(d.ref))
        self.findings.sort(key=Finding.sort_key)
        return DriftOutcome(tuple(self.drifts), tuple(self.findings), self._unmatched())

    def _unmatched(self) -> tuple[str, ...]:
        out = []
        for label in self.ignorer.unmatched():
            err = self.ignorer.errors.get(label)
            out.append(f"{label} ({err})" if err else label)
        return tuple(out)

    def _whole_object_rule(self, ref: ObjectRef, desired: Mapping[str, Any] | None,
                           live: Mapping[str, Any] | None) -> str:
        for r in self.ignorer.for_object(ref, desired, live):
            if r.whole_object:
                return r.label
        return ""

    def _missing(self, ref: ObjectRef, dm: Manifest) -> None:
        suppressed = self._whole_object_rule(ref, dm.body, None)
        note = f"suppressed by {suppressed}" if suppressed else ""
        self.drifts.append(ObjectDrift(ref, DriftKind.MISSING, note=note))
        self.findings.append(Finding(
            target=self.target.name, category=Category.DRIFT, rule_id=RULE_MISSING,
            severity=object_severity(ref, DriftKind.MISSING),
            message=f"{ref.subject} is in git but missing from the cluster",
            ref=ref, provenance=dm.provenance, suppressed_by=suppressed,
            details={"drift_kind": DriftKind.MISSING.value},
        ))

    def _orphan(self, ref: ObjectRef, lm: Manifest, stale: bool, pairs: tuple[tuple[str, str], ...]) -> None:
        entries = [e for e in decode_managed_fields(lm.body) if e.subresource != "status"]
        entries.sort(key=lambda e: e.time)
        live_prov = tuple(e.provenance for e in entries)
        if stale:
            labels = ", ".join(f"{k}={v}" for k, v in pairs)
            note = f"stale: carries this target's GitOps labels ({labels}); removed from git, not pruned"
        else:
            who = f" by {attribution_text(live_prov[0])}" if live_prov else ""
            note = f"unmanaged: created out-of-band{who}"
        suppressed = self._whole_object_rule(ref, None, lm.body)
        if not suppressed and self.options.ignore_extraneous and _server.ignore_extraneous(lm.body):
            suppressed = f"{_server.ARGO_COMPARE_OPTIONS}: IgnoreExtraneous"
        self.drifts.append(ObjectDrift(ref, DriftKind.ORPHANED, note=note))
        self.findings.append(Finding(
            target=self.target.name, category=Category.DRIFT,
            rule_id=RULE_ORPHANED_STALE if stale else RULE_ORPHANED_UNMANAGED,
            severity=object_severity(ref, DriftKind.ORPHANED),
            message=f"{ref.subject} exists in the cluster but not in git ({note})",
            ref=ref, provenance=Provenance(live=live_prov), suppressed_by=suppressed,
            details={"drift_kind": DriftKind.ORPHANED.value, "orphan": "stale" if stale else "unmanaged"},
        ))

    # one pair -------------------------------------------------------------------------------
    def _prepare(
        self, ref: ObjectRef, dm: Manifest, lm: Manifest
    ) -> tuple[Mapping[str, Any], Mapping[str, Any], str]:
        """Normalized (desired, live) bodies and a note on what could not be compared."""
        dbody: Mapping[str, Any] = dm.body
        lbody: Mapping[str, Any] = lm.body
        note = ""
        if ref.group == "" and ref.kind == "Secret":
            dbody = normalize.normalize_secret(dbody, self.key)
            if "data" not in lbody and "type" not in lbody:
                # Metadata-only read (PartialObjectMetadata): values were not read at all.
                dbody = {k: v for k, v in dbody.items() if k not in ("data", "type", "immutable")}
                note = "Secret read as metadata only: values not compared"
            elif normalize.secret_values_hashed(lbody) and not self.options.secret_hash_key:
                # Hashed with a run key we were not given: compare which keys exist, not values.
                lbody = normalize.normalize_secret(lbody, self.key)
                lbody = dict(lbody) | {"data": {k: _secrets.MASK for k in lbody.get("data") or {}}}
                dbody = dict(dbody) | {"data": {k: _secrets.MASK for k in dbody.get("data") or {}}}
                note = "live Secret values hashed with another key: only keys compared"
            else:
                lbody = normalize.normalize_secret(lbody, self.key)
        if self.options.ignore_aggregated_roles and _server.is_aggregated_role(ref.group, ref.kind, dbody):
            dbody, lbody = _server.without_rules(dbody), _server.without_rules(lbody)
            note = "aggregated ClusterRole: rules are written by the clusterrole-aggregation-controller"
        if dm.api_version != lm.api_version and dm.api_version and lm.api_version:
            # Read at another version than git wrote (e.g. autoscaling/v1 vs v2): the shapes differ
            # and the conversion is the server's; compare what both versions share.
            dbody = {"metadata": dbody.get("metadata") or {}}
            note = f"live read as {lm.api_version}, git has {dm.api_version}: only metadata compared"
        return dbody, lbody, note

    def _pair(self, ref: ObjectRef, dm: Manifest, lm: Manifest) -> None:
        dbody, lbody, note = self._prepare(ref, dm, lm)
        res = self.comparer.compare(dbody, lbody, ref.group, ref.kind)
        oob = False
        applier, controllers = self.applier, self.controllers
        ssa: list[Mapping[str, Any]] = []  # the appliers' server-side apply entries
        for entry in (lbody.get("metadata") or {}).get("managedFields") or ():
            if type(entry) is dict:
                m = entry.get("manager", "")
                if m in applier:
                    if entry.get("operation") == "Apply" and entry.get("subresource", "") != "status" \
                            and type(entry.get("fieldsV1")) is dict:
                        ssa.append(entry)
                elif m not in controllers and entry.get("subresource") != "status":
                    oob = True
        stale = self._stale_fields(ref, dbody, lbody, ssa)
        rules: list[ActiveRule] = []
        if self.ignorer.rules or _has_ignore_annotation(dm.body):
            rules = self.ignorer.for_object(ref, dm.body, lm.body, [m for m, _ in manager_names(lbody)])
        # Without managedFields (a snapshot taken with kubectl get, an API server that strips them) nobody
        # can be shown to have replaced an atomic list: what it holds beyond git and the server's
        # defaults is reported, unattributed, rather than assumed to be admission's.
        blind = [] if oob or not res.atomic_extra or (lbody.get("metadata") or {}).get("managedFields") \
            else self._written_extras(ref, res.atomic_extra)
        if not res.changes and not oob and not stale and not blind:
            self.drifts.append(ObjectDrift(ref, DriftKind.IN_SYNC, note=note))
            return
        # Decode only what is needed: every entry when a field changed (to attribute it), else
        # only the out-of-band ones (the common "nothing changed" case of an adopted object).
        # Atomic lists holding only git's values and server defaults need no owner: decoding waits
        # for one holding more (most of those an out-of-band writer touched hold only defaults).
        extras = self._written_extras(ref, res.atomic_extra) if oob and res.atomic_extra else []
        items: list[_Item] = []
        if res.changes or stale or extras or blind:
            own = Ownership(decode_managed_fields(lbody), self.rank)
            for rc in res.changes:
                # A field absent live was written by nobody: no manager is credited.
                owner = own.owner_below(rc.path) if rc.actual is not None else None
                items.append(_Item(rc, DriftKind.MODIFIED, owner, RULE_MODIFIED))
            for path, value, entry, how in stale:
                items.append(_Item(RawChange(path, None, value), DriftKind.MODIFIED, entry or own.owner(path),
                                   RULE_STALE_FIELD, how))
            items.extend(self._atomic_extras(own, extras))
            items.extend(_Item(rc, DriftKind.MODIFIED, None, RULE_MODIFIED) for rc in blind)
        if oob:
            stale_paths = {p for p, _, _, _ in stale}
            for rc, kind, owner in self._added(ref, dbody, lbody):
                if stale_paths and any(rc.path[:n] in stale_paths for n in range(1, len(rc.path) + 1)):
                    continue  # the next apply removes it: reported once, as a stale field
                rule = RULE_ROLLOUT_RESTART if _server.is_rollout_restart(rc.path) else RULE_ADDED
                items.append(_Item(rc, kind, owner, rule))
        changes: list[FieldChange] = []
        events: list[str] = []
        hpa = self.hpa.get(_ref_key(ref)) if self.hpa else None
        for it in items:
            rc, kind, owner = it.change, it.kind, it.owner
            pointer = pointer_of(dbody, lbody, rc.path, self.schemas, ref.group, ref.kind)
            live_prov = owner.provenance if owner else None
            suppressed = ""
            why = ""
            if hpa and rc.path == ("spec", "replicas"):
                suppressed, why = f"hpa:{hpa.split(' ', 1)[1]}", f"HPA-managed ({hpa})"
            if not suppressed and rules:
                suppressed = suppressing_rule(rules, pointer, rc.expected, rc.actual,
                                              owner.manager if owner else "")
            if not suppressed and owner is not None and owner.manager in self.webhook_managers:
                suppressed = f"mutation-webhook: {owner.manager}"
            expected, actual = self._mask(ref, rc, kind)
            fc = FieldChange(path=format_path(rc.path), expected=expected, actual=actual, kind=kind,
                             live=live_prov, suppressed_by=suppressed)
            finding = self._field_finding(ref, dm, fc, rc, pointer, why, it)
            self.findings.append(finding)
            if it.rule in INFO_RULES:
                events.append(finding.message)
                continue  # an event (rollout restart), not a difference: the object stays as it is
            changes.append(fc)
        counted = [c for c in changes if not c.suppressed_by]
        if not counted:
            verdict = DriftKind.IN_SYNC
        elif any(c.kind == DriftKind.MODIFIED for c in counted):
            verdict = DriftKind.MODIFIED
        else:
            verdict = DriftKind.ADDED
        if len(counted) < len(changes):
            n = len(changes) - len(counted)
            note = "; ".join(x for x in (note, f"{n} suppressed difference{'s' if n > 1 else ''}") if x)
        if events:
            note = "; ".join(x for x in (note, *events) if x)
        self.drifts.append(ObjectDrift(ref, verdict, tuple(changes), note))

    def _stale_fields(
        self, ref: ObjectRef, dbody: Mapping[str, Any], lbody: Mapping[str, Any], entries: list[Mapping[str, Any]]
    ) -> list[tuple[tuple[str, ...], Any, ManagerEntry | None, str]]:
        """Fields git no longer sets that the next apply removes (server-side or client-side apply).

        ``entries``: the appliers' server-side apply entries (:func:`auditor.diff.apply.ssa_entries`).
        """
        if entries:
            return [(p, v, e, f"{_apply.MECHANISM_SSA} by {e.manager}")
                    for p, v, e in _apply.ssa_stale_fields(ref.kind, dbody, lbody, entries, self._ignored_path)]
        if ref.kind == "Secret" and ref.group == "":
            return []  # values are hashed and last-applied (clear text) was dropped: nothing to read
        if _apply.LAST_APPLIED not in ((lbody.get("metadata") or {}).get("annotations") or {}):
            return []
        previous = _apply.last_applied(lbody)
        if previous is None:
            return []
        return [(p, v, None, _apply.MECHANISM_CSA) for p, v in _apply.last_applied_stale_fields(
            previous, dbody, lbody, self.schemas, ref.group, ref.kind, self._ignored_path)]

    def _atomic_extras(self, own: Ownership, extras: Sequence[RawChange]) -> list[_Item]:
        """The atomic lists of :meth:`_written_extras` an out-of-band manager rewrote since the last apply."""
        out: list[_Item] = []
        for rc in extras:
            e = self._atomic_edit(own, rc.path)
            if e is not None:
                out.append(_Item(rc, DriftKind.MODIFIED, e, RULE_MODIFIED))
        return out

    @staticmethod
    def _written_extras(ref: ObjectRef, atomic: Sequence[RawChange]) -> list[RawChange]:
        """The outermost atomic lists holding more than git sets besides server defaults.

        The list is the unit that was written: it is reported whole (renderers explain the entries
        that differ), and only when something besides server defaults was added.
        """
        paths = {rc.path for rc in atomic}
        return [rc for rc in atomic
                if not any(rc.path[:n] in paths for n in range(1, len(rc.path)))  # nested: the outer list counts
                and next(_server.atomic_extras(ref.kind, rc.path, rc.expected, rc.actual), None) is not None]

    def _atomic_edit(self, own: Ownership, path: tuple[str, ...]) -> ManagerEntry | None:
        """The out-of-band manager that last replaced this atomic list, if nobody re-applied it since.

        An atomic list is owned whole; when an out-of-band manager owns it *and* wrote it after the
        applier last did, live extras inside it were put there by hand (not defaulted), so the
        list is compared strictly. After a later re-apply, ownership is shared and the value is
        the applier's again.
        """
        owners = own.owners_exact(path)
        oob = [e for e in owners if self._out_of_band(e.manager, e.subresource)]
        if not oob:
            return None
        latest = max(oob, key=lambda e: e.time)
        applied = [e.time for e in owners if e.manager in self.applier]
        if applied and max(applied) >= latest.time:
            return None
        return latest

    def _added(
        self, ref: ObjectRef, dbody: Mapping[str, Any], lbody: Mapping[str, Any]
    ) -> list[tuple[RawChange, DriftKind, ManagerEntry | None]]:
        """Live fields git does not set, owned by an out-of-band manager (collapsed to the top)."""
        candidates: dict[tuple[str, ...], tuple[ManagerEntry, Any]] = {}
        meta = lbody.get("metadata") or {}
        for entry in meta.get("managedFields") or ():
            if type(entry) is not dict:
                continue
            manager = str(entry.get("manager", ""))
            sub = str(entry.get("subresource", "") or "")
            fields = entry.get("fieldsV1")
            if not self._out_of_band(manager, sub) or not isinstance(fields, dict):
                continue
            who = ManagerEntry(manager, str(entry.get("operation", "")), str(entry.get("time", "") or ""), sub,
                               frozenset())
            for p, value, parent, _ in owned_values(fields, lbody, dbody, only_outside_git=True):
                if self._ignored_path(p):
                    continue
                if is_server_default(ref.kind, p, value, parent):
                    continue  # the API's own default, recorded for the object's creator
                if _server.filled_after_create(ref.kind, p, value, parent):
                    continue  # the creator recorded `{}`; admission (LimitRanger) filled it later
                cur = candidates.get(p)
                if cur is None or who.time > cur[0].time:
                    candidates[p] = (who, value)
        out: list[tuple[RawChange, DriftKind, ManagerEntry | None]] = []
        for p in sorted(candidates, key=lambda x: (len(x), x)):
            if any(p[:n] in candidates for n in range(1, len(p))):
                continue  # an ancestor is reported whole
            who, value = candidates[p]
            out.append((RawChange(p, None, value), DriftKind.ADDED, who))
        return out

    def _ignored_path(self, p: tuple[str, ...]) -> bool:
        """Paths never reported as added: server/applier metadata and status."""
        head = p[0]
        if head in ("status", "apiVersion", "kind"):
            return True
        if head != "metadata":
            return False
        if len(p) < 2 or p[1] not in ("labels", "annotations", "finalizers"):
            return True
        if len(p) < 3:
            return False
        if p[1] == "labels":
            return p[2] in self.gitops_labels
        if p[1] == "annotations":
            return normalize.is_ignored_annotation(p[2], self.gitops_annotations)
        return False

    def _mask(self, ref: ObjectRef, rc: RawChange, kind: DriftKind) -> tuple[Any, Any]:
        """Secret values never leave the engine: ``***`` / ``*** (changed)``."""
        if not (ref.group == "" and ref.kind == "Secret" and rc.path and rc.path[0] in ("data", "stringData")):
            return rc.expected, rc.actual
        expected = _secrets.MASK if rc.expected is not None else None
        if rc.actual is None:
            actual = None
        elif kind == DriftKind.ADDED or rc.expected is None:
            actual = _secrets.MASK
        else:
            actual = SECRET_CHANGED
        return expected, actual

    def _field_finding(
        self, ref: ObjectRef, dm: Manifest, fc: FieldChange, rc: RawChange, pointer: str, why: str, it: _Item
    ) -> Finding:
        attribution = attribution_text(fc.live)
        path = fc.path
        rule = it.rule
        severity = field_severity(ref, rc.path)
        details: dict[str, Any] = {"drift_kind": fc.kind.value, "pointer": pointer, "segments": list(rc.path)}
        if rule == RULE_STALE_FIELD:
            msg = f"{path}: {format_value(fc.actual)} live, no longer in git → removed by the next {it.how}"
            details["next_apply"] = it.how
        elif rule == RULE_ROLLOUT_RESTART:
            msg = f"{path}: kubectl rollout restart at {format_value(fc.actual)} (an event, not configuration drift)"
            severity = Severity.INFO
        elif fc.kind == DriftKind.ADDED:
            msg = f"{path}: added out-of-band → {format_value(fc.actual)}"
        else:
            msg = f"{path}: {format_value(fc.expected)} → {format_value(fc.actual)}"
        if attribution:
            msg += f" ({attribution})"
        if why:
            msg += f" [{why}]"
        if fc.live is not None:
            details["attribution"] = {"manager": fc.live.manager, "operation": fc.live.operation,
                                      "time": fc.live.time}
        if why:
            details["note"] = why
        return Finding(
            target=self.target.name, category=Category.DRIFT, rule_id=rule,
            severity=severity, message=msg, ref=ref, path=path,
            expected=fc.expected, actual=fc.actual,
            provenance=Provenance(files=dm.provenance.files, live=(fc.live,) if fc.live else ()),
            suppressed_by=fc.suppressed_by, details=details,
        )


def _ref_key(ref: ObjectRef) -> tuple[str, str, str, str]:
    """Sort key equal to ObjectRef's field order, without dataclass comparison overhead."""
    return (ref.group, ref.kind, ref.namespace, ref.name)


def _has_ignore_annotation(body: Mapping[str, Any]) -> bool:
    ann = (body.get("metadata") or {}).get("annotations") or {}
    return IGNORE_ANNOTATION in ann


def diff_target(target: Target, desired: Sequence[Manifest], live: LiveState, options: DriftOptions) -> DriftOutcome:
    """Drift of one target: every desired object against its live twin, plus orphans (DESIGN §4)."""
    return _Engine(target, desired, live, options).run()

