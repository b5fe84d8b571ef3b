"""Change-control building blocks, edge by edge (what the mutation run of bench/mutation.py left unguarded):
who a commit's author or a trailer's approver is, the audit window's description, owner identities."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from auditor.model import Approval, Category, CommitInfo, FileProvenance, Severity, Target
from auditor.provenance.changecontrol import (
    RULE_UNAPPROVED,
    RULE_UNSIGNED,
    AuditWindow,
    Identities,
    Person,
    _commit_findings,
    _is_sha,
    _relation,
    approval_evidence,
    check_codeowners_file,
    commit_verdict,
    target_paths,
    utc_iso,
)
from auditor.provenance.changeinputs import ChangeRecord, PlatformResult
from auditor.provenance.codeowners import parse_codeowners
from auditor.provenance.index import TouchedCommit
from auditor.provenance.options import ChangeControlOptions


@pytest.mark.parametrize(("value", "email", "login"), [
    ("Bob Builder <Bob@Example.COM>", "bob@example.com", ""),
    ("bob@example.com", "bob@example.com", ""),
    ("  reviewed by carol@example.com (lgtm)", "carol@example.com", ""),
    ("Dave <12345+DaveD@users.noreply.github.com>", "12345+daved@users.noreply.github.com", "daved"),
    ("erin@users.noreply.github.com", "erin@users.noreply.github.com", "erin"),
    ("@Frank_O.k", "", "frank_o.k"),
    ("Approved-by: @gina", "", "gina"),
    ("nobody in particular", "", ""),
    ("x <not-an-email> y@z.io", "y@z.io", ""),
    ("bob@users.noreply.github.com.evil.example", "bob@users.noreply.github.com.evil.example", ""),
])
def test_person_from_trailer(value: str, email: str, login: str) -> None:
    p = Person.from_trailer(value)
    assert (p.display, p.email, p.login) == (value, email, login)


def test_person_from_commit() -> None:
    c = CommitInfo("a" * 40, "Alice Admin", "Alice@Example.com", "2026-01-01T00:00:00+00:00")
    assert Person.from_commit(c) == Person("Alice Admin <Alice@Example.com>", "alice@example.com", "")
    c = CommitInfo("a" * 40, "Al", "7+AL@users.noreply.github.com", "2026-01-01T00:00:00+00:00")
    assert Person.from_commit(c).login == "al"


@pytest.mark.parametrize(("start", "source", "text"), [
    ("1a2b3c4d5e6f7a8b9c0d", "previous-run", "commits after 1a2b3c4d5e6f (previous run)"),
    ("1a2b3c4", "since", "commits after 1a2b3c4 (since)"),
    ("2026-01-01T00:00:00+00:00", "default", "commits since 2026-01-01T00:00:00+00:00 (default)"),
])
def test_window_description(start: str, source: str, text: str) -> None:
    assert AuditWindow(start, source).description == text


@pytest.mark.parametrize(("text", "is_sha"), [("1a2b3c4", True), ("1a2b3c", False), ("A1B2C3D", False),
                                              ("a" * 64, True), ("a" * 65, False), ("1a2b3c4x", False)])
def test_is_sha(text: str, is_sha: bool) -> None:
    assert _is_sha(text) is is_sha


def test_relation() -> None:
    assert _relation("codeowners") == "governs change control of"
    assert _relation("resource") == _relation("patch") == "feeds"


def test_identities_expand_teams_emails_logins() -> None:
    ids = Identities({" @Acme/Platform ": ["@Alice", "bob@example.com", "@acme/sre"], "@acme/sre": ["@Carol"],
                      "@alice": ["alice@example.com"], "dave@example.com": ["@dave-gh"]})
    emails, logins = ids.expand("@ACME/platform")
    assert emails == {"bob@example.com", "alice@example.com"}
    assert logins == {"alice", "carol"}  # teams are not logins
    assert ids.expand("@acme/platform") is ids.expand(" @acme/PLATFORM")  # cached by normalized key
    assert ids.expand("dave@example.com") == (frozenset({"dave@example.com"}), frozenset({"dave-gh"}))
    assert ids.expand("@nobody") == (frozenset(), frozenset({"nobody"}))


def test_owner_of_first_matching_owner() -> None:
    ids = Identities({"@acme/platform": ["@alice", "bob@example.com"]})
    alice = Person("Alice", login="alice")
    bob = Person("Bob", email="bob@example.com")
    eve = Person("Eve", email="eve@example.com", login="eve")
    assert ids.owner_of(alice, ["@zed", "@acme/platform", "@alice"]) == "@acme/platform"
    assert ids.owner_of(bob, ["@acme/platform"]) == "@acme/platform"
    assert ids.owner_of(eve, ["@acme/platform", "@zed"]) is None
    assert ids.owner_of(Person("x"), ["@acme/platform"]) is None  # no email, no login: nobody
    assert ids.owner_of(Person("y", login=""), [""]) is None


# --------------------------------------------------------------------------- one commit, judged


PROD = Target("prod", env="production")
OWNERS = {"apps/web.yaml": ("@acme/web",), "apps/db.yaml": ("@acme/db", "@dba"), "apps/free.yaml": ()}
IDS = Identities({"@acme/web": ["@alice", "web-lead@example.com"], "@acme/db": ["carol@example.com"],
                  "@dba": ["@dan"]})
KEYS = ("Approved-by", "Reviewed-by")


def commit(author: str, email: str, *trailers: tuple[str, str], signed: bool = False, sha: str = "b" * 40
           ) -> CommitInfo:
    return CommitInfo(sha, author, email, "2026-11-02T10:00:00+00:00", committer_name="Git Hub",
                      committer_email="noreply@github.com", commit_date="2026-11-02T11:00:00+00:00",
                      subject="change things", signed=signed, trailers=tuple(trailers))


def fp(path: str, c: CommitInfo | None, owners: tuple[str, ...] = ()) -> FileProvenance:
    return FileProvenance(path, role="resource", commit=c, owners=owners)


def judge(tc: TouchedCommit, **opts: object) -> list:
    """One commit's findings: its verdict against OWNERS, then the findings of that verdict."""
    options = ChangeControlOptions(protected_envs=("production",), approval_trailers=KEYS,  # type: ignore[arg-type]
                                   **opts)
    rec = ChangeRecord(tc.commit, tc.files, renames=tc.renamed, merged_by=tc.merged_by)
    owners_then = {p: OWNERS.get(p, ()) for p in tc.files}
    verdict = commit_verdict(rec, tc.files, owners_then, IDS, options)
    return _commit_findings(PROD, rec, tc.files, tc.touched_as, verdict, owners_then, options, fp, "a" * 40)


