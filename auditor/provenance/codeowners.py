r"""CODEOWNERS parsing and matching with GitHub's semantics (not gitignore's).

GitHub documents CODEOWNERS patterns as "most of the gitignore rules", with differences that
matter for an audit:

* ``docs/*`` owns ``docs/a.md`` but *not* ``docs/build/b.md`` (gitignore would ignore the whole
  ``docs/build`` directory and therefore everything below it);
* ``!`` negation, ``[ ]`` character ranges and ``\#`` (escaping a leading ``#``) do not work:
  such lines are invalid, skipped by GitHub, and reported here with their line number;
* the *last* matching line wins, and a pattern with no owners means "explicitly unowned"
  (which is not the same as "no rule matched");
* ``#`` after whitespace starts an inline comment.

dulwich's ``dulwich.ignore`` matcher was checked and gives gitignore semantics (``docs/*``
matches nested files through the parent-directory rule, ``[ch]`` ranges are honoured), so the
matcher here is our own small pattern-to-regex translation, tested against GitHub's examples.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from auditor.util import proc

CODEOWNERS_LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
"""Where GitHub looks for the file, in order; the first one found is used."""

MAX_CODEOWNERS_BYTES = 3 * 1024 * 1024
"""GitHub ignores CODEOWNERS files over this size."""

_USER_RE = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")
_TEAM_RE = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?/[A-Za-z0-9_](?:[A-Za-z0-9_.-]*)")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Rule:
    """One valid CODEOWNERS line: a pattern and its owners (empty = explicitly unowned)."""

    line: int
    """1-based line number in the CODEOWNERS file."""
    pattern: str
    """The pattern as written (escapes kept)."""
    owners: tuple[str, ...]
    regex: re.Pattern[str] = field(compare=False, repr=False)

    def matches(self, path: str) -> bool:
        """True when this rule's pattern matches the repository-relative file ``path``."""
        return self.regex.match(path.lstrip("/")) is not None


@dataclass(frozen=True)
class Problem:
    """An invalid CODEOWNERS line (GitHub skips it)."""

    line: int
    message: str
    text: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class CodeOwners:
    """A parsed CODEOWNERS file: which file was used, its valid rules and its invalid lines."""

    path: str
    """Repository-relative path of the file that was used (e.g. ``.github/CODEOWNERS``)."""
    rules: tuple[Rule, ...] = ()
    problems: tuple[Problem, ...] = ()


class PatternError(ValueError):
    """A CODEOWNERS pattern that GitHub does not accept."""


def classify_owner(owner: str) -> str | None:
    """``user``, ``team`` or ``email`` for a valid owner token; ``None`` when invalid."""
    if _TEAM_RE.fullmatch(owner):
        return "team"
    if _USER_RE.fullmatch(owner):
        return "user"
    if not owner.startswith("@") and _EMAIL_RE.fullmatch(owner):
        return "email"
    return None


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Translate one CODEOWNERS pattern to a regex matched against repository-relative file paths.

    Rules (GitHub's reading of gitignore): a leading ``/`` or a ``/`` inside the pattern anchors it
    at the repository root, otherwise it matches at any depth; ``*`` and ``?`` never cross ``/``;
    ``**/``, ``/**/`` and a trailing ``/**`` span directories; a trailing ``/`` matches everything
    under that directory; a final segment that is exactly ``*`` matches direct children only;
    any other pattern matches the path itself or everything under it when it names a directory.
    """
    if not pattern:
        raise PatternError("empty pattern")
    if pattern.startswith("!"):
        raise PatternError("negation with '!' is not supported in CODEOWNERS")
    if pattern.startswith("\\#"):
        raise PatternError("escaping a leading '#' is not supported in CODEOWNERS")
    body = pattern
    dir_only = body.endswith("/") and not body.endswith("\\/")
    body = body.rstrip("/") if dir_only else body
    if not body:  # "/" alone would own nothing sensible
        raise PatternError("pattern matches no file")
    anchored = body.startswith("/") or "/" in body.lstrip("/")
    body = body.lstrip("/")
    segments = body.split("/")
    parts: list[str] = []
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "**":
            if last:
                parts.append(".*")  # "dir/**" — everything below
            else:
                parts.append("(?:[^/]*/)*")  # "**/" — zero or more directories
            continue
        parts.append(_translate_segment(seg))
        if not last:
            parts.append("/")
    regex = "".join(parts)
    prefix = "" if anchored else "(?:.*/)?"
    if dir_only:
        suffix = "/.*"
    elif segments[-1] in ("*", "**"):
        # GitHub: "docs/*" owns docs/a.md but not docs/build/b.md; "**" already spans everything.
        suffix = ""
    else:
        suffix = "(?:/.*)?"
    return re.compile(f"{prefix}{regex}{suffix}\\Z", re.DOTALL)


