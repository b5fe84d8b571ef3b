"""CODEOWNERS parsing and matching, edge by edge (what the mutation run of bench/mutation.py left unguarded):
the exact problem each unsupported pattern gets, escapes, stars, directory patterns, the size limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.provenance.codeowners import (
    MAX_CODEOWNERS_BYTES,
    compile_pattern,
    load_codeowners,
    matching_rule,
    parse_codeowners,
)


@pytest.mark.parametrize(("line", "message"), [
    ("!docs/ @a", "invalid pattern '!docs/': negation with '!' is not supported in CODEOWNERS"),
    ("\\#notes @a", "invalid pattern '\\\\#notes': escaping a leading '#' is not supported in CODEOWNERS"),
    ("/ @a", "invalid pattern '/': pattern matches no file"),
    ("// @a", "invalid pattern '//': pattern matches no file"),
    ("docs/[ab].md @a", "invalid pattern 'docs/[ab].md': character ranges '[ ]' are not supported in CODEOWNERS"),
    ("docs/]x @a", "invalid pattern 'docs/]x': character ranges '[ ]' are not supported in CODEOWNERS"),
    ("*.md not-an-owner", "invalid owner 'not-an-owner': expected @user, @org/team or an email address"),
])
def test_problem_messages(line: str, message: str) -> None:
    co = parse_codeowners(f"# header\n\n{line}\n* @fallback\n")
    (p,) = co.problems
    assert (p.line, p.message, p.text) == (3, message, line)
    assert str(p) == f"line 3: {message}"
    assert [r.pattern for r in co.rules] == ["*"]


def test_default_path_and_bom() -> None:
    co = parse_codeowners("\ufeff* @a\n")
    assert co.path == "CODEOWNERS" and [r.owners for r in co.rules] == [("@a",)]


def test_size_limit_is_exclusive() -> None:
    line = "* @a\n"
    at_limit = line + "#" * (MAX_CODEOWNERS_BYTES - len(line) - 1) + "\n"
    assert len(at_limit.encode()) == MAX_CODEOWNERS_BYTES
    assert parse_codeowners(at_limit, ".github/CODEOWNERS").problems == ()
    over = parse_codeowners(at_limit + "#", ".github/CODEOWNERS")
    assert over.path == ".github/CODEOWNERS" and over.rules == ()
    assert [(p.line, p.message) for p in over.problems] == [(0, "file is larger than 3 MB: GitHub ignores it")]


@pytest.mark.parametrize(("pattern", "yes", "no"), [
    ("my\\ file.txt", ["my file.txt", "a/my file.txt"], ["my\\ file.txt", "myfile.txt"]),
    ("a\\*b", ["a*b"], ["axb"]),
    ("trailing\\", ["trailing\\"], ["trailing"]),
    ("a**b", ["ab", "axxb"], ["a/b", "ax/yb"]),
    ("a***", ["a", "abc", "abc/inside"], ["ba"]),
    ("docs/*", ["docs/a.md"], ["docs/build/b.md", "docs"]),
    ("docs/**", ["docs/a.md", "docs/build/b.md"], ["docs", "other/docs/a.md"]),
    ("**/logs", ["logs/x", "a/b/logs/x", "logs"], ["alogs/x"]),
    ("a/**/b", ["a/b", "a/x/y/b", "a/x/b/c"], ["a/xb", "z/a/b"]),
    ("build/", ["build/x", "src/build/y"], ["build", "builder/x"]),
    ("/build/", ["build/x"], ["src/build/y"]),
    ("app.yaml", ["app.yaml", "deep/app.yaml", "app.yaml/inside"], ["app-yaml", "xapp.yaml"]),
    ("/app.yaml", ["app.yaml"], ["deep/app.yaml"]),
    ("?.md", ["a.md"], ["ab.md", "/.md"]),
    ("line\nbreak", ["line\nbreak"], []),
    ("a", ["dir\nname/a"], []),  # any character, newlines included, before the last "/"
    ("ab\\c", ["abc", "x/abc"], ["ab\\c"]),
    ("Xray.yaml", ["Xray.yaml", "d/Xray.yaml"], ["ray.yaml"]),
    ("/Xdir/", ["Xdir/a"], ["dir/a", "d/Xdir/a"]),
    ("docX/", ["docX/a", "d/docX/a"], ["doc/a"]),
])
def test_pattern_matching(pattern: str, yes: list[str], no: list[str]) -> None:
    rx = compile_pattern(pattern)
    assert [p for p in yes if not rx.match(p)] == []
    assert [p for p in no if rx.match(p)] == []


def test_split_line_keeps_escaped_spaces_and_drops_inline_comments() -> None:
    co = parse_codeowners("my\\ dir/ @a @b # owners: @c\nend\\ @d\n")
    # "\ " escapes the space: "end\ @d" is one pattern with no owner (a rule that leaves files unowned)
    assert [(r.pattern, r.owners) for r in co.rules] == [("my\\ dir/", ("@a", "@b")), ("end\\ @d", ())]
    assert matching_rule(co, "/my dir/x.yaml") is co.rules[0]  # a leading "/" on the path is ignored
    assert matching_rule(co, "my dir/x.yaml/") is co.rules[0]


def test_load_codeowners_reads_invalid_bytes(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "CODEOWNERS").write_bytes(b"* @a\ncaf\xe9/ @b\n")
    co = load_codeowners(tmp_path)
    assert co is not None and co.path == "docs/CODEOWNERS"
    assert [r.owners for r in co.rules] == [("@a",), ("@b",)]
    assert co.rules[1].pattern == "caf\ufffd/"


def test_rule_matches_ignores_a_leading_slash_of_the_path() -> None:
    co = parse_codeowners("/build/ @a\n/Xdir/ @b\n")
    build, xdir = co.rules
    assert build.matches("/build/x") and build.matches("build/x") and not build.matches("/src/build/x")
    assert xdir.matches("/Xdir/a") and xdir.matches("Xdir/a")


def test_owners_of_many_paths() -> None:
    from auditor.provenance.codeowners import owners_many

    co = parse_codeowners("* @all\n/docs/ @docs\n/docs/free.md\n")
    assert owners_many(co, ["a.yaml", "docs/x.md", "docs/free.md"]) == {
        "a.yaml": ("@all",), "docs/x.md": ("@docs",), "docs/free.md": ()}
    assert owners_many(parse_codeowners("/docs/ @docs\n"), ["a.yaml"]) == {"a.yaml": None}