def test_unapproved_commit_finding_in_full() -> None:
    c = commit("Mallory", "mallory@example.com", ("Reviewed-by", "Eve <eve@example.com>"))
    tc = TouchedCommit(c, ("apps/web.yaml", "apps/db.yaml", "apps/free.yaml"), ("apps/old-web.yaml",))
    (f,) = judge(tc)
    assert (f.rule_id, f.category, f.severity, f.path) == (RULE_UNAPPROVED, Category.CHANGE_CONTROL, Severity.HIGH,
                                                           c.sha)
    assert f.message == ("commit bbbbbbb by Mallory <mallory@example.com> changed apps/web.yaml and 1 more file(s) "
                         "without approval by an owner (required: @acme/web, @acme/db, @dba)")
    assert f.owners == ("@acme/web", "@acme/db", "@dba")
    assert [(p.path, p.commit, p.owners) for p in f.provenance.files] == [
        ("apps/web.yaml", c, ("@acme/web",)), ("apps/db.yaml", c, ("@acme/db", "@dba"))]
    assert f.details == {
        "sha": c.sha, "short": "bbbbbbb", "author": "Mallory", "author_email": "mallory@example.com",
        "author_date": c.author_date, "committer": "Git Hub <noreply@github.com>", "commit_date": c.commit_date,
        "subject": "change things", "files": list(tc.files), "touched_as": ["apps/old-web.yaml"], "merged_by": "",
        "window_start": "a" * 40,
        "required_owners": {"apps/web.yaml": ["@acme/web"], "apps/db.yaml": ["@acme/db", "@dba"]},
        "approvals_found": ["Reviewed-by: Eve <eve@example.com>"], "approved_files": {},
    }


