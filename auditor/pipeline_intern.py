"""Share equal immutable parts of a run's results, so what the run holds grows with the repository, not the fleet.

Every target of a fleet renders the same bases: the same object identities, the same origin files with the
same last commits and owners, and (for an object in sync) the same drift verdict and application row. Built
target by target these are equal but separate objects, and a run holds every target's result until its
reports are written: at 96 targets x 1,500 objects that was about 3.8 MB per target, most of it copies.
The interner keeps one instance of each equal value (hash-consing) as each result completes.

Only frozen values whose fields are all hashable and compared by value are shared (every field of these
classes takes part in ``==``), so a shared instance is indistinguishable from the copy it replaces. Findings
themselves are not shared; their object identity, provenance, credit, message and details (plain JSON values,
compared by ``repr``; read-only once a finding exists) are.

Wiring-level code (like the other ``pipeline_*`` modules); no stage imports it.
"""

from __future__ import annotations

from collections.abc import Callable
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

    def one(self, value: _T) -> _T:
        """The run's instance equal to ``value`` (``value`` itself the first time it is seen)."""
        return self._table.setdefault(value, value)  # type: ignore[return-value]

    def _canon(self, value: _T, parts: Callable[[_T], _T]) -> _T:
        """The run's instance equal to ``value``; the first time, ``parts(value)`` (its parts shared) is kept."""
        got = self._table.get(value)
        return got if got is not None else self.one(parts(value))  # type: ignore[return-value]

    def _file(self, f: FileProvenance) -> FileProvenance:
        # The commit is shared too: a file that differs in its line still names the same commit.
        return self._canon(f, lambda f: replace(f, commit=self.one(f.commit)) if f.commit is not None else f)

    def _files(self, files: tuple[FileProvenance, ...]) -> tuple[FileProvenance, ...]:
        return self._canon(files, lambda files: tuple(self._file(f) for f in files))

    def _provenance(self, prov: Provenance) -> Provenance:
        return self._canon(prov, lambda p: Provenance(files=self._files(p.files), live=self.one(p.live)))

    def credit(self, credit: Credit) -> Credit:
        """The run's instance of ``credit``."""
        return self._canon(credit, lambda c: replace(c, git=self._file(c.git) if c.git is not None else None))

    def _ref(self, ref: ObjectRef | None) -> ObjectRef | None:
        return self.one(ref) if ref is not None else None

    def _drift(self, d: ObjectDrift) -> ObjectDrift:
        if d.changes:  # changes hold arbitrary values (lists, dicts): kept as they are, identity shared
            return replace(d, ref=self.one(d.ref))
        return self._canon(d, lambda d: replace(d, ref=self.one(d.ref)))

    def _app(self, a: AppObject) -> AppObject:
        return self._canon(a, lambda a: replace(a, ref=self.one(a.ref)))

    def _item(self, i: InventoryItem) -> InventoryItem:
        return self._canon(i, lambda i: replace(i, ref=self.one(i.ref), files=self._files(i.files)))

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

        Shared: object identities, provenance, credits, drift verdicts, application rows, inventory,
        images, and each finding's message, rule id, owners and details.
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
