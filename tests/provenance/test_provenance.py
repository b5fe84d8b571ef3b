"""Provenance index over real git repositories: authors, dates, renames, merges, trailers, signatures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.errors import SourceError
from auditor.model import FileProvenance, Provenance
from auditor.provenance.codeowners import parse_codeowners
from auditor.provenance.index import ProvenanceIndex, attach, build_index, parse_since, removal_of
from auditor.util import proc

ALICE = ("Alice", "alice@example.com")
BOB = ("Bob", "bob@example.com")
CAROL = ("Carol", "carol@example.com")


class Repo:
    """A throw-away git repository with explicit authors and dates per commit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, who: tuple[str, str] = ALICE, date: str = "2026-01-01T00:00:00+00:00",
            committer: tuple[str, str] | None = None, stdin: bytes | None = None) -> str:
        c = committer or who
        env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_AUTHOR_NAME": who[0], "GIT_AUTHOR_EMAIL": who[1], "GIT_AUTHOR_DATE": date,
               "GIT_COMMITTER_NAME": c[0], "GIT_COMMITTER_EMAIL": c[1], "GIT_COMMITTER_DATE": date}
        res = proc.run(["git", *args], cwd=self.root, env=env, action="test git", input_bytes=stdin)
        return res.stdout.decode().strip()

    def write(self, rel: str, text: str) -> None:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def commit(self, message: str, files: dict[str, str] | None = None, *, who: tuple[str, str] = ALICE,
               date: str = "2026-01-01T00:00:00+00:00", committer: tuple[str, str] | None = None) -> str:
        for rel, text in (files or {}).items():
            self.write(rel, text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, who=who, date=date, committer=committer)
        return self.git("rev-parse", "HEAD")

    def signed_commit(self, message: str, *, date: str = "2026-03-01T00:00:00+00:00") -> str:
        """Write a commit object carrying a gpgsig header by hand (no gpg needed to *detect* one)."""
        tree = self.git("write-tree")
        parent = self.git("rev-parse", "HEAD")
        ts = int(datetime.fromisoformat(date).timestamp())
        body = (
            f"tree {tree}\nparent {parent}\n"
            f"author Alice <alice@example.com> {ts} +0000\n"
            f"committer Alice <alice@example.com> {ts} +0000\n"
            "gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n"
            f"\n{message}\n"
        )
        sha = self.git("hash-object", "-t", "commit", "-w", "--stdin", stdin=body.encode())
        self.git("update-ref", "HEAD", sha)
        self.git("reset", "-q", "--hard", sha)
        return sha


@pytest.fixture
def history(tmp_path: Path) -> tuple[Repo, dict[str, str]]:
    """Linear history + a feature branch merged with --no-ff + a rename + trailers."""
    r = Repo(tmp_path / "repo")
    s: dict[str, str] = {}
    s["init"] = r.commit("init", {"base/deploy.yaml": "replicas: 1\n", "base/svc.yaml": "port: 80\n",
                                  "README.md": "x\n"}, who=ALICE, date="2026-01-01T10:00:00+00:00")
    s["bob1"] = r.commit("bump replicas", {"base/deploy.yaml": "replicas: 2\n"}, who=BOB,
                         date="2026-01-05T10:00:00+01:00")
    r.git("mv", "base/svc.yaml", "base/service.yaml")
    s["rename"] = r.commit("rename service\n\nApproved-by: Alice <alice@example.com>\n"
                           "Reviewed-by: Carol <carol@example.com>", who=CAROL,
                           date="2026-01-10T10:00:00+00:00")
    r.git("checkout", "-q", "-b", "feature")
    s["feat"] = r.commit("feature port", {"base/service.yaml": "port: 8080\n"}, who=BOB,
                         date="2026-01-12T10:00:00+00:00")
    r.git("checkout", "-q", "main")
    s["main2"] = r.commit("docs", {"README.md": "y\n"}, who=ALICE, date="2026-01-13T10:00:00+00:00")
    r.git("merge", "-q", "--no-ff", "-m", "Merge pull request #7 from bob/feature", "feature",
          who=ALICE, date="2026-01-14T10:00:00+00:00")
    s["merge"] = r.git("rev-parse", "HEAD")
    s["signed"] = r.signed_commit("signed change")
    return r, s


