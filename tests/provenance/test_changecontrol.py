"""Change-control checks on a real git history with owners, non-owners, trailers, merges and renames."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.model import Category, Severity, Target
from auditor.provenance.changecontrol import (
    RULE_NO_CODEOWNERS,
    RULE_UNAPPROVED,
    RULE_UNMAPPED_OWNER,
    RULE_UNOWNED,
    RULE_UNSIGNED,
    Identities,
    Person,
    check_codeowners_file,
    check_target,
    resolve_window,
)
from auditor.provenance.codeowners import load_codeowners_at, parse_codeowners
from auditor.provenance.index import ProvenanceIndex, build_index
from auditor.provenance.options import ChangeControlOptions
from auditor.util import proc

ALICE = ("Alice", "alice@example.com")
BOB = ("Bob", "bob@example.com")
MALLORY = ("Mallory", "mallory@example.com")
ALICE_NOREPLY = ("alice-gh", "12345+alice@users.noreply.github.com")

CODEOWNERS = """\
/base/ @platform
/prod/ @alice @org/sre
/prod/free.yaml
"""

IDENTITIES = {
    "@alice": ("alice@example.com",),
    "@org/sre": ("@bob",),
    "@bob": ("bob@example.com",),
    "@platform": ("platform-lead@example.com",),
}
PROD = Target(name="prod-us", env="production", path="prod")
FILES = ("prod/a.yaml", "prod/b.yaml", "prod/free.yaml", "base/x.yaml", "other/y.yaml")


class Repo:
    """A throw-away git repository with explicit authors and dates per commit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        self.day = 0

    def git(self, *args: str, who: tuple[str, str] = ALICE, date: str = "2026-01-01T00:00:00+00:00",
            stdin: bytes | None = None) -> str:
        env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_AUTHOR_NAME": who[0], "GIT_AUTHOR_EMAIL": who[1], "GIT_AUTHOR_DATE": date,
               "GIT_COMMITTER_NAME": who[0], "GIT_COMMITTER_EMAIL": who[1], "GIT_COMMITTER_DATE": date}
        return proc.run(["git", *args], cwd=self.root, env=env, action="test git",
                        input_bytes=stdin).stdout.decode().strip()

    def next_date(self) -> str:
        self.day += 1
        return f"2026-02-{self.day:02d}T12:00:00+00:00"

    def commit(self, message: str, files: dict[str, str], who: tuple[str, str]) -> str:
        for rel, text in files.items():
            p = self.root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, who=who, date=self.next_date())
        return self.git("rev-parse", "HEAD")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Repo, dict[str, str]]:
    r = Repo(tmp_path_factory.mktemp("cc") / "repo")
    s: dict[str, str] = {}
    s["init"] = r.commit("init", {".github/CODEOWNERS": CODEOWNERS, "prod/a.yaml": "a: 0\n",
                                  "prod/old.yaml": "b: 0\n", "prod/free.yaml": "f: 0\n",
                                  "base/x.yaml": "x: 0\n", "other/y.yaml": "y: 0\n"}, ALICE)
    s["team_member"] = r.commit("bob via team", {"prod/a.yaml": "a: 1\n"}, BOB)
    s["unapproved"] = r.commit("quick fix", {"prod/a.yaml": "a: 2\n"}, MALLORY)
    s["approved"] = r.commit("fix\n\nApproved-by: Alice <ALICE@example.com>", {"prod/a.yaml": "a: 3\n"}, MALLORY)
    s["bad_review"] = r.commit("fix\n\nReviewed-by: Eve <eve@example.com>", {"prod/a.yaml": "a: 4\n"}, MALLORY)
    s["login_trailer"] = r.commit("fix\n\nReviewed-by: @bob", {"prod/a.yaml": "a: 5\n"}, MALLORY)
    s["noreply"] = r.commit("web edit", {"prod/a.yaml": "a: 6\n"}, ALICE_NOREPLY)
    # a pull request: mallory's branch touching prod and base, merged by alice (owner of prod only)
    r.git("checkout", "-q", "-b", "pr")
    s["pr_commit"] = r.commit("pr change", {"prod/a.yaml": "a: 7\n", "base/x.yaml": "x: 1\n"}, MALLORY)
    r.git("checkout", "-q", "main")
    r.git("merge", "-q", "--no-ff", "-m", "Merge pull request #9 from mallory/pr", "pr", who=ALICE,
          date=r.next_date())
    s["merge"] = r.git("rev-parse", "HEAD")
    # rename by a non-owner: the new name is what feeds the target
    r.git("mv", "prod/old.yaml", "prod/b.yaml")
    s["rename"] = r.commit("rename", {}, MALLORY)
    s["unowned_only"] = r.commit("free", {"prod/free.yaml": "f: 1\n", "other/y.yaml": "y: 1\n"}, MALLORY)
    s["outside"] = r.commit("not a target file", {"README.md": "r\n"}, MALLORY)
    return r, s


