from __future__ import annotations

from pathlib import Path

import pytest

from auditor.config import Selection, adhoc_config, find_config, load_config, parse_config, select_targets
from auditor.errors import ConfigError, UsageError
from auditor.model import Severity

GOOD = b"""\
version: 1
repo: fleet
ref: main
fail_on: medium
output:
  dir: out
  keep: 5
protected_envs: [production]
targets:
  - name: production-us-east
    env: production
    region: us-east
    path: overlays/production/us-east
    context: prod-us
  - name: dev-eu-west
    env: dev
    region: eu-west
    path: overlays/dev/eu-west/
    snapshot: snaps/dev-eu-west
"""


def parse(text: bytes, tmp_path: Path):
    return parse_config(text, source="cfg.yaml", base_dir=tmp_path)


def test_good_config_parses_into_targets(tmp_path: Path) -> None:
    cfg = parse(GOOD, tmp_path)
    assert cfg.fail_on is Severity.MEDIUM
    assert cfg.output.keep == 5
    assert cfg.protected_envs == ("production",)
    prod, dev = cfg.targets
    assert prod.context == "prod-us" and prod.snapshot == ""
    assert prod.repo == str(tmp_path / "fleet") and prod.ref == "main"
    assert dev.path == "overlays/dev/eu-west"
    assert dev.snapshot == str(tmp_path / "snaps/dev-eu-west")
    assert cfg.sha256 and len(cfg.sha256) == 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"version: 1\nbogus: 1\n", "cfg.yaml:2: bogus: unknown key 'bogus'"),
        (b"version: 2\n", "cfg.yaml:1: version: unsupported config version 2"),
        (b"fail_on: urgent\n", "cfg.yaml:1: fail_on: must be one of critical, high, medium, low, info"),
        (b"targets:\n  - name: a\n    path: x\n    context: c\n  - name: b\n    path: 3\n    snapshot: s\n"
         b"  - path: y\n    context: c\n", "cfg.yaml:8: targets[2].name: missing required key 'name'"),
        (b"targets:\n  - name: a\n    path: x\n    context: c\n    snapshot: s\n",
         "cfg.yaml:5: targets[0].snapshot: give either 'context' or 'snapshot', not both"),
        (b"targets:\n  - name: a\n    path: ../x\n    context: c\n",
         "cfg.yaml:3: targets[0].path: must be a path inside the repository"),
        (b"targets:\n  - name: a\n    path: x\n", "cfg.yaml:2: targets[0]: missing live source"),
        (b"targets:\n  - name: a\n    path: x\n    context: c\n    labels: [1]\n",
         "cfg.yaml:5: targets[0].labels: expected a mapping, got a list"),
        (b"output:\n  keep: zero\n", "cfg.yaml:2: output.keep: expected an integer, got a string"),
        (b"targets:\n  - name: a\n    path: x\n    context: c\n  - name: a\n    path: y\n    context: d\n",
         "cfg.yaml:5: targets[1].name: duplicate target name 'a'"),
        (b"targets: [\n", "cfg.yaml:2: invalid YAML"),
        (b"- just\n- a list\n", "cfg.yaml:1: (top level): expected a mapping, got a list"),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path: Path, text: bytes, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(text, tmp_path)
    assert str(err.value).startswith(expected), str(err.value)
    assert "\n" not in str(err.value)


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"read config .*nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_find_config_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITOPS_AUDIT_CONFIG", raising=False)
    assert find_config(None, tmp_path) is None
    (tmp_path / "gitops-audit.yaml").write_text("version: 1\n")
    assert find_config(None, tmp_path) == tmp_path / "gitops-audit.yaml"
    monkeypatch.setenv("GITOPS_AUDIT_CONFIG", "/elsewhere.yaml")
    assert find_config(None, tmp_path) == Path("/elsewhere.yaml")
    assert find_config("explicit.yaml", tmp_path) == Path("explicit.yaml")


