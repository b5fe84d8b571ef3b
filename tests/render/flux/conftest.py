"""Fixtures: real git repositories holding a small kustomize fleet (defined in tests/gitfixtures.py)."""

from tests.gitfixtures import fleet_repo, git_http, make_repo, source_options  # noqa: F401