@pytest.fixture(scope="module")
def index(fleet: tuple[Repo, dict[str, str]]) -> ProvenanceIndex:
    return build_index(fleet[0].root, "HEAD")


def _opts(**kw: object) -> ChangeControlOptions:
    base: dict[str, object] = {"protected_envs": ("production",), "identities": IDENTITIES}
    base.update(kw)
    return ChangeControlOptions(**base)  # type: ignore[arg-type]


def _by_rule(findings: tuple, rule: str) -> list:  # type: ignore[type-arg]
    return [f for f in findings if f.rule_id == rule]


def test_unapproved_commits_flagged_with_sha_author_owners(
    fleet: tuple[Repo, dict[str, str]], index: ProvenanceIndex
) -> None:
    r, s = fleet
    co = load_codeowners_at(r.root, "HEAD")
    findings = check_target(PROD, FILES, index, co, _opts(), window_start=s["init"])
    assert all(f.category is Category.CHANGE_CONTROL and f.target == "prod-us" for f in findings)
    unapproved = {f.details["sha"]: f for f in _by_rule(findings, RULE_UNAPPROVED)}
    assert set(unapproved) == {s["unapproved"], s["bad_review"], s["pr_commit"], s["rename"]}
    f = unapproved[s["unapproved"]]
    assert f.severity is Severity.HIGH
    assert s["unapproved"][:7] in f.message and "Mallory <mallory@example.com>" in f.message
    assert "@alice, @org/sre" in f.message
    assert f.owners == ("@alice", "@org/sre")
    assert f.path == s["unapproved"]
    assert f.details["author_email"] == "mallory@example.com"
    assert f.details["required_owners"] == {"prod/a.yaml": ["@alice", "@org/sre"]}
    assert [p.path for p in f.provenance.files] == ["prod/a.yaml"]
    assert f.provenance.files[0].commit is not None and f.provenance.files[0].commit.sha == s["unapproved"]
    # merged by alice: prod/a.yaml is approved through the merge, base/x.yaml (owned by @platform) is not
    pr = unapproved[s["pr_commit"]]
    assert pr.details["required_owners"] == {"base/x.yaml": ["@platform"]}
    assert pr.details["merged_by"] == s["merge"]
    assert "prod/a.yaml" in pr.details["approved_files"]
    # non-owner reviewer does not count, the trailer is still shown
    assert unapproved[s["bad_review"]].details["approvals_found"] == ["Reviewed-by: Eve <eve@example.com>"]
    # renamed file: flagged under its current name
    assert unapproved[s["rename"]].details["files"] == ["prod/b.yaml"]
    # fingerprints are distinct per commit
    assert len({f.fingerprint for f in findings}) == len(findings)


def test_unowned_files(fleet: tuple[Repo, dict[str, str]], index: ProvenanceIndex) -> None:
    r, s = fleet
    co = load_codeowners_at(r.root, "HEAD")
    findings = check_target(PROD, FILES, index, co, _opts(), window_start=s["init"])
    unowned = {f.path: f for f in _by_rule(findings, RULE_UNOWNED)}
    assert set(unowned) == {"prod/free.yaml", "other/y.yaml", ".github/CODEOWNERS"}
    assert "governs change control of protected target prod-us" in unowned[".github/CODEOWNERS"].message
    assert unowned[".github/CODEOWNERS"].provenance.files[0].role == "codeowners"
    without = check_target(PROD, FILES, index, co, _opts(include_codeowners_file=False), window_start=s["init"])
    assert {f.path for f in _by_rule(without, RULE_UNOWNED)} == {"prod/free.yaml", "other/y.yaml"}
    assert "explicitly unowned by .github/CODEOWNERS line 3" in unowned["prod/free.yaml"].message
    assert "matches no rule" in unowned["other/y.yaml"].message
    assert unowned["other/y.yaml"].severity is Severity.MEDIUM
    last = unowned["other/y.yaml"].provenance.files[0].commit
    assert last is not None and last.sha == s["unowned_only"]


