"""An invalid waiver ``expires`` never makes a waiver permanent: config refuses it, the runtime ignores it.

Before issue 20 a waiver whose date did not parse (reaching the policy stage without the config check,
e.g. through the Python API or a merged config) applied forever, reported only by a medium finding that
does not fail a run at the default threshold: the high finding it hid stayed hidden.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.config import load_config
from auditor.errors import ConfigError
from auditor.model import Category, Finding, ObjectRef, Severity, Target
from auditor.policy.options import Waiver
from auditor.policy.waivers import EXPIRED_RULE, INVALID_RULE, UNUSED_RULE, apply_waivers

TARGET = Target("prod-us", env="production")
TODAY = date(2026, 6, 1)
REF = ObjectRef("apps", "Deployment", "shop", "web")
BAD = ("2026-13-01", "2026-02-30", "31/12/2026", "2026-12-3", "tomorrow", "2026-12-31T00:00:00Z ")


def high() -> Finding:
    return Finding(TARGET.name, Category.POLICY, "k8s.rbac.wildcard", Severity.HIGH, "wildcard verbs", ref=REF)


def run(waiver: Waiver) -> list[Finding]:
    return apply_waivers([high()], {}, TARGET, [waiver], TODAY)


@pytest.mark.parametrize("expires", BAD)
def test_runtime_invalid_expiry_does_not_apply(expires: str) -> None:
    out = run(Waiver(rule="k8s.rbac.*", reason="accepted", expires=expires))
    by_rule = {f.rule_id: f for f in out}
    assert by_rule["k8s.rbac.wildcard"].counts and by_rule["k8s.rbac.wildcard"].suppressed_by == ""
    invalid = by_rule[INVALID_RULE]
    assert invalid.severity is Severity.MEDIUM and invalid.counts
    assert repr(expires) in invalid.message and "not applied" in invalid.message
    assert set(by_rule) == {"k8s.rbac.wildcard", INVALID_RULE}  # neither expired nor unused: invalid says it all


def test_valid_expiry_still_applies_until_the_day() -> None:
    tomorrow = run(Waiver(rule="k8s.rbac.*", reason="accepted", expires="2026-06-02"))
    assert [(f.rule_id, f.counts) for f in tomorrow] == [("k8s.rbac.wildcard", False)]
    today = run(Waiver(rule="k8s.rbac.*", reason="accepted", expires="2026-06-01"))
    assert sorted((f.rule_id, f.counts) for f in today) == [("k8s.rbac.wildcard", True), (EXPIRED_RULE, True)]
    forever = run(Waiver(rule="k8s.rbac.*", reason="accepted"))  # no expiry at all: a stated choice
    assert [(f.rule_id, f.counts) for f in forever] == [("k8s.rbac.wildcard", False)]


def test_invalid_expiry_on_a_waiver_matching_nothing_is_still_invalid() -> None:
    out = apply_waivers([], {}, TARGET, [Waiver(rule="x.y", reason="r", expires="2026-99-99")], TODAY)
    assert [f.rule_id for f in out] == [INVALID_RULE]
    assert UNUSED_RULE not in {f.rule_id for f in out}


def _config(tmp_path: Path, expires: str) -> Path:
    path = tmp_path / "gitops-audit.yaml"
    path.write_text(
        "version: 1\nrepo: .\ntargets:\n  - {name: a, path: ., snapshot: snap}\npolicy:\n  waivers:\n"
        f"    - rule: k8s.rbac.wildcard\n      reason: accepted\n      expires: {expires}\n"
    )
    return path


@pytest.mark.parametrize("expires", ["2026-13-01", "2026-02-30", '"2026-02-30"', '"31/12/2026"', "tomorrow",
                                     '"2026-1231"'])
def test_config_rejects_invalid_expiry_with_file_and_line(tmp_path: Path, expires: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, expires))
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'gitops-audit.yaml'}:9: policy.waivers[0].expires: expected a date")
    assert "\n" not in msg


@pytest.mark.parametrize("expires", ["2026-12-31", '"2026-12-31"'])
def test_config_accepts_a_date(tmp_path: Path, expires: str) -> None:
    (w,) = load_config(_config(tmp_path, expires)).policy.waivers
    assert w.expires == "2026-12-31"


def test_cli_refuses_the_config_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(_config(tmp_path, "2026-02-30")), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "policy.waivers[0].expires" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()
