"""Semantic-version constraints as Flux (source-controller) and Argo CD read them (Masterminds/semver v3).

Used to pick the tag a ``GitRepository`` ``spec.ref.semver`` (or an Argo CD ``targetRevision`` range)
resolves to: the highest tag that parses as a version and satisfies the constraint. Supported syntax:
comparisons ``= != > < >= <=``, ``~`` (patch-level), ``^`` (compatible), wildcards ``1.x``/``1.*``/``*``,
hyphen ranges ``1.2 - 1.4``, ``,`` or space for AND, ``||`` for OR. Versions may carry a ``v`` prefix and
omit minor/patch (``v1.2`` is 1.2.0). As in Masterminds, a pre-release version only satisfies a
constraint that itself names a pre-release.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_VERSION_RE = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_TERM_RE = re.compile(r"^(=|!=|>=|<=|>|<|~>|~|\^)?\s*(v?[0-9xX*]+(?:\.[0-9xX*]+)?(?:\.[0-9xX*]+)?"
                      r"(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$")


class SemverError(ValueError):
    """A constraint that does not parse."""


@dataclass(frozen=True, order=True)
class Version:
    """A parsed version; pre-releases sort before their release."""

    major: int
    minor: int
    patch: int
    release: int
    """1 for a release, 0 for a pre-release (orders pre-releases first)."""
    pre: tuple[tuple[int, int | str], ...] = ()

    @property
    def prerelease(self) -> bool:
        """True for ``1.2.3-rc.1``."""
        return self.release == 0


def parse_version(text: str) -> Version | None:
    """``v1.2.3-rc.1`` → Version; None when it is not a version."""
    m = _VERSION_RE.match(text.strip())
    if m is None:
        return None
    pre_text = m.group(4) or ""
    pre = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre_text.split(".")) if pre_text else ()
    return Version(int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), 0 if pre_text else 1, pre)


def _parts(text: str) -> tuple[list[int | None], str]:
    core, _, pre = text.lstrip("v").partition("-")
    core = core.partition("+")[0]
    parts: list[int | None] = []
    for p in core.split("."):
        parts.append(None if p in ("x", "X", "*") else int(p))
    while len(parts) < 3:
        parts.append(None)
    return parts, pre.partition("+")[0]


def _v(parts: list[int | None], pre: str = "") -> Version:
    v = parse_version(".".join(str(p or 0) for p in parts) + (f"-{pre}" if pre else ""))
    assert v is not None
    return v


Check = tuple[str, Version]


def _term(op: str, text: str) -> list[Check]:
    parts, pre = _parts(text)
    major, minor, patch = parts
    wild = patch is None
    if op in ("", "="):
        if major is None:
            return []
        if not wild:
            return [("=", _v(parts, pre))]
        lo = _v(parts)
        hi = _v([major + 1, 0, 0]) if minor is None else _v([major, minor + 1, 0])
        return [(">=", lo), ("<", hi)]
    if op == "!=":
        return [] if major is None else [("!=", _v(parts, pre))]
    if op in ("~", "~>"):
        lo = _v(parts, pre)
        hi = _v([(major or 0) + 1, 0, 0]) if minor is None else _v([major or 0, minor + 1, 0])
        return [(">=", lo), ("<", hi)]
    if op == "^":
        lo = _v(parts, pre)
        if (major or 0) > 0 or minor is None:
            hi = _v([(major or 0) + 1, 0, 0])
        elif minor > 0 or patch is None:
            hi = _v([0, minor + 1, 0])
        else:
            hi = _v([0, 0, (patch or 0) + 1])
        return [(">=", lo), ("<", hi)]
    if op == ">" and wild:
        if major is None:
            return [("<", _v([0, 0, 0]))]  # nothing is greater than every version
        return [(">=", _v([major + 1, 0, 0]) if minor is None else _v([major, minor + 1, 0]))]
    if op == "<=" and wild and major is not None:
        return [("<", _v([major + 1, 0, 0]) if minor is None else _v([major, minor + 1, 0]))]
    if major is None:
        return []
    return [(op, _v(parts, pre))]


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint: OR of AND groups of checks."""

    groups: tuple[tuple[Check, ...], ...]
    text: str

    def allows(self, version: Version) -> bool:
        """True when ``version`` satisfies the constraint (pre-releases only when a check names one)."""
        for group in self.groups:
            if version.prerelease and not any(
                    v.prerelease and (v.major, v.minor, v.patch) == (version.major, version.minor, version.patch)
                    for _, v in group):
                continue
            if all(_cmp(op, version, v) for op, v in group):
                return True
        return False


def _cmp(op: str, a: Version, b: Version) -> bool:
    return {"=": a == b, "!=": a != b, ">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[op]


def parse_constraint(text: str) -> Constraint:
    """Parse a Masterminds-style constraint; raises :class:`SemverError`."""
    groups: list[tuple[Check, ...]] = []
    for alt in text.split("||"):
        checks: list[Check] = []
        alt = alt.strip()
        hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", alt)
        if hyphen:
            checks += _term(">=", hyphen.group(1)) + _term("<=", hyphen.group(2))
        else:
            tokens = [t for t in re.split(r"[\s,]+", re.sub(r"(=|!=|>=|<=|>|<|~>|~|\^)\s+", r"\1", alt)) if t]
            for tok in tokens:
                m = _TERM_RE.match(tok)
                if m is None:
                    raise SemverError(f"invalid semver constraint {text!r}: cannot read {tok!r}")
                checks += _term(m.group(1) or "", m.group(2))
        groups.append(tuple(checks))
    if not groups:
        raise SemverError(f"invalid semver constraint {text!r}")
    return Constraint(tuple(groups), text)


def looks_like_constraint(text: str) -> bool:
    """True for a revision that is a range rather than a name (``1.*``, ``>=1.0``, ``^2``, ``~1.2``)."""
    t = text.strip()
    return bool(t) and (any(c in t for c in "*^~<>|") or bool(re.fullmatch(r"v?\d+(\.(\d+|x|X))?\.(x|X)", t)))


def highest(names: Iterable[str], constraint: str) -> str | None:
    """The name whose version is the highest allowed by ``constraint``; None when none is."""
    c = parse_constraint(constraint)
    best: tuple[Version, str] | None = None
    for name in names:
        v = parse_version(name)
        if v is not None and c.allows(v) and (best is None or v > best[0]):
            best = (v, name)
    return best[1] if best else None