def test_merge_commits_can_be_disabled(fleet: tuple[Repo, dict[str, str]], index: ProvenanceIndex) -> None:
    r, s = fleet
    co = load_codeowners_at(r.root, "HEAD")
    findings = check_target(PROD, FILES, index, co, _opts(accept_merge_commits=False), window_start=s["init"])
    pr = [f for f in _by_rule(findings, RULE_UNAPPROVED) if f.details["sha"] == s["pr_commit"]]
    assert pr and pr[0].details["required_owners"] == {
        "base/x.yaml": ["@platform"], "prod/a.yaml": ["@alice", "@org/sre"]}


def test_without_identities_owner_commits_are_flagged(
    fleet: tuple[Repo, dict[str, str]], index: ProvenanceIndex
) -> None:
    r, s = fleet
    co = load_codeowners_at(r.root, "HEAD")
    findings = check_target(PROD, FILES, index, co, _opts(identities={}), window_start=s["init"])
    shas = {f.details["sha"] for f in _by_rule(findings, RULE_UNAPPROVED)}
    assert s["team_member"] in shas  # bob's team membership is unknown without identities
    assert s["approved"] in shas  # Alice's email cannot be tied to @alice
    assert s["noreply"] not in shas  # a GitHub noreply address always names its login
    assert s["login_trailer"] in shas  # @bob is known only as a member of @org/sre via identities
    (unmapped,) = _by_rule(findings, RULE_UNMAPPED_OWNER)
    assert unmapped.owners == ("@alice", "@org/sre", "@platform")
    assert unmapped.severity is Severity.LOW and "commit finding(s) may be affected" in unmapped.message
    # with identities for everyone, nothing is unmapped
    mapped = check_target(PROD, FILES, index, co, _opts(), window_start=s["init"])
    assert _by_rule(mapped, RULE_UNMAPPED_OWNER) == []


def test_window_and_signed(fleet: tuple[Repo, dict[str, str]], index: ProvenanceIndex) -> None:
    r, s = fleet
    co = load_codeowners_at(r.root, "HEAD")
    later = check_target(PROD, FILES, index, co, _opts(require_signed=True), window_start=s["merge"])
    assert {f.details["sha"] for f in _by_rule(later, RULE_UNAPPROVED)} == {s["rename"]}
    unsigned = {f.details["sha"] for f in _by_rule(later, RULE_UNSIGNED)}
    assert unsigned == {s["rename"], s["unowned_only"]}
    by_date = check_target(PROD, FILES, index, co, _opts(), window_start="2026-02-08T00:00:00+00:00")
    assert {f.details["sha"] for f in _by_rule(by_date, RULE_UNAPPROVED)} == {s["pr_commit"], s["rename"]}


def test_not_protected_and_no_codeowners(fleet: tuple[Repo, dict[str, str]], index: ProvenanceIndex) -> None:
    _, s = fleet
    dev = Target(name="dev", env="dev")
    assert check_target(dev, FILES, index, parse_codeowners(CODEOWNERS), _opts(), window_start="") == ()
    none = check_target(PROD, FILES, index, None, _opts(), window_start=s["init"])
    assert [f.rule_id for f in none] == [RULE_NO_CODEOWNERS]
    assert none[0].severity is Severity.HIGH and len(none[0].provenance.files) == len(FILES)


def test_resolve_window(index: ProvenanceIndex, fleet: tuple[Repo, dict[str, str]]) -> None:
    _, s = fleet
    now = datetime(2026, 3, 1, tzinfo=UTC)
    w = resolve_window(_opts(), index, "", now=now)
    assert (w.start, w.source) == ("2026-01-30T00:00:00+00:00", "default")
    assert "default" in w.description
    w = resolve_window(_opts(), index, s["merge"][:9], now=now)
    assert (w.start, w.source) == (s["merge"], "previous-run")
    assert "previous run" in w.description
    w = resolve_window(_opts(), index, "0" * 40, now=now)  # unknown previous commit → default
    assert w.source == "default"
    w = resolve_window(_opts(since="7d"), index, s["merge"], now=now)
    assert (w.start, w.source) == ("2026-02-22T00:00:00+00:00", "since")
    w = resolve_window(_opts(since=s["rename"][:8]), index, "", now=now)
    assert (w.start, w.source) == (s["rename"], "since")
    w = resolve_window(_opts(since=s["rename"][:10].upper()), index, "", now=now)  # a sha as GitHub may show it
    assert (w.start, w.source) == (s["rename"], "since")


