"""CODEOWNERS parsing and matching, edge by edge (what the mutation run of bench/mutation.py left unguarded):
the exact problem each unsupported pattern gets, escapes, stars, directory patterns, the size limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import ToolError
from auditor.provenance.codeowners import (
    MAX_CODEOWNERS_BYTES,
    PatternError,
    compile_pattern,
    load_codeowners,
    load_codeowners_at,
    load_codeowners_many,
    matching_rule,
    parse_codeowners,
)
from tests.gitfixtures import GitRepo


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


def test_empty_pattern_is_refused_by_name() -> None:
    with pytest.raises(PatternError) as exc:
        compile_pattern("")
    assert str(exc.value) == "empty pattern"


@pytest.mark.parametrize(("pattern", "yes", "no"), [
    # an escaped trailing "/" is a literal slash, not a directory pattern, and anchors the pattern
    ("a\\/", ["a\\/", "a\\//x"], ["d/a\\/", "d/a\\/x", "a\\", "a/x"]),
    ("X/y", ["X/y", "X/y/z"], ["d/X/y", "y"]),  # a "/" right after leading X's still anchors
])
def test_escaped_trailing_slash_and_anchoring(pattern: str, yes: list[str], no: list[str]) -> None:
    rx = compile_pattern(pattern)
    assert [p for p in yes if not rx.match(p)] == []
    assert [p for p in no if rx.match(p)] == []


@pytest.mark.parametrize(("pattern", "regex"), [
    ("a**", "(?:.*/)?a[^/]*(?:/.*)?\\Z"),
    ("a*****", "(?:.*/)?a[^/]*(?:/.*)?\\Z"),
    ("**b", "(?:.*/)?[^/]*b(?:/.*)?\\Z"),
    ("a**b*?", "(?:.*/)?a[^/]*b[^/]*[^/](?:/.*)?\\Z"),
])
def test_a_run_of_stars_compiles_to_one(pattern: str, regex: str) -> None:
    """One ``[^/]*`` per run: consecutive ones match the same paths but backtrack polynomially on hostile lines."""
    assert compile_pattern(pattern).pattern == regex


def test_codeowners_from_git_replace_invalid_bytes(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    (repo.root / "CODEOWNERS").write_bytes(b"* @a\ncaf\xe9/ @b\n")
    sha = repo.commit("invalid bytes")
    for co in (load_codeowners_at(repo.root, sha), load_codeowners_many(repo.root, [sha])[sha]):
        assert co is not None and co.path == "CODEOWNERS"
        assert [(r.pattern, r.owners) for r in co.rules] == [("*", ("@a",)), ("caf\ufffd/", ("@b",))]


def test_codeowners_from_git_at_exactly_the_size_limit(tmp_path: Path) -> None:
    line = "* @a\n"
    repo = GitRepo(tmp_path / "r")
    sha = repo.commit("3 MB", {".github/CODEOWNERS": line + "#" * (MAX_CODEOWNERS_BYTES - len(line) - 1) + "\n"})
    co = load_codeowners_many(repo.root, [sha])[sha]
    assert co is not None and co.problems == () and [r.owners for r in co.rules] == [("@a",)]


def test_codeowners_many_none_where_a_commit_has_none(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    bare = repo.commit("nothing", {"f": "x\n"})
    owned = repo.commit("owners", {"docs/CODEOWNERS": "* @d\n"})
    got = load_codeowners_many(repo.root, [owned, bare, owned])
    assert set(got) == {bare, owned} and got[bare] is None
    co = got[owned]
    assert co is not None and co.path == "docs/CODEOWNERS"


def test_git_failures_name_what_was_read(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    sha = repo.commit("owners", {".github/CODEOWNERS": "* @a\n"})
    with pytest.raises(ToolError) as exc:
        load_codeowners_at(repo.root, "deadbeef" * 5)
    assert str(exc.value).startswith("read CODEOWNERS at deadbeefdead: git exited 128")
    not_a_repo = tmp_path / "plain"
    not_a_repo.mkdir()
    with pytest.raises(ToolError) as exc:
        load_codeowners_many(not_a_repo, [sha])
    assert str(exc.value).startswith("locate CODEOWNERS history: git exited 128")
    blob = repo.git("rev-parse", f"{sha}:.github/CODEOWNERS")
    (repo.root / ".git" / "objects" / blob[:2] / blob[2:]).unlink()  # the tree still lists it
    with pytest.raises(ToolError) as exc:
        load_codeowners_at(repo.root, sha)
    assert str(exc.value).startswith(f"read .github/CODEOWNERS at {sha[:12]}: git exited 128")


def test_git_failure_reading_the_located_blobs_is_named(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    text = "* @a\n" + "".join(f"# {k:08x} {k * 2654435761 % 2**32:08x}\n" for k in range(20000))
    sha = repo.commit("owners", {"CODEOWNERS": text})
    blob = repo.git("rev-parse", f"{sha}:CODEOWNERS")
    loose = repo.root / ".git" / "objects" / blob[:2] / blob[2:]
    data = loose.read_bytes()
    loose.chmod(0o644)
    loose.write_bytes(data[: len(data) // 2])  # the header still inflates (batch-check finds it), the body does not
    with pytest.raises(ToolError) as exc:
        load_codeowners_many(repo.root, [sha])
    assert str(exc.value).startswith("read CODEOWNERS history: git exited 128")