def test_last_commit_per_path(history: tuple[Repo, dict[str, str]]) -> None:
    r, s = history
    idx = build_index(r.root, "HEAD")
    assert isinstance(idx, ProvenanceIndex)
    assert idx.head == s["signed"]
    dep = idx.last_commit("base/deploy.yaml")
    assert dep is not None and dep.sha == s["bob1"]
    assert (dep.author_name, dep.author_email) == BOB
    assert dep.author_date == "2026-01-05T10:00:00+01:00"
    assert dep.subject == "bump replicas"
    assert not dep.signed
    # changed on the branch: attributed to the branch commit, not the merge
    svc = idx.last_commit("base/service.yaml")
    assert svc is not None and svc.sha == s["feat"]
    readme = idx.last_commit("/README.md")  # leading slash tolerated
    assert readme is not None and readme.sha == s["main2"]
    assert idx.last_commit("nope.yaml") is None
    # the old name's last commit is the rename
    old = idx.last_commit("base/svc.yaml")
    assert old is not None and old.sha == s["rename"]


def test_matches_git_log_per_path(history: tuple[Repo, dict[str, str]]) -> None:
    r, _ = history
    idx = build_index(r.root, "HEAD")
    for path in ("base/deploy.yaml", "base/service.yaml", "README.md"):
        expected = r.git("log", "-1", "--format=%H", "HEAD", "--", path)
        got = idx.last_commit(path)
        assert got is not None and got.sha == expected, path


def test_commit_metadata_trailers_merges_signature(history: tuple[Repo, dict[str, str]]) -> None:
    r, s = history
    idx = build_index(r.root / ".git", s["signed"])  # a .git dir works as well as the worktree
    ren = idx.commit(s["rename"])
    assert ren is not None
    assert ren.info.trailers == (("Approved-by", "Alice <alice@example.com>"),
                                 ("Reviewed-by", "Carol <carol@example.com>"))
    assert ren.info.committer_email == CAROL[1]
    assert [(c.status, c.path, c.old_path) for c in ren.changes] == [
        ("R", "base/service.yaml", "base/svc.yaml")]
    merge = idx.commit(s["merge"][:10])  # abbreviated sha
    assert merge is not None and merge.info.parents == 2 and merge.changes == ()
    assert idx.commit(s["init"]) is not None and idx.commit(s["init"]).info.parents == 0  # type: ignore[union-attr]
    signed = idx.commit(s["signed"])
    assert signed is not None and signed.info.signed
    assert sum(c.info.signed for c in idx.commits) == 1


def test_commits_touching_follows_renames_and_windows(history: tuple[Repo, dict[str, str]]) -> None:
    r, s = history
    idx = build_index(r.root, "HEAD")
    touched = idx.commits_touching(["base/service.yaml"])
    assert [t.commit.sha for t in touched] == [s["feat"], s["rename"], s["init"]]
    assert touched[2].files == ("base/service.yaml",)
    assert touched[2].touched_as == ("base/svc.yaml",)  # known by its old name then
    # merged_by: the feature commit came in through the PR merge; mainline commits did not
    assert touched[0].merged_by is not None and touched[0].merged_by.sha == s["merge"]
    assert touched[1].merged_by is None
    # window by commit sha (like rename..HEAD)
    since_sha = idx.commits_touching(["base/service.yaml", "base/deploy.yaml"], s["rename"])
    assert [t.commit.sha for t in since_sha] == [s["feat"]]
    # window by date
    since_date = idx.commits_touching(["base/deploy.yaml", "base/service.yaml"], "2026-01-05T08:30:00Z")
    assert [t.commit.sha for t in since_date] == [s["feat"], s["rename"], s["bob1"]]
    # relative age measured from an explicit now
    now = datetime(2026, 1, 13, tzinfo=UTC)
    rel = idx.commits_touching(["base/service.yaml"], "5d", now=now)
    assert [t.commit.sha for t in rel] == [s["feat"], s["rename"]]


def test_parse_since() -> None:
    now = datetime(2026, 2, 1, tzinfo=UTC)
    assert parse_since("30d", now) == datetime(2026, 1, 2, tzinfo=UTC)
    assert parse_since("2 weeks ago", now) == datetime(2026, 1, 18, tzinfo=UTC)
    assert parse_since("2026-01-02", now) == datetime(2026, 1, 2, tzinfo=UTC)
    with pytest.raises(SourceError, match="window start"):
        parse_since("yesterday-ish", now)