@pytest.mark.parametrize(
    ("owner", "person", "is_owner"),
    [
        ("@alice", Person.from_trailer("Alice <alice@example.com>"), True),
        ("@alice", Person.from_trailer("alice@example.com"), True),
        ("@alice", Person.from_trailer("@alice"), True),
        ("@org/sre", Person.from_trailer("@bob"), True),
        ("@org/sre", Person.from_trailer("Bob <bob@example.com>"), True),
        ("@org/sre", Person.from_trailer("@alice"), False),
        ("ops@example.com", Person.from_trailer("Ops <OPS@example.com>"), True),
        ("@platform", Person.from_trailer("Eve <eve@example.com>"), False),
        ("@carol", Person.from_trailer("C <9+carol@users.noreply.github.com>"), True),
    ],
)
def test_identities(owner: str, person: Person, is_owner: bool) -> None:
    ids = Identities(IDENTITIES)
    assert (ids.owner_of(person, [owner]) == owner) is is_owner


def test_identity_cycles_terminate() -> None:
    ids = Identities({"@org/a": ("@org/b",), "@org/b": ("@org/a", "x@example.com", "@carol")})
    assert ids.expand("@org/a") == (frozenset({"x@example.com"}), frozenset({"carol"}))


def test_codeowners_file_problems_as_findings() -> None:
    co = parse_codeowners("* @a\n!x @b\n", ".github/CODEOWNERS")
    (f,) = check_codeowners_file(co, "t")
    assert f.severity is Severity.LOW and f.path == ".github/CODEOWNERS:2"


DEMO_IDENTITIES = {
    "@alice": ("alice@acme.example.com",),
    "@bob": ("bob@acme.example.com",),
    "@carol": ("carol@acme.example.com",),
    "@dave": ("dave@acme.example.com",),
    "@acme/sre-leads": ("@alice",),
    "@acme/platform": ("@alice", "@bob"),
    "@acme/payments": ("@carol",),
    "@acme/developers": ("@dave", "@bob"),
}


def test_demo_fleet_unapproved_production_change(tmp_path: Path) -> None:
    from auditor.demo import fleet
    from auditor.render.kustomize.build import prepare_tree, render_overlay
    from auditor.render.tools import find_kustomize
    from auditor.repo.git import open_repo
    from auditor.repo.options import SourceOptions

    demo = fleet.create_demo(tmp_path / "demo")
    src = SourceOptions()
    repo = open_repo(str(demo.root), src)
    index = build_index(repo.git_dir, "HEAD")
    tree = prepare_tree(repo, index.head, tmp_path / "tree", src)
    rendered = render_overlay(find_kustomize(src), tree, "overlays/production/eu-west",
                              default_namespace="default", options=src)
    files = sorted({f.path for m in rendered.objects for f in m.provenance.files})
    assert "overlays/production/eu-west/patch-payments-resources.yaml" in files
    co = load_codeowners_at(repo.git_dir, index.head)
    assert co is not None and co.problems == ()
    target = Target(name="production-eu-west", env="production", path="overlays/production/eu-west")
    opts = ChangeControlOptions(protected_envs=("production",), identities=DEMO_IDENTITIES)
    findings = check_target(target, files, index, co, opts, window_start="2026-09-01T00:00:00+00:00")

    unapproved = _by_rule(findings, RULE_UNAPPROVED)
    dave = [f for f in unapproved if f.details["author_email"] == "dave@acme.example.com"]
    assert len(dave) == 1
    f = dave[0]
    assert f.details["subject"] == "payments: raise memory limit to 2Gi in eu-west"
    assert f.owners == ("@acme/sre-leads", "@alice")
    assert f.details["files"] == ["overlays/production/eu-west/kustomization.yaml",
                                  "overlays/production/eu-west/patch-payments-resources.yaml"]
    assert f.details["sha"][:7] in f.message and "Dave Okafor" in f.message
    assert "@acme/sre-leads, @alice" in f.message
    # DRIFT.md: every other commit touching overlays/production/ is by an owner or approved by one
    prod = [x for x in unapproved if any(p.startswith("overlays/production/") for p in x.details["files"])]
    assert prod == dave
    # every flagged commit carries its files, with the commit and owners
    for x in unapproved:
        assert x.provenance.files and all(p.commit is not None and p.owners for p in x.provenance.files)
    assert _by_rule(findings, RULE_UNMAPPED_OWNER) == []