def _translate_segment(seg: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(seg):
        ch = seg[i]
        if ch == "\\" and i + 1 < len(seg):
            out.append(re.escape(seg[i + 1]))
            i += 2
            continue
        if ch == "*":
            while i + 1 < len(seg) and seg[i + 1] == "*":
                i += 1  # "a**b" is two ordinary stars (gitignore), i.e. one
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch in "[]":
            raise PatternError("character ranges '[ ]' are not supported in CODEOWNERS")
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _split_line(text: str) -> tuple[str, list[str]]:
    r"""Split a line into (pattern, owner tokens); ``\ `` escapes a space in the pattern."""
    i = 0
    pat: list[str] = []
    while i < len(text) and not text[i].isspace():
        if text[i] == "\\" and i + 1 < len(text):
            pat.append(text[i : i + 2])
            i += 2
            continue
        pat.append(text[i])
        i += 1
    owners: list[str] = []
    for tok in text[i:].split():
        if tok.startswith("#"):
            break  # inline comment
        owners.append(tok)
    return "".join(pat), owners


def parse_codeowners(text: str, path: str = "CODEOWNERS") -> CodeOwners:
    """Parse CODEOWNERS text; invalid lines become :class:`Problem` entries and are skipped."""
    rules: list[Rule] = []
    problems: list[Problem] = []
    if len(text.encode("utf-8", "replace")) > MAX_CODEOWNERS_BYTES:
        # GitHub does not load a CODEOWNERS file over 3 MB at all.
        return CodeOwners(path=path, problems=(Problem(0, "file is larger than 3 MB: GitHub ignores it"),))
    for lineno, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pattern, owners = _split_line(line)
        try:
            regex = compile_pattern(pattern)
        except PatternError as exc:
            problems.append(Problem(lineno, f"invalid pattern {pattern!r}: {exc}", line))
            continue
        bad = [o for o in owners if classify_owner(o) is None]
        if bad:
            problems.append(
                Problem(
                    lineno,
                    f"invalid owner {bad[0]!r}: expected @user, @org/team or an email address",
                    line,
                )
            )
            continue
        rules.append(Rule(lineno, pattern, tuple(owners), regex))
    return CodeOwners(path=path, rules=tuple(rules), problems=tuple(problems))


def load_codeowners(tree_root: Path) -> CodeOwners | None:
    """Load the first CODEOWNERS found in ``.github/``, the root, ``docs/`` of a checked-out tree."""
    for rel in CODEOWNERS_LOCATIONS:
        candidate = Path(tree_root) / rel
        if candidate.is_file():
            text = candidate.read_text(encoding="utf-8", errors="replace")
            return parse_codeowners(text, rel)
    return None


def load_codeowners_at(git_dir: Path, commit: str) -> CodeOwners | None:
    """Load CODEOWNERS as it is at ``commit`` from the object store (``git_dir``: worktree or .git dir)."""
    res = proc.run(
        ["git", "-C", str(git_dir), "ls-tree", "-z", commit, "--", *CODEOWNERS_LOCATIONS],
        action=f"read CODEOWNERS at {commit[:12]}",
    )
    found: dict[str, str] = {}
    for entry in res.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if not entry:
            continue
        meta, _, name = entry.partition("\t")
        kind, _, rest = meta.partition(" ")[2].partition(" ")
        if kind == "blob":
            found[name] = rest.strip()
    for rel in CODEOWNERS_LOCATIONS:
        if rel in found:
            blob = proc.run(
                ["git", "-C", str(git_dir), "cat-file", "blob", found[rel]],
                action=f"read {rel} at {commit[:12]}",
            )
            return parse_codeowners(blob.stdout.decode("utf-8", "replace"), rel)
    return None


def matching_rule(co: CodeOwners, path: str) -> Rule | None:
    """The rule that decides ``path`` (the last matching line), or ``None``."""
    for rule in reversed(co.rules):
        if rule.matches(path):
            return rule
    return None


def owners_of(co: CodeOwners, path: str) -> tuple[str, ...] | None:
    """Owners of ``path``: ``None`` when no rule matches, ``()`` when explicitly unowned."""
    rule = matching_rule(co, path)
    return None if rule is None else rule.owners


def owners_many(co: CodeOwners, paths: Iterable[str]) -> dict[str, tuple[str, ...] | None]:
    """:func:`owners_of` for many paths."""
    return {p: owners_of(co, p) for p in paths}


def load_codeowners_many(git_dir: Path, commits: Iterable[str]) -> dict[str, CodeOwners | None]:
    """CODEOWNERS as it was at each of ``commits`` (full shas), in two git calls whatever their number.

    Used to judge each commit by the rules in force before it (its parent's CODEOWNERS), as GitHub
    judges a pull request by the base branch's file.
    """
    shas = sorted(set(commits))
    if not shas:
        return {}
    specs = [f"{sha}:{loc}" for sha in shas for loc in CODEOWNERS_LOCATIONS]
    check = proc.run(
        ["git", "-C", str(git_dir), "cat-file", "--batch-check"],
        action="locate CODEOWNERS history",
        input_bytes="".join(s + "\n" for s in specs).encode(),
    ).stdout.decode("utf-8", "replace").splitlines()
    chosen: dict[str, tuple[str, str]] = {}
    for spec, line in zip(specs, check, strict=True):
        sha, _, loc = spec.partition(":")
        parts = line.split()
        if sha not in chosen and len(parts) == 3 and parts[1] == "blob":
            chosen[sha] = (parts[0], loc)
    oids = sorted({oid for oid, _ in chosen.values()})
    texts: dict[str, str] = {}
    if oids:
        out = proc.run(
            ["git", "-C", str(git_dir), "cat-file", "--batch"],
            action="read CODEOWNERS history",
            input_bytes="".join(o + "\n" for o in oids).encode(),
        ).stdout
        pos = 0
        for oid in oids:
            header_end = out.index(b"\n", pos)
            size = int(out[pos:header_end].split()[2])
            texts[oid] = out[header_end + 1 : header_end + 1 + size].decode("utf-8", "replace")
            pos = header_end + 1 + size + 1
    parsed: dict[tuple[str, str], CodeOwners] = {}
    result: dict[str, CodeOwners | None] = {}
    for sha in shas:
        if sha not in chosen:
            result[sha] = None
            continue
        oid, loc = chosen[sha]
        if (oid, loc) not in parsed:
            parsed[(oid, loc)] = parse_codeowners(texts[oid], loc)
        result[sha] = parsed[(oid, loc)]
    return result