def test_selection_by_context_env_region(tmp_path: Path) -> None:
    cfg = parse(GOOD, tmp_path)
    assert [t.name for t in select_targets(cfg.targets, Selection(contexts=("prod-us",)))] == ["production-us-east"]
    assert [t.name for t in select_targets(cfg.targets, Selection(envs=("dev",)))] == ["dev-eu-west"]
    with pytest.raises(UsageError, match="no target matches"):
        select_targets(cfg.targets, Selection(regions=("ap-south",)))


def test_adhoc_target(tmp_path: Path) -> None:
    cfg = adhoc_config(repo="https://git.example.com/fleet.git", ref="v1", path="overlays/prod/us/", context="prod-us",
                       snapshot="", env="", region="", namespace="", cwd=tmp_path)
    (t,) = cfg.targets
    assert t.name == "prod-us" and t.repo == "https://git.example.com/fleet.git" and t.path == "overlays/prod/us"
    with pytest.raises(UsageError, match="--path is required"):
        adhoc_config(repo=".", ref="", path="", context="c", snapshot="", env="", region="", namespace="",
                     cwd=tmp_path)


def test_config_example_is_valid_and_documents_every_key() -> None:
    """config.example.yaml must parse, and every key the parser accepts must appear in it."""
    import re

    from auditor import config as config_mod
    from auditor import config_stages

    root = Path(__file__).resolve().parents[1]
    example = root / "config.example.yaml"
    cfg = load_config(example)
    assert [t.name for t in cfg.targets] == ["production-us-east", "staging-eu-west"]
    assert cfg.drift.ignore and cfg.policy.waivers and cfg.change_control.identities
    text = example.read_text()
    keys: set[str] = set(config_mod._TOP_KEYS) | set(config_mod._TARGET_KEYS)
    keys |= set(config_stages._IGNORE_KEYS) | set(config_stages._WAIVER_KEYS)
    for src in (Path(config_stages.__file__).read_text(), Path(config_mod.__file__).read_text()):
        for block in re.findall(r"\.mapping\(\s*\(([^)]*)\)", src):
            keys |= set(re.findall(r'"([a-z_A-Z]+)"', block))
    missing = sorted(k for k in keys if not re.search(rf"(^|[\s{{,]){k}:", text, re.M))
    assert not missing, f"config.example.yaml does not document: {missing}"


_COUNTS = {
    "policy.workers": lambda cfg: cfg.policy.workers,
    "source.tool_processes": lambda cfg: cfg.source.tool_processes,
}


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("policy.workers", None, -1), ("policy.workers", "auto", -1), ("policy.workers", "0", 0),
    ("policy.workers", "3", 3),
    ("source.tool_processes", None, 0), ("source.tool_processes", "auto", 0), ("source.tool_processes", "1", 1),
    ("source.tool_processes", "6", 6),
])
def test_auto_or_a_number_of_processes(tmp_path: Path, key: str, value: str | None, expected: int) -> None:
    section, name = key.split(".")
    text = GOOD + (b"" if value is None else f"{section}:\n  {name}: {value}\n".encode())
    assert _COUNTS[key](parse(text, tmp_path)) == expected


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("policy.workers", "fast", "expected 'auto' or a number"), ("policy.workers", "-2", "at least 0"),
    ("source.tool_processes", "many", "expected 'auto' or a number"), ("source.tool_processes", "0", "at least 1"),
])
def test_process_counts_errors_name_the_line(tmp_path: Path, key: str, value: str, problem: str) -> None:
    section, name = key.split(".")
    with pytest.raises(ConfigError) as err:
        parse(GOOD + f"{section}:\n  {name}: {value}\n".encode(), tmp_path)
    line = len(GOOD.splitlines()) + 2
    assert f"cfg.yaml:{line}:" in str(err.value) and problem in str(err.value)
    assert key in str(err.value)


def test_tool_processes_sets_how_many_renders_run_at_once(tmp_path: Path) -> None:
    import argparse

    from auditor import wiring
    from auditor.util import proc

    saved = proc._cpu_slots
    try:
        for text, slots in ((b"source:\n  tool_processes: 3\n", 3), (b"", proc.available_cpus())):
            wiring.run_options(parse(GOOD + text, tmp_path), argparse.Namespace(worktree=False))
            assert proc._slots()._initial_value == slots  # type: ignore[attr-defined]
    finally:
        proc._cpu_slots = saved