def test_commits_judged_by_the_codeowners_in_force_before_them(tmp_path: Path) -> None:
    r = Repo(tmp_path / "repo")
    base = r.commit("init", {".github/CODEOWNERS": "/.github/ @alice\n/prod/ @alice\n", "prod/a.yaml": "a: 0\n"},
                    ALICE)
    hijack = r.commit("own everything", {".github/CODEOWNERS": "/.github/ @mallory\n/prod/ @mallory\n"},
                      MALLORY)
    after = r.commit("prod change", {"prod/a.yaml": "a: 1\n"}, MALLORY)
    index = build_index(r.root, "HEAD")
    current = load_codeowners_at(r.root, "HEAD")
    assert current is not None
    opts = _opts(identities={**IDENTITIES, "@mallory": ("mallory@example.com",)})
    findings = check_target(PROD, ["prod/a.yaml"], index, current, opts, window_start=base)
    flagged = {f.details["sha"]: f for f in _by_rule(findings, RULE_UNAPPROVED)}
    # the CODEOWNERS edit was judged by the previous file (owned by @alice), so it is caught
    assert set(flagged) == {hijack}
    assert flagged[hijack].owners == ("@alice",)
    assert flagged[hijack].details["files"] == [".github/CODEOWNERS"]
    # ... while the later change is made under the (hijacked) rules in force at the time
    assert after not in flagged


def test_target_level_findings_in_full(fleet: tuple[Repo, dict[str, str]], index: ProvenanceIndex) -> None:
    """No CODEOWNERS, unowned files and unmapped owners: every field (mutation run of bench/mutation.py)."""
    r, s = fleet
    (none,) = check_target(PROD, ["/prod/a.yaml", "", "base/x.yaml"], index, None, _opts(), window_start=s["init"])
    assert (none.target, none.category, none.rule_id, none.severity) == (
        "prod-us", Category.CHANGE_CONTROL, RULE_NO_CODEOWNERS, Severity.HIGH)
    assert none.message == ("protected target prod-us has no CODEOWNERS file (looked in .github/, the root and "
                            "docs/): no file is owned and no change can be approved")
    assert none.details == {"files": ["base/x.yaml", "prod/a.yaml"]}  # leading "/" dropped, empty ignored
    assert [(p.path, p.role, p.owners, p.commit.sha if p.commit else None) for p in none.provenance.files] == [
        ("base/x.yaml", "resource", (), s["pr_commit"]), ("prod/a.yaml", "resource", (), s["pr_commit"])]

    co = load_codeowners_at(r.root, "HEAD")
    found = check_target(PROD, FILES, index, co, _opts(identities={}), window_start=s["init"],
                         roles={"prod/free.yaml": "patch"})
    unowned = {f.path: f for f in _by_rule(found, RULE_UNOWNED)}
    free = unowned["prod/free.yaml"]
    assert (free.target, free.category) == ("prod-us", Category.CHANGE_CONTROL)
    assert free.message.startswith("prod/free.yaml feeds protected target prod-us but is explicitly unowned")
    assert free.details == {"file": "prod/free.yaml", "codeowners": ".github/CODEOWNERS", "rule_line": 3,
                            "rule_pattern": free.details["rule_pattern"]}
    assert free.details["rule_pattern"]
    assert [(p.path, p.role, p.owners) for p in free.provenance.files] == [("prod/free.yaml", "patch", ())]
    assert unowned["other/y.yaml"].details == {"file": "other/y.yaml", "codeowners": ".github/CODEOWNERS",
                                               "rule_line": None, "rule_pattern": None}
    assert unowned["other/y.yaml"].provenance.files[0].role == "resource"
    assert {f.details["window_start"] for f in _by_rule(found, RULE_UNAPPROVED)} == {s["init"]}
    (unmapped,) = _by_rule(found, RULE_UNMAPPED_OWNER)
    commits = len(_by_rule(found, RULE_UNAPPROVED))
    assert (unmapped.target, unmapped.category, unmapped.path) == (
        "prod-us", Category.CHANGE_CONTROL, "@alice,@org/sre,@platform")
    assert unmapped.details == {"owners": ["@alice", "@org/sre", "@platform"]}
    assert unmapped.message == (
        "owners of prod-us's files have no identities in change_control.identities: @alice, @org/sre, @platform; "
        f"their commits and approvals cannot be recognised ({commits} commit finding(s) may be affected)")
    # No commit in the window: the same finding without the note about commit findings.
    quiet = check_target(PROD, FILES, index, co, _opts(identities={}), window_start=s["outside"])
    (unmapped,) = _by_rule(quiet, RULE_UNMAPPED_OWNER)
    assert unmapped.message.endswith("their commits and approvals cannot be recognised")