def test_one_file_unapproved_says_so_without_more() -> None:
    c = commit("Mallory", "mallory@example.com", ("Approved-by", "@alice"))
    (f,) = judge(TouchedCommit(c, ("apps/web.yaml", "apps/db.yaml")))
    assert "changed apps/db.yaml without approval by an owner (required: @acme/db, @dba)" in f.message
    assert f.details["approved_files"] == {"apps/web.yaml": "Approved-by: @alice (@acme/web)"}


def test_author_owner_trailers_and_merge_approve() -> None:
    by_owner = commit("Carol", "Carol@example.com")
    assert judge(TouchedCommit(by_owner, ("apps/db.yaml",))) == []
    approved = commit("Mallory", "m@example.com", ("approved-by", "Dan <x@y.z>"), ("Reviewed-By", "@dan"))
    assert judge(TouchedCommit(approved, ("apps/db.yaml",))) == []
    other_key = commit("Mallory", "m@example.com", ("Signed-off-by", "@dan"))
    assert [f.rule_id for f in judge(TouchedCommit(other_key, ("apps/db.yaml",)))] == [RULE_UNAPPROVED]
    merge = commit("Alice", "alice@users.noreply.github.com", sha="c" * 40)
    merged = TouchedCommit(commit("Mallory", "m@example.com"), ("apps/web.yaml",), merged_by=merge)
    assert judge(merged) == []
    (f,) = judge(merged, accept_merge_commits=False)
    assert f.details["merged_by"] == "c" * 40 and f.details["approvals_found"] == []
    merge_trailer = commit("Bot", "bot@example.com", ("Approved-by", "@alice"), sha="d" * 40)
    via = TouchedCommit(commit("Mallory", "m@example.com"), ("apps/web.yaml", "apps/db.yaml"), merged_by=merge_trailer)
    (f,) = judge(via)
    assert f.details["approvals_found"] == ["merge ddddddd by Bot", "Approved-by: @alice (on merge ddddddd)"]
    assert f.details["approved_files"] == {"apps/web.yaml": "Approved-by: @alice (on merge ddddddd) (@acme/web)"}


def test_unsigned_commits_when_required() -> None:
    c = commit("Carol", "carol@example.com")
    assert judge(TouchedCommit(c, ("apps/db.yaml",))) == []
    (f,) = judge(TouchedCommit(c, ("apps/db.yaml", "apps/free.yaml")), require_signed=True,
                 unsigned_severity=Severity.LOW)
    assert (f.rule_id, f.severity, f.path) == (RULE_UNSIGNED, Severity.LOW, c.sha)
    assert f.message == "commit bbbbbbb by Carol <carol@example.com> to protected files of prod is not signed"
    assert [(p.path, p.owners) for p in f.provenance.files] == [("apps/db.yaml", ("@acme/db", "@dba")),
                                                                 ("apps/free.yaml", ())]
    assert "required_owners" not in f.details and f.details["sha"] == c.sha
    signed = commit("Carol", "carol@example.com", signed=True)
    assert judge(TouchedCommit(signed, ("apps/db.yaml",)), require_signed=True) == []


def test_codeowners_file_problems() -> None:
    co = parse_codeowners("* @acme/web\n/docs/ not-an-owner\n[Section]\n", path=".github/CODEOWNERS")
    found = check_codeowners_file(co, "prod")
    assert found and all(f.rule_id == "change-control.codeowners-invalid-line" for f in found)
    first = found[0]
    p = co.problems[0]
    assert (first.target, first.severity, first.category) == ("prod", Severity.LOW, Category.CHANGE_CONTROL)
    assert first.path == f".github/CODEOWNERS:{p.line}"
    assert first.message == f".github/CODEOWNERS:{p.line}: {p.message} (GitHub skips this line)"
    assert first.details == {"file": ".github/CODEOWNERS", "line": p.line, "text": p.text}


