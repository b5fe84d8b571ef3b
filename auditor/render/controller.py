"""What a rendered target says about how its GitOps controller applies it (input to the drift stage).

A :class:`ControllerView` is built by a target source from a :class:`~auditor.model.RenderedSet`: the desired
objects to compare (marker annotations taken out) and the controller's apply semantics — objects it does
not correct or only creates, live objects that belong to releases that were not rendered, which live
orphans the controller keeps on purpose, and which objects it heals by itself. The pipeline turns this
into drift options; nothing here knows the drift stage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from auditor.model import Manifest, ObjectRef
from auditor.render.markers import DriftMarker, Marks, UnrenderedRelease, split_markers


@dataclass(frozen=True)
class OrphanVerdict:
    """How the controller treats one live object that git no longer holds."""

    action: str
    """``keep``: the controller leaves it in place on purpose (pruning disabled): still reported, at low
    severity; ``accept``: the controller ignores it entirely (Argo CD ``IgnoreExtraneous``): suppressed."""
    reason: str


OrphanPolicy = Callable[[Manifest], OrphanVerdict | None]


def _no_orphan_policy(_live: Manifest) -> OrphanVerdict | None:
    return None


@dataclass(frozen=True)
class ControllerView:
    """A rendered target split into what to compare and how its controller treats it."""

    desired: tuple[Manifest, ...]
    markers: tuple[DriftMarker, ...] = ()
    releases: tuple[UnrenderedRelease, ...] = ()
    self_heal: Mapping[ObjectRef, str] = field(default_factory=dict)
    """Desired object → the unit (e.g. ``Application guestbook``) whose controller corrects drift at once:
    drift that persists there is a failure of the controller, not only a change in the cluster."""
    orphan_policy: OrphanPolicy = _no_orphan_policy
    label: str = ""
    """Prefix of the ignore-rule ids made from the markers (``flux``, ``argocd``)."""

    def excluded(self, live: Manifest) -> bool:
        """True when a live object belongs to a release that was not rendered (never an orphan)."""
        return any(r.owns(live) for r in self.releases)


def plain_view(marks: Marks, label: str = "") -> ControllerView:
    """A view with the markers' semantics and no orphan policy of its own."""
    return ControllerView(marks.desired, marks.markers, marks.releases, label=label)


def unmarked(objects: tuple[Manifest, ...]) -> ControllerView:
    """The view of a render no controller marked (plain kustomize, Helm or directory targets)."""
    marks = split_markers(objects)
    return plain_view(marks)
