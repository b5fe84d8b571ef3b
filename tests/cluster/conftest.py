"""Shared fixtures for the cluster stage tests: realistic live objects from fixtures/live.yaml."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

FIXTURES = Path(__file__).parent / "fixtures"
CANARY_SECRET = "CANARY-SECRET-VALUE-3141"


def load_live_objects() -> list[dict[str, Any]]:
    """The fixture cluster's objects (fresh copies)."""
    with (FIXTURES / "live.yaml").open(encoding="utf-8") as fh:
        return [copy.deepcopy(d) for d in yaml.safe_load_all(fh) if d]


@pytest.fixture
def live_objects() -> list[dict[str, Any]]:
    return load_live_objects()