def test_attach_fills_commits_and_owners(history: tuple[Repo, dict[str, str]]) -> None:
    r, s = history
    idx = build_index(r.root, "HEAD")
    co = parse_codeowners("* @platform\n/base/service.yaml @net @alice\n/README.md\n")
    prov = Provenance(files=(FileProvenance("base/service.yaml"),
                             FileProvenance("overlays/missing.yaml", role="patch"),
                             FileProvenance("README.md", role="config")))
    out = attach(prov, idx, co)
    assert out.files[0].commit is not None and out.files[0].commit.sha == s["feat"]
    assert out.files[0].owners == ("@net", "@alice")
    assert out.files[1].commit is None and out.files[1].owners == ("@platform",)
    assert out.files[2].owners == ()
    # without CODEOWNERS, owners already present are kept
    keep = attach(Provenance(files=(FileProvenance("README.md", owners=("@x",)),)), idx, None)
    assert keep.files[0].owners == ("@x",)


def test_unknown_commit_is_a_source_error(tmp_path: Path) -> None:
    r = Repo(tmp_path / "r")
    r.commit("init", {"a": "1\n"})
    with pytest.raises(Exception, match="resolve"):
        build_index(r.root, "does-not-exist")


def test_paths_with_spaces_and_unicode(tmp_path: Path) -> None:
    r = Repo(tmp_path / "r")
    sha = r.commit("odd names", {"dir with space/ä ö.yaml": "a: 1\n", "tab\tname": "x\n"})
    idx = build_index(r.root, "HEAD")
    hit = idx.last_commit("dir with space/ä ö.yaml")
    assert hit is not None and hit.sha == sha
    hit2 = idx.last_commit("tab\tname")
    assert hit2 is not None and hit2.sha == sha


def test_signature_text_in_message_is_not_a_signature(tmp_path: Path) -> None:
    r = Repo(tmp_path / "r")
    r.commit("init", {"a": "1\n"})
    sha = r.commit("mentions\n\ngpgsig -----BEGIN PGP SIGNATURE-----\ngpgsig-sha256 x", {"a": "2\n"})
    signed = r.signed_commit("really signed")
    idx = build_index(r.root, "HEAD")
    assert idx.commit(sha) is not None and not idx.commit(sha).info.signed  # type: ignore[union-attr]
    assert idx.commit(signed) is not None and idx.commit(signed).info.signed  # type: ignore[union-attr]


def test_shallow_clone_is_flagged(history: tuple[Repo, dict[str, str]], tmp_path: Path) -> None:
    r, _ = history
    assert not build_index(r.root, "HEAD").shallow
    clone = tmp_path / "shallow"
    r.git("clone", "-q", "--depth", "2", f"file://{r.root}", str(clone))
    idx = build_index(clone, "HEAD")
    assert idx.shallow and len(idx) == 2


def test_removal_of_finds_the_deleting_commit(tmp_path: Path) -> None:
    r = Repo(tmp_path / "r")
    gw = ("# old gateway\napiVersion: v1\nkind: Service\nmetadata:\n  name: legacy-gateway\n---\n"
          "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: legacy-gateway\n  labels: {a: b}\n")
    r.commit("add", {"base/gw/all.yaml": gw, "base/web.yaml": "kind: Deployment\nmetadata:\n  name: web\n"},
             who=ALICE, date="2026-01-01T00:00:00+00:00")
    r.git("rm", "-q", "base/gw/all.yaml")
    removed = r.commit("Remove gateway\n\nApproved-by: Alice <alice@example.com>", who=CAROL,
                       date="2026-02-01T00:00:00+00:00")
    r.commit("later", {"README.md": "x\n"}, who=BOB, date="2026-03-01T00:00:00+00:00")
    idx = build_index(r.root, "HEAD")
    hit = removal_of(idx, "Deployment", "prod-legacy-gateway")  # name prefix added by an overlay
    assert hit is not None
    assert (hit.path, hit.role, hit.line) == ("base/gw/all.yaml", "removed", 8)
    assert hit.commit is not None and hit.commit.sha == removed and hit.commit.author_name == "Carol"
    svc = removal_of(idx, "Service", "legacy-gateway")
    assert svc is not None and svc.line == 3
    assert removal_of(idx, "Deployment", "web") is None  # never deleted
    assert removal_of(idx, "ConfigMap", "legacy-gateway") is None
