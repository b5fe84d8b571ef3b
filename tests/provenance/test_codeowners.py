"""CODEOWNERS parsing and matching: GitHub's documented examples and edge cases."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from auditor.commands import codeowners as cmd
from auditor.errors import SourceError
from auditor.provenance.codeowners import (
    classify_owner,
    load_codeowners,
    load_codeowners_at,
    load_codeowners_many,
    matching_rule,
    owners_of,
    parse_codeowners,
)
from auditor.util import proc

# GitHub's "About code owners" example file (abridged to its rules, comments reworded).
GITHUB_EXAMPLE = """\
# global owners
*       @global-owner1 @global-owner2
*.js    @js-owner #This is an inline comment.
*.go docs@example.com
*.txt @octo-org/octocats
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/ @octocat
/apps/github
"""

G = ("@global-owner1", "@global-owner2")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("some/deeply/nested/file.rb", G),
        ("README", G),
        ("src/app.js", ("@js-owner",)),  # *.js at any depth, inline comment stripped
        ("main.go", ("docs@example.com",)),
        ("a/b/notes.txt", ("@octo-org/octocats",)),
        ("build/logs/today.log", ("@octocat",)),  # /build/logs/ (line 6) loses to **/logs (line 11)
        ("build/other/today.log", G),
        ("docs/getting-started.md", ("@doctocat",)),  # /docs/ is later than docs/*
        ("x/apps/main.py", ("@octocat",)),  # apps/ matches an apps dir anywhere
        ("apps/main/index.js", ("@octocat",)),  # /apps/ later than *.js
        ("apps/github/index.js", ()),  # explicitly unowned: later line with no owners
        ("apps/github", ()),
        ("scripts/deploy.sh", ("@doctocat", "@octocat")),
        ("deeply/nested/logs/a.txt", ("@octocat",)),
        ("scripts/logs/a.txt", ("@octocat",)),
    ],
)
def test_github_documented_example(path: str, expected: tuple[str, ...]) -> None:
    co = parse_codeowners(GITHUB_EXAMPLE)
    assert co.problems == ()
    assert owners_of(co, path) == expected


def test_build_logs_rules_precedence() -> None:
    co = parse_codeowners(GITHUB_EXAMPLE)
    # build/logs/today.log matches both /build/logs/ (line 6) and **/logs (line 11): the later wins.
    rule = matching_rule(co, "build/logs/today.log")
    assert rule is not None and rule.pattern == "**/logs" and rule.line == 11


@pytest.mark.parametrize(
    ("pattern", "path", "match"),
    [
        # docs/* : direct children only (differs from gitignore)
        ("docs/*", "docs/getting-started.md", True),
        ("docs/*", "docs/build-app/troubleshooting.md", False),
        ("docs/*", "x/docs/a.md", False),  # has a slash → anchored
        # anchored vs unanchored
        ("/docs/", "docs/a/b.md", True),
        ("/docs/", "x/docs/a.md", False),
        ("docs/", "x/docs/a.md", True),
        ("docs", "x/docs/a.md", True),  # no slash: any depth, file or dir
        ("docs", "docs", True),
        ("docs", "docsx/a", False),
        ("/apps/github", "apps/github/x/y", True),  # names a directory: contents too
        ("/apps/github", "x/apps/github", False),
        ("a/b", "x/a/b", False),  # middle slash anchors
        # trailing slash: directory contents only, never a file of that name
        ("logs/", "logs", False),
        ("logs/", "logs/a", True),
        ("logs/", "a/logs/b/c", True),
        # * vs **
        ("*.md", "a/b/c.md", True),
        ("/*.md", "a/b/c.md", False),
        ("/*.md", "c.md", True),
        ("a/*/c", "a/b/c", True),
        ("a/*/c", "a/b/x/c", False),
        ("a/**/c", "a/b/x/c", True),
        ("a/**/c", "a/c", True),
        ("**/c", "c", True),
        ("**/c", "a/b/c/d", True),
        ("a/**", "a/b/c", True),
        ("a/**", "a", False),
        ("*", "anything/at/all", True),
        ("?.txt", "a.txt", True),
        ("?.txt", "ab.txt", False),
        ("?.txt", "x/a.txt", True),
        ("a*", "ab/c", True),
        ("*.js", "a/b.jsx", False),
        # case sensitive, literal regex characters
        ("README.md", "readme.md", False),
        ("a+b.(x)", "a+b.(x)", True),
        ("path\\ with\\ spaces/", "path with spaces/a", True),
    ],
)
def test_pattern_table(pattern: str, path: str, match: bool) -> None:
    co = parse_codeowners(f"{pattern} @o\n")
    assert co.problems == ()
    assert (owners_of(co, path) is not None) is match


def test_later_line_wins_even_when_less_specific() -> None:
    co = parse_codeowners("/apps/deep/ @deep\n* @everyone\n")
    assert owners_of(co, "apps/deep/x") == ("@everyone",)


def test_unmatched_is_none_and_unowned_is_empty() -> None:
    co = parse_codeowners("/apps/ @octocat\n/apps/github\n")
    assert owners_of(co, "README.md") is None
    assert owners_of(co, "apps/github/x") == ()
    assert owners_of(co, "apps/x") == ("@octocat",)


def test_invalid_lines_reported_with_line_numbers_and_skipped() -> None:
    text = (
        "# comment\n"  # 1
        "* @all\n"  # 2
        "!docs/ @neg\n"  # 3 negation unsupported
        "ceval*.[ch] @c\n"  # 4 ranges unsupported
        "\\#file @hash\n"  # 5 escaping a leading # unsupported
        "/x/ bad-owner\n"  # 6 invalid owner
        "/y/ @ok @\n"  # 7 invalid owner "@"
        "   \n"  # 8 blank
        "#/z/ @commented\n"  # 9 comment
        "/w/ @org/team user@example.com\n"  # 10 valid
    )
    co = parse_codeowners(text, ".github/CODEOWNERS")
    assert [p.line for p in co.problems] == [3, 4, 5, 6, 7]
    assert "negation" in co.problems[0].message
    assert "character ranges" in co.problems[1].message
    assert "'#'" in co.problems[2].message
    assert "bad-owner" in co.problems[3].message
    assert str(co.problems[0]).startswith("line 3: ")
    assert [r.line for r in co.rules] == [2, 10]
    # skipped lines do not match: docs/ stays with the global owner
    assert owners_of(co, "docs/a") == ("@all",)
    assert owners_of(co, "x/a") == ("@all",)
    assert owners_of(co, "w/a") == ("@org/team", "user@example.com")


def test_hash_inside_pattern_is_literal() -> None:
    co = parse_codeowners("a#b @o # trailing comment @not-owner\n")
    assert owners_of(co, "a#b") == ("@o",)


@pytest.mark.parametrize(
    ("owner", "kind"),
    [
        ("@alice", "user"),
        ("@a-b", "user"),
        ("@org/team-name", "team"),
        ("alice@example.com", "email"),
        ("alice", None),
        ("@", None),
        ("@org/", None),
        ("@-x", None),
        ("a@b", None),
    ],
)
def test_classify_owner(owner: str, kind: str | None) -> None:
    assert classify_owner(owner) == kind


def _git(cwd: Path, *args: str) -> str:
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@x"}
    return proc.run(["git", *args], cwd=cwd, env=env, action="test git").stdout.decode()


@pytest.mark.parametrize(
    ("present", "used"),
    [
        ((".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"), ".github/CODEOWNERS"),
        (("CODEOWNERS", "docs/CODEOWNERS"), "CODEOWNERS"),
        (("docs/CODEOWNERS",), "docs/CODEOWNERS"),
        ((), None),
    ],
)
def test_location_order_tree_and_git(tmp_path: Path, present: tuple[str, ...], used: str | None) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    for rel in present:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(f"* @from-{rel.replace('/', '-').replace('.', '')}\n")
    (tmp_path / "f").write_text("x\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "init")
    for co in (load_codeowners(tmp_path), load_codeowners_at(tmp_path / ".git", "HEAD")):
        if used is None:
            assert co is None
        else:
            assert co is not None and co.path == used
            assert owners_of(co, "f") == (f"@from-{used.replace('/', '-').replace('.', '')}",)


# --- gitops-audit codeowners (handler driven through its own argparse registration) ---

def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gitops-audit")
    cmd.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


@pytest.fixture
def cmd_repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github/CODEOWNERS").write_text(GITHUB_EXAMPLE)
    for rel in ("apps/github/x.js", "apps/main.js", "docs/a.md", "README"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "init")
    return tmp_path


def test_cmd_owners_json(cmd_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _cli(["codeowners", "owners", "--repo", str(cmd_repo), "-o", "json",
                 "apps/github/x.js", "./apps/main.js", "/docs/a.md", "build/logs/x"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["codeowners"] == ".github/CODEOWNERS"
    rows = {r["path"]: r for r in out["paths"]}
    assert rows["apps/github/x.js"] == {"path": "apps/github/x.js", "owners": [], "status": "unowned",
                                        "line": 13, "pattern": "/apps/github"}
    assert rows["apps/main.js"]["owners"] == ["@octocat"]
    assert rows["docs/a.md"]["owners"] == ["@doctocat"]
    assert rows["build/logs/x"]["owners"] == ["@octocat"]


def test_cmd_owners_text_and_unmatched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "CODEOWNERS").write_text("/a/ @x\n/a/b\n")
    args = _cli(["codeowners", "owners", "--repo", str(tmp_path), "a/1", "a/b/2", "c"])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["a/1", "@x", "(CODEOWNERS:1", "/a/)"]
    assert "explicitly unowned: CODEOWNERS:2 /a/b" in lines[1]
    assert lines[2].endswith("(no matching rule)")


def test_cmd_check(cmd_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _cli(["codeowners", "check", "--repo", str(cmd_repo)])
    assert args.func(args) == 0
    assert "no problems" in capsys.readouterr().out
    (cmd_repo / ".github/CODEOWNERS").write_text("* @a\n!x @b\n/y/ nobody\n")
    assert args.func(args) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(".github/CODEOWNERS:2: invalid pattern")
    assert out[1].startswith(".github/CODEOWNERS:3: invalid owner 'nobody'")
    # --ref reads the committed (valid) file, --unowned lists files with no owner
    args = _cli(["codeowners", "check", "--repo", str(cmd_repo), "--ref", "HEAD", "--unowned", "-o", "json"])
    assert args.func(args) == 1
    out_json = json.loads(capsys.readouterr().out)
    assert out_json["problems"] == [] and out_json["unowned"] == ["apps/github/x.js"]
    assert out_json["ok"] is False


def test_cmd_without_codeowners_is_an_error(tmp_path: Path) -> None:
    args = _cli(["codeowners", "owners", "--repo", str(tmp_path), "x"])
    with pytest.raises(SourceError, match="no CODEOWNERS file"):
        args.func(args)


def test_bom_crlf_and_size_limit() -> None:
    co = parse_codeowners("\ufeff* @a\r\n/b/ @b\r\n")
    assert co.problems == () and owners_of(co, "b/x") == ("@b",) and owners_of(co, "y") == ("@a",)
    big = parse_codeowners("* @a\n" + "# pad\n" * (3 * 1024 * 1024 // 6 + 1))
    assert big.rules == () and big.problems[0].message.startswith("file is larger than 3 MB")


def test_load_codeowners_many_per_commit(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    shas = []
    steps: list[tuple[str, str | None]] = [("CODEOWNERS", "* @root\n"), (".github/CODEOWNERS", "* @gh\n"),
                                           (".github/CODEOWNERS", "* @gh2\n"), ("", None)]
    for rel, text in steps:
        if text is None:
            _git(tmp_path, "rm", "-q", "CODEOWNERS", ".github/CODEOWNERS")
        else:
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(text)
            _git(tmp_path, "add", "-A")
        _git(tmp_path, "commit", "-q", "-m", "step")
        shas.append(_git(tmp_path, "rev-parse", "HEAD").strip())
    got = load_codeowners_many(tmp_path, shas)
    assert [(c.path, c.rules[0].owners) if c else None for c in (got[s] for s in shas)] == [
        ("CODEOWNERS", ("@root",)), (".github/CODEOWNERS", ("@gh",)), (".github/CODEOWNERS", ("@gh2",)), None]
    assert load_codeowners_many(tmp_path, []) == {}