def test_unowned_files_before_owned_ones_and_author_owning_some() -> None:
    c = commit("Mallory", "m@example.com")
    (f,) = judge(TouchedCommit(c, ("apps/free.yaml", "apps/web.yaml")))
    assert f.details["required_owners"] == {"apps/web.yaml": ["@acme/web"]}
    alice = commit("Alice", "alice@users.noreply.github.com")
    (f,) = judge(TouchedCommit(alice, ("apps/web.yaml", "apps/db.yaml")))
    assert f.details["approved_files"] == {"apps/web.yaml": "author is @acme/web"}
    assert f.details["required_owners"] == {"apps/db.yaml": ["@acme/db", "@dba"]}


def test_unsigned_finding_fields() -> None:
    c = commit("Carol", "carol@example.com")
    (f,) = judge(TouchedCommit(c, ("apps/db.yaml",)), require_signed=True)
    assert (f.target, f.category) == ("prod", Category.CHANGE_CONTROL)
    assert [p.commit for p in f.provenance.files] == [c]


def test_identities_go_on_after_a_repeated_member() -> None:
    ids = Identities({"@t": ["c@example.com", "@a", "@a"]})
    assert ids.expand("@t") == (frozenset({"c@example.com"}), frozenset({"t", "a"}))  # a user stands for itself too


def test_angle_email_wins_over_other_addresses() -> None:
    assert Person.from_trailer("ops@team <lead@example.com>").email == "lead@example.com"


def test_codeowners_problems_default_to_no_target() -> None:
    co = parse_codeowners("/ @a\n")
    assert [f.target for f in check_codeowners_file(co)] == [""]


def test_email_owners_are_never_unmapped() -> None:
    from auditor.provenance.changecontrol import _unmapped_owners

    ids = Identities({"@mapped": ["m@example.com"]})
    assert _unmapped_owners([("ops@example.com", "@mapped", "@ghost"), ("@org/team",)], ids) == [
        "@ghost", "@org/team"]


# --------------------------------------------------------------------------- evidence records, dates, platform details


def test_approval_evidence_records_platform_trailers_and_merge_in_order() -> None:
    review = Approval("Bob <Bob@example.com>", "github-review", "https://git.example/pull/42#review-1",
                      "2026-11-02T12:00:00Z")
    bare = Approval("@Carol", "gitlab-approval")
    merge = CommitInfo("c" * 40, "Alice", "Alice@example.com", "2026-11-03T09:00:00+02:00",
                       commit_date="2026-11-03T12:30:00+01:00", trailers=(("reviewed-BY", "@dan"),))
    c = commit("Mallory", "m@example.com", ("Approved-by", "Dan <dan@example.com>"), ("Signed-off-by", "@eve"))
    rec = ChangeRecord(c, ("apps/web.yaml",), merged_by=merge, platform=PlatformResult("#42", "u", (review, bare)))
    options = ChangeControlOptions(approval_trailers=(" Approved-By ", "Reviewed-by"))
    assert [(e.person, e.how, e.approval) for e in approval_evidence(rec, options)] == [
        (Person("Bob <Bob@example.com>", "bob@example.com"),
         "github-review https://git.example/pull/42#review-1: Bob <Bob@example.com>", review),
        (Person("@Carol", login="carol"), "gitlab-approval #42: @Carol", bare),
        (Person("Dan <dan@example.com>", "dan@example.com"), "Approved-by: Dan <dan@example.com>",
         Approval("Dan <dan@example.com>", "trailer", "Approved-by: Dan <dan@example.com>")),
        (Person("Alice <Alice@example.com>", "alice@example.com"), "merge ccccccc by Alice",
         Approval("Alice <Alice@example.com>", "merge-commit", "c" * 40, "2026-11-03T11:30:00Z")),
        (Person("@dan", login="dan"), "reviewed-BY: @dan (on merge ccccccc)",
         Approval("@dan", "trailer", "reviewed-BY: @dan (on merge ccccccc)")),
    ]


