"""Shared fixtures: one demo fleet per test session (creating it runs ~50 git commands)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.demo.fleet import DemoFleet, create_demo


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFleet:
    return create_demo(tmp_path_factory.mktemp("demo") / "demo-fleet")


def git(root: Path, *args: str) -> str:
    """Run git read-only in the demo repo, isolated from any user config."""
    from auditor.util.proc import run

    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    return run(["git", *args], action="test git", cwd=root, env=env).stdout.decode()
