"""The demo fleet repository: deterministic history, change-control story, renderable overlays."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
import yaml

from auditor.demo.fleet import DemoFleet, create_demo, head_commit
from auditor.demo.history import PACKAGE_DIR, final_tree_files, load_history
from auditor.errors import UsageError
from auditor.util.proc import run

from .conftest import git

TARGETS = [f"{env}-{region}" for env in ("dev", "staging", "production") for region in ("us-east", "eu-west")]


def _members(identities: dict[str, list[str]], owner: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """Emails an owner stands for, following team → member handles in the config's identities."""
    out: set[str] = set()
    for who in identities.get(owner, []):
        if who.startswith("@") and who not in seen:
            out |= _members(identities, who, seen | {owner})
        elif not who.startswith("@"):
            out.add(who)
    return out


def _log(root: Path) -> list[dict[str, str]]:
    out = git(root, "log", "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%B%x1e", "main")
    commits = []
    for rec in out.split("\x1e"):
        if not rec.strip():
            continue
        sha, name, email, date, body = rec.strip("\n").split("\x1f")
        commits.append({"sha": sha, "name": name, "email": email, "date": date, "body": body})
    return commits


def _owners(codeowners: str, path: str) -> list[str]:
    """Owners of ``path`` under GitHub semantics (last matching line wins) — enough for this file."""
    owners: list[str] = []
    for line in codeowners.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pattern, *who = line.split()
        if pattern == "*":
            hit = True
        elif pattern.endswith("/"):
            hit = ("/" + path).startswith(pattern if pattern.startswith("/") else "/" + pattern)
        else:
            hit = fnmatch.fnmatch("/" + path, pattern if pattern.startswith("/") else "*/" + pattern)
        if hit:
            owners = who
    return owners


def test_create_is_deterministic(tmp_path: Path, demo: DemoFleet) -> None:
    other = create_demo(tmp_path / "again")
    assert git(other.root, "rev-list", "main") == git(demo.root, "rev-list", "main")
    assert head_commit(other.root) == head_commit(demo.root)
    assert len(git(demo.root, "rev-list", "main").split()) == len(load_history())  # incl. the merge


def test_repo_shape(demo: DemoFleet) -> None:
    assert demo.config == demo.root / "gitops-audit.yaml"
    assert git(demo.root, "symbolic-ref", "--short", "HEAD").strip() == "main"
    # Working tree clean: snapshots exist but are ignored, like real captures.
    assert git(demo.root, "status", "--porcelain") == ""
    assert (demo.root / "snapshots" / "production-us-east").is_dir()
    assert git(demo.root, "check-ignore", "snapshots/production-us-east/workloads.yaml").strip()
    assert git(demo.root, "ls-files", "snapshots") == ""
    tracked = set(git(demo.root, "ls-files").split())
    assert tracked == set(final_tree_files()), "history must end at exactly the files in tree/"
    for rel, src in final_tree_files().items():
        assert (demo.root / rel).read_bytes() == src.read_bytes(), rel


def test_history_has_authors_and_days(demo: DemoFleet) -> None:
    commits = _log(demo.root)
    assert 12 <= len(commits) <= 20
    assert len({c["email"] for c in commits}) >= 4
    days = {c["date"][:10] for c in commits}
    assert len(days) >= 5
    assert all("2026-10-01" <= d <= "2026-11-20" for d in days)
    assert any("Approved-by:" in c["body"] for c in commits)
    assert any("Reviewed-by:" in c["body"] for c in commits)
    assert any(c["name"].endswith("[bot]") for c in commits)
    merges = git(demo.root, "rev-list", "--merges", "main").split()
    assert len(merges) == 1
    assert len(git(demo.root, "rev-list", "--parents", "-n1", merges[0]).split()) == 3
    assert git(demo.root, "branch", "--format=%(refname:short)").split() == ["main"]


def test_readme_names_the_current_head(demo: DemoFleet) -> None:
    assert f"HEAD of the demo is `{head_commit(demo.root)}`" in (PACKAGE_DIR / "README.md").read_text()


