"""Share equal immutable parts of a run's results, so what the run holds grows with the repository, not the fleet.

Every target of a fleet renders the same bases: the same object identities, the same origin files with the
same last commits and owners, and (for an object in sync) the same drift verdict and application row. Built
target by target these are equal but separate objects, and a run holds every target's result until its
reports are written: at 96 targets x 1,500 objects that was about 3.8 MB per target, most of it copies.
The interner keeps one instance of each equal value (hash-consing) as each result completes.

Only frozen values whose fields are all hashable and compared by value are shared (every field of these
classes takes part in ``==``), so a shared instance is indistinguishable from the copy it replaces. Findings
are not shared (each carries its own ``details``); their object identity, provenance and credit are.

Wiring-level code (like the other ``pipeline_*`` modules); no stage imports it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from auditor.model import (
    AppObject,
    Credit,
    FileProvenance,
    Finding,
    InventoryItem,
    ObjectDrift,
    ObjectRef,
    Provenance,
    TargetResult,
)

_T = TypeVar("_T")
_TEXT_DEPTH = 6
"""Nesting of a finding's details searched for strings (deeper values are kept as they are)."""


_PLAIN = (str, int, float, bool, type(None))


def _plain(value: Any, depth: int) -> bool:
    """True when ``value`` holds only JSON-like values (string keys), at most :data:`_TEXT_DEPTH` deep."""
    kind = type(value)
    if kind in _PLAIN:
        return True
    if depth >= _TEXT_DEPTH:
        return False
    if kind is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(_plain(v, depth + 1) for v in value)
    return False


class Interner:
    """One run's table of shared values.

    It grows with the distinct values of the run (the repository's objects and files) and is dropped
    with the run.
    """

    def __init__(self) -> None:
        self._table: dict[object, object] = {}

    def __len__(self) -> int:
        return len(self._table)

    def one(self, value: _T) -> _T:
        """The run's instance equal to ``value`` (``value`` itself the first time it is seen)."""
        return self._table.setdefault(value, value)  # type: ignore[return-value]

    def _shared(self, value: _T) -> _T | None:
        got = self._table.get(value)
        return got  # type: ignore[return-value]

    def _file(self, f: FileProvenance) -> FileProvenance:
        got = self._shared(f)
        if got is not None:
            return got
        # The commit is shared too: a file that differs in its line still names the same commit.
        return self.one(replace(f, commit=self.one(f.commit)) if f.commit is not None else f)

    def _files(self, files: tuple[FileProvenance, ...]) -> tuple[FileProvenance, ...]:
        got = self._shared(files)
        if got is not None:
            return got
        return self.one(tuple(self._file(f) for f in files))

    def _provenance(self, prov: Provenance) -> Provenance:
        got = self._shared(prov)
        if got is not None:
            return got
        return self.one(Provenance(files=self._files(prov.files), live=self.one(prov.live)))

    def credit(self, credit: Credit) -> Credit:
        """The run's instance of ``credit``."""
        got = self._shared(credit)
        if got is not None:
            return got
        git = self._file(credit.git) if credit.git is not None else None
        return self.one(replace(credit, git=git))

    def _ref(self, ref: ObjectRef | None) -> ObjectRef | None:
        return self.one(ref) if ref is not None else None

    def _drift(self, d: ObjectDrift) -> ObjectDrift:
        if d.changes:  # changes hold arbitrary values (lists, dicts): kept as they are, identity shared
            return replace(d, ref=self.one(d.ref))
        got = self._shared(d)
        return got if got is not None else self.one(replace(d, ref=self.one(d.ref)))

    def _app(self, a: AppObject) -> AppObject:
        got = self._shared(a)
        return got if got is not None else self.one(replace(a, ref=self.one(a.ref)))

    def _item(self, i: InventoryItem) -> InventoryItem:
        got = self._shared(i)
        return got if got is not None else self.one(replace(i, ref=self.one(i.ref), files=self._files(i.files)))

    def _text(self, value: Any, depth: int = 0) -> Any:
        """``value`` with its strings (and those of its dicts and lists) the run's instances; same types."""
        kind = type(value)
        if kind is str:
            return self.one(value)
        if depth >= _TEXT_DEPTH:
            return value
        if kind is dict:
            return {self._text(k, _TEXT_DEPTH): self._text(v, depth + 1) for k, v in value.items()}
        if kind is list:
            return [self._text(v, depth + 1) for v in value]
        return value

    def _details(self, details: Any) -> Any:
        """The run's instance of equal details (plain JSON values only), its strings shared too.

        Most findings' details repeat: a rule's title, remediation, controls and metadata on every
        target (1,157 distinct among 60,879 findings on the 96-target bench). Details are read-only once
        a finding exists (``Finding.details``), so equal ones can be one dict.
        """
        if type(details) is not dict or not _plain(details, 0):
            return details
        # repr is exact on plain values: it tells 1, 1.0 and True apart, and keeps key order.
        key = ("details", repr(details))
        got = self._table.get(key)
        return got if got is not None else self._table.setdefault(key, self._text(details))

    def _finding(self, f: Finding) -> Finding:
        # Policy findings repeat their rule's title, remediation and metadata, each a copy from its worker.
        details = self._details(f.details)
        return replace(f, rule_id=self.one(f.rule_id), message=self.one(f.message), ref=self._ref(f.ref),
                       provenance=self._provenance(f.provenance), credit=self.credit(f.credit),
                       owners=self.one(f.owners), details=details)

    def apps(self, apps: tuple[AppObject, ...]) -> tuple[AppObject, ...]:
        """``apps`` with each row the run's shared instance."""
        return tuple(self._app(a) for a in apps)

    def result(self, r: TargetResult) -> TargetResult:
        """``r``, equal, with its parts shared with the rest of the run.

        Shared: object identities, provenance, drift verdicts, application rows and inventory.
        """
        if not r.audited:
            return r
        return replace(
            r,
            findings=tuple(self._finding(f) for f in r.findings),
            drift=tuple(self._drift(d) for d in r.drift),
            apps=self.apps(r.apps),
            inventory=tuple(self._item(i) for i in r.inventory),
            images=tuple(self.one(row) for row in r.images),
        )