def test_merge_evidence_falls_back_to_the_author_date() -> None:
    merge = CommitInfo("c" * 40, "Alice", "alice@example.com", "2026-11-03T09:00:00+02:00")
    rec = ChangeRecord(commit("Mallory", "m@example.com"), ("apps/web.yaml",), merged_by=merge)
    (ev,) = approval_evidence(rec, ChangeControlOptions())
    assert ev.approval == Approval("Alice <alice@example.com>", "merge-commit", "c" * 40, "2026-11-03T07:00:00Z")


@pytest.mark.parametrize(("text", "utc"), [
    ("2026-11-02T10:00:00+02:00", "2026-11-02T08:00:00Z"),
    ("2026-11-02T23:30:00-01:45", "2026-11-03T01:15:00Z"),
    ("2026-11-02 10:00:00.000Z", "2026-11-02T10:00:00Z"),  # Z read as UTC, written back in the usual shape
    ("2026-11-02T10:00:00Z", "2026-11-02T10:00:00Z"),
    ("2026-11-02T10:00:00z", "2026-11-02T10:00:00z"),  # does not parse: unchanged
    ("2026-11-02T10:00:00", "2026-11-02T10:00:00"),  # no offset: unchanged, never read as local time
    ("not a date", "not a date"),
    ("", ""),
])
def test_utc_iso(text: str, utc: str) -> None:
    assert utc_iso(text) == utc


@pytest.fixture
def local_zone_ahead_of_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone at UTC+05:30 (a POSIX TZ string: no tz database needed)."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    monkeypatch.setenv("TZ", "XST-5:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_zone_ahead_of_utc")
def test_utc_iso_does_not_depend_on_the_local_zone() -> None:
    assert datetime.now().astimezone().utcoffset() == timedelta(hours=5, minutes=30)
    assert utc_iso("2026-11-02T10:00:00+02:00") == "2026-11-02T08:00:00Z"


def test_platform_answer_in_commit_finding_details() -> None:
    c = commit("Mallory", "m@example.com")
    options = ChangeControlOptions(protected_envs=("production",), approval_trailers=KEYS)
    owners = {"apps/web.yaml": OWNERS["apps/web.yaml"]}
    seen = []
    for platform in (None, PlatformResult("#42", "https://git.example/pull/42"),
                     PlatformResult(error="HTTP 403: rate limited")):
        rec = ChangeRecord(c, ("apps/web.yaml",), platform=platform)
        verdict = commit_verdict(rec, rec.files, owners, IDS, options)
        (f,) = _commit_findings(PROD, rec, rec.files, (), verdict, owners, options, fp, "a" * 40)
        seen.append({k: v for k, v in f.details.items() if k in ("pull_request", "platform_error")})
    assert seen == [{}, {"pull_request": "#42"}, {"pull_request": "", "platform_error": "HTTP 403: rate limited"}]


def test_verdict_owned_only_when_a_touched_file_has_owners() -> None:
    options = ChangeControlOptions()
    rec = ChangeRecord(commit("Mallory", "m@example.com"), ("apps/free.yaml", "apps/web.yaml"))
    unowned = commit_verdict(rec, ("apps/free.yaml",), {"apps/free.yaml": ()}, IDS, options)
    assert (unowned.owned, unowned.unsatisfied, unowned.satisfied_by) == (False, {}, {})
    owned = commit_verdict(rec, rec.files, {"apps/free.yaml": (), "apps/web.yaml": ("@acme/web",)}, IDS, options)
    assert (owned.owned, owned.unsatisfied) == (True, {"apps/web.yaml": ("@acme/web",)})


def test_target_paths_strip_only_leading_slashes() -> None:
    assert target_paths(["/Xapps/web.yaml", "", "XX.yaml", "//apps/db.yaml"], None, ChangeControlOptions()) == (
        ["XX.yaml", "Xapps/web.yaml", "apps/db.yaml"], {})
