"""Change-control building blocks, edge by edge (what the mutation run of bench/mutation.py left unguarded):
who a commit's author or a trailer's approver is, the audit window's description, owner identities."""

from __future__ import annotations

import pytest

from auditor.model import CommitInfo
from auditor.source.changecontrol import AuditWindow, Identities, Person, _is_sha, _relation


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
