"""Approvals from fake GitHub and GitLab APIs on 127.0.0.1, through the product's real HTTP client.

Covers reviews and approvals, paging (Link and x-next-page), a 403 rate limit with a reset the
client waits for, one it must not wait for (reported in the ledger), the on-disk cache (no token in
it), and the change ledger built on a real git history with approved and unapproved commits.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from auditor.model import Target
from auditor.provenance.approvals import make_lookup
from auditor.provenance.changecontrol import RULE_UNAPPROVED, check_target, target_paths
from auditor.provenance.changeinputs import gather
from auditor.provenance.codeowners import parse_codeowners
from auditor.provenance.index import build_index
from auditor.provenance.ledger import build_ledger
from auditor.provenance.options import ApprovalOptions, ChangeControlOptions
from auditor.util import proc

TOKEN = "tok-canary-5f2e9a"
MALLORY = ("Mallory", "mallory@example.com")
ALICE = ("Alice", "alice@example.com")
PROD = Target(name="prod", env="production", path="prod")


class FakeApi:
    """A tiny GitHub + GitLab REST fake: routes → (status, headers, body); records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, list[tuple[int, dict[str, str], Any]]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                queue = api.routes.get(self.path)
                if not queue:
                    self.send_response(404)
                    self.end_headers()
                    return
                status, headers, body = queue[0] if len(queue) == 1 else queue.pop(0)
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v.replace("{base}", api.base))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def on(self, path: str, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Answer ``path`` (with query) — several calls queue answers, the last one repeats."""
        self.routes.setdefault(path, []).append((status, headers or {}, body))


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _git(root: Path, *args: str, who: tuple[str, str] = ALICE, date: str = "2026-02-01T12:00:00+00:00") -> str:
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": who[0],
           "GIT_AUTHOR_EMAIL": who[1], "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_NAME": who[0],
           "GIT_COMMITTER_EMAIL": who[1], "GIT_COMMITTER_DATE": date}
    return proc.run(["git", *args], cwd=root, env=env, action="test git").stdout.decode().strip()


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """main: CODEOWNERS by Alice; three commits by Mallory to prod/ (no trailers): approved on the platform,
    approved on the platform by Mallory herself only, and pushed without any pull request."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / ".github").mkdir()
    (root / ".github" / "CODEOWNERS").write_text("* @alice\n/prod/ @alice\n")
    (root / "prod").mkdir()
    (root / "prod" / "a.yaml").write_text("a: 0\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "bootstrap", date="2026-01-01T00:00:00+00:00")
    shas = {}
    for n, name in enumerate(("reviewed", "self", "direct"), start=1):
        (root / "prod" / "a.yaml").write_text(f"a: {n}\n")
        _git(root, "commit", "-q", "-am", f"change {name}", who=MALLORY, date=f"2026-02-0{n}T12:00:00+00:00")
        shas[name] = _git(root, "rev-parse", "HEAD")
    return root, shas


OPTS = ChangeControlOptions(protected_envs=("production",), since="2026-01-15",
                            identities={"@alice": ("alice@example.com",)})


def _github(api: FakeApi, shas: dict[str, str], *, limited_reset: float | None = None) -> None:
    repo = "/repos/acme/fleet"
    api.on(f"{repo}/commits/{shas['reviewed']}/pulls?per_page=100",
           [{"number": 7, "merged_at": "2026-02-01T13:00:00Z", "html_url": "https://gh/acme/fleet/pull/7"}])
    api.on(f"{repo}/commits/{shas['self']}/pulls?per_page=100",
           [{"number": 8, "merged_at": "2026-02-02T13:00:00Z", "html_url": "https://gh/acme/fleet/pull/8"}])
    api.on(f"{repo}/commits/{shas['direct']}/pulls?per_page=100", [])
    if limited_reset is not None:
        # First answer: rate limited; the next one (after the reset) succeeds.
        api.on(f"{repo}/pulls/7/reviews?per_page=100", {"message": "API rate limit exceeded"}, 403,
               {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(limited_reset))})
    api.on(f"{repo}/pulls/7/reviews?per_page=100",
           [{"id": 1, "user": {"login": "bob"}, "state": "COMMENTED"},
            {"id": 2, "user": {"login": "alice"}, "state": "CHANGES_REQUESTED"}],
           headers={"Link": '<{base}/repos/acme/fleet/pulls/7/reviews?per_page=100&page=2>; rel="next"'})
    api.on(f"{repo}/pulls/7/reviews?per_page=100&page=2",
           [{"id": 3, "user": {"login": "alice"}, "state": "APPROVED", "submitted_at": "2026-02-01T12:30:00Z",
             "html_url": "https://gh/acme/fleet/pull/7#review-3"}])
    api.on(f"{repo}/pulls/8/reviews?per_page=100",
           [{"id": 4, "user": {"login": "mallory"}, "state": "APPROVED", "submitted_at": "2026-02-02T12:30:00Z"}])


def _lookup(api: FakeApi, tmp_path: Path, provider: str, **kw: Any) -> Any:
    opts = ApprovalOptions(provider=provider, api_url=api.base, repository="acme/fleet", token_env="FAKE_TOKEN",
                           cache_dir=str(tmp_path / "cache"), **kw)
    return make_lookup(opts, {"FAKE_TOKEN": TOKEN})


def _ledger(root: Path, lookup: Any, provider: str) -> Any:
    index = build_index(root, "HEAD")
    co = parse_codeowners((root / ".github" / "CODEOWNERS").read_text(), ".github/CODEOWNERS")
    paths, _ = target_paths(["prod/a.yaml"], co, OPTS)
    inputs = gather(index, co, paths, "2026-01-15", platform=provider, lookup=lookup)
    return {e.commit.subject: e for e in build_ledger(inputs, {"prod": paths}, OPTS)}


def test_github_reviews_paging_and_rate_limit_wait(api: FakeApi, history: tuple[Path, dict[str, str]],
                                                   tmp_path: Path) -> None:
    root, shas = history
    _github(api, shas, limited_reset=time.time() + 1)
    lookup = _lookup(api, tmp_path, "github")
    ledger = _ledger(root, lookup, "github")
    reviewed = ledger["change reviewed"]
    assert reviewed.verdict == "approved" and reviewed.approval_source == "github-review"
    assert reviewed.pull_request == "#7" and reviewed.independent_approval
    assert [(a.approver, a.code_owner) for a in reviewed.approvals] == [("@alice", "@alice")]
    # Self-approval by a non-owner proves nothing; a direct push has no pull request at all.
    assert ledger["change self"].verdict == "unapproved" and not ledger["change self"].independent_approval
    assert ledger["change direct"].verdict == "unapproved" and ledger["change direct"].pull_request == ""
    # The token went into the header of every request to the fake, and nowhere else.
    assert all(h.get("authorization") == f"Bearer {TOKEN}" for _, h in api.requests)
    assert any("page=2" in p for p, _ in api.requests)
    assert sum(1 for p, _ in api.requests if p.startswith("/repos/acme/fleet/pulls/7/reviews?per_page=100")) >= 3
    cached = "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert cached and TOKEN not in cached and "#7" in cached
    # Findings agree with the ledger: the two unapproved commits, not the reviewed one.
    findings = check_target(PROD, ["prod/a.yaml"], build_index(root, "HEAD"),
                            parse_codeowners((root / ".github" / "CODEOWNERS").read_text(), ".github/CODEOWNERS"),
                            OPTS, window_start="2026-01-15", lookup=lookup, platform="github")
    flagged = {f.path for f in findings if f.rule_id == RULE_UNAPPROVED}
    assert flagged == {shas["self"], shas["direct"]}


def test_cache_answers_without_requests(api: FakeApi, history: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, shas = history
    _github(api, shas)
    _ledger(root, _lookup(api, tmp_path, "github"), "github")
    before = len(api.requests)
    again = _ledger(root, _lookup(api, tmp_path, "github"), "github")
    assert again["change reviewed"].verdict == "approved"
    # Merged pull requests come from the cache; only the commit without one is asked again.
    assert len(api.requests) - before == 1


def test_rate_limit_beyond_max_wait_is_reported(api: FakeApi, history: tuple[Path, dict[str, str]],
                                                tmp_path: Path) -> None:
    root, shas = history
    _github(api, shas, limited_reset=time.time() + 3600)
    ledger = _ledger(root, _lookup(api, tmp_path, "github", max_wait=5), "github")
    reviewed = ledger["change reviewed"]
    assert "rate limited until" in reviewed.lookup_error and "max_wait" in reviewed.lookup_error
    assert reviewed.verdict == "unapproved"  # no proof, no approval: never a false "approved"
    assert TOKEN not in reviewed.lookup_error


def test_gitlab_merge_request_approvals_with_x_next_page(api: FakeApi, history: tuple[Path, dict[str, str]],
                                                         tmp_path: Path) -> None:
    root, shas = history
    project = "/projects/" + urllib.parse.quote("acme/fleet", safe="")
    api.on(f"{project}/repository/commits/{shas['reviewed']}/merge_requests?per_page=100",
           [{"iid": 3, "state": "closed"}], headers={"x-next-page": "2"})
    api.on(f"{project}/repository/commits/{shas['reviewed']}/merge_requests?per_page=100&page=2",
           [{"iid": 5, "state": "merged", "web_url": "https://gl/acme/fleet/-/merge_requests/5"}])
    api.on(f"{project}/merge_requests/5/approvals", {"approved_by": [{"user": {"username": "alice"}}]})
    for name in ("self", "direct"):
        api.on(f"{project}/repository/commits/{shas[name]}/merge_requests?per_page=100", [])
    ledger = _ledger(root, _lookup(api, tmp_path, "gitlab"), "gitlab")
    reviewed = ledger["change reviewed"]
    assert reviewed.verdict == "approved" and reviewed.approval_source == "gitlab-approval"
    assert reviewed.pull_request == "!5"
    assert all(h.get("private-token") == TOKEN for _, h in api.requests)
    assert ledger["change direct"].verdict == "unapproved"


def test_paging_refuses_another_origin(api: FakeApi, history: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, shas = history
    _github(api, shas)
    api.routes[f"/repos/acme/fleet/commits/{shas['direct']}/pulls?per_page=100"] = [
        (200, {"Link": '<http://evil.example/steal?x=1>; rel="next"'}, [])]
    ledger = _ledger(root, _lookup(api, tmp_path, "github"), "github")
    assert "another origin" in ledger["change direct"].lookup_error