def test_unapproved_production_change_by_non_owner(demo: DemoFleet) -> None:
    codeowners = (demo.root / ".github" / "CODEOWNERS").read_text()
    cc = yaml.safe_load(demo.config.read_text())["change_control"]
    trailers = "|".join(cc["approval_trailers"])
    # A pull request merged by someone approves the commits the merge brings in (accept_merge_commits).
    merged_by: dict[str, str] = {}
    for line in git(demo.root, "log", "--merges", "--format=%H %ae", "main").splitlines():
        sha, email = line.split()
        for brought in git(demo.root, "rev-list", f"{sha}^1..{sha}^2").split():
            merged_by[brought] = email
    assert merged_by, "the history has a merged pull request"
    offenders = []
    for c in _log(demo.root):
        files = git(demo.root, "show", "--name-only", "--format=", c["sha"]).split()
        # Files that feed production: its overlays and the shared base.
        prod = [f for f in files if f.startswith(("overlays/production/", "base/"))]
        if not prod:
            continue
        approvers = set(re.findall(rf"^(?:{trailers}): .*<([^>]+)>$", c["body"], re.M)) | {c["email"]}
        approvers |= {merged_by[c["sha"]]} if c["sha"] in merged_by else set()
        for f in prod:
            owners = set().union(*(_members(cc["identities"], o) for o in _owners(codeowners, f)))
            assert owners, f"{f} has owners that map to nobody"
            if not approvers & owners:
                offenders.append((c["email"], f))
    assert offenders == [
        ("dave@acme.example.com", "overlays/production/eu-west/kustomization.yaml"),
        ("dave@acme.example.com", "overlays/production/eu-west/patch-payments-resources.yaml"),
    ]


def test_every_overlay_renders_from_the_committed_tree(tmp_path: Path, demo: DemoFleet) -> None:
    # Render from a fresh clone so only committed files count.
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(demo.root), str(clone)], action="clone demo",
        env={"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"})
    config = yaml.safe_load((clone / "gitops-audit.yaml").read_text())
    assert [t["name"] for t in config["targets"]] == TARGETS
    for t in config["targets"]:
        out = run(["kubectl", "kustomize", str(clone / t["path"])], action=f"render {t['name']}").stdout
        docs = [d for d in yaml.safe_load_all(out) if d]
        kinds = {d["kind"] for d in docs}
        assert {"Deployment", "Service", "ConfigMap", "ServiceAccount", "Role", "RoleBinding",
                "HorizontalPodAutoscaler", "Namespace"} <= kinds, t["name"]
        # Generated ConfigMaps carry a content hash and references follow it.
        assert any(d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("region-config-") for d in docs)


def test_config_matches_contract(demo: DemoFleet) -> None:
    cfg = yaml.safe_load(demo.config.read_text())
    assert cfg["version"] == 1
    assert cfg["repo"] == "."
    assert cfg["ref"] == "main"
    assert cfg["fail_on"] == "high"
    assert cfg["output"]["dir"] == "reports"
    assert cfg["protected_envs"] == ["production"]
    for t in cfg["targets"]:
        assert t["name"] == f"{t['env']}-{t['region']}"
        assert t["path"] == f"overlays/{t['env']}/{t['region']}"
        assert t["snapshot"] == f"snapshots/{t['name']}"
        assert (demo.root / t["snapshot"]).is_dir()
    assert (demo.root / ".gitignore").read_text().split().count("snapshots/") == 1


def test_config_loads_with_the_real_loader(demo: DemoFleet) -> None:
    from auditor.config import load_config

    cfg = load_config(demo.config)
    assert [t.name for t in cfg.targets] == TARGETS
    assert all(Path(t.snapshot).is_dir() for t in cfg.targets)


def test_works_without_user_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo: DemoFleet) -> None:
    """A hostile global config (signing, failing hooks, other default branch, no identity) is ignored."""
    home = tmp_path / "home"
    hooks = home / "hooks"
    hooks.mkdir(parents=True)
    for hook in ("pre-commit", "commit-msg", "prepare-commit-msg"):
        (hooks / hook).write_text("#!/bin/sh\nexit 1\n")
        (hooks / hook).chmod(0o755)
    (home / ".gitconfig").write_text(
        "[commit]\n\tgpgsign = true\n[core]\n\thooksPath = " + str(hooks) + "\n"
        "[init]\n\tdefaultBranch = trunk\n[user]\n\tuseConfigOnly = true\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    # No network: point proxies nowhere; nothing in create_demo may need them.
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    fleet = create_demo(tmp_path / "isolated")
    assert head_commit(fleet.root) == head_commit(demo.root)


def test_refuses_non_empty_destination(tmp_path: Path) -> None:
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        create_demo(dest)
    # --force never wipes a directory that is not a demo fleet.
    with pytest.raises(UsageError, match="does not hold a demo fleet"):
        create_demo(dest, force=True)
    assert (dest / "notes.txt").read_text() == "mine"
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        create_demo(afile)


def test_force_replaces_an_earlier_demo(tmp_path: Path) -> None:
    dest = tmp_path / "fleet"
    first = create_demo(dest)
    (dest / "reports").mkdir()
    (dest / "reports" / "old.json").write_text("{}")
    with pytest.raises(UsageError):
        create_demo(dest)
    again = create_demo(dest, force=True)
    assert head_commit(again.root) == head_commit(first.root)
    assert not (dest / "reports").exists()


def test_empty_existing_directory_is_fine(tmp_path: Path) -> None:
    dest = tmp_path / "empty"
    dest.mkdir()
    assert create_demo(dest).root == dest.absolute()
