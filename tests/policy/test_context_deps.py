"""Which audit-context fields policies read: literal fields only, anything unresolvable means all."""

from __future__ import annotations

import pytest

from auditor.policy.builtin import builtin_policy_dir
from auditor.policy.context_deps import context_fields
from auditor.policy.loader import discover_modules, parse_module, strip_comments_and_strings


def fields(*bodies: str, package: str = "main") -> frozenset[str] | None:
    return context_fields(
        parse_module(f"p{i}.rego", f"package {package}\nimport rego.v1\n{body}\n") for i, body in enumerate(bodies)
    )


def test_literal_fields_are_collected() -> None:
    assert fields(
        'deny contains "x" if { data.gitops_audit.target.env == "prod" }',
        'warn contains m if { m := data.gitops_audit.target . region; data.gitops_audit.side == "live" }',
    ) == {"env", "region"}


def test_static_parts_of_the_context_are_not_fields() -> None:
    assert fields(
        "import data.gitops_audit.lib.k8s\n"
        'deny contains "x" if { k8s.setting("a", 1) == data.gitops_audit.config.a; data.other.thing }'
    ) == frozenset()


@pytest.mark.parametrize(
    "body",
    [
        "t := data.gitops_audit.target",
        'deny contains m if { m := data.gitops_audit.target["env"] }',
        "deny contains m if { m := data.gitops_audit[k] }",
        "ctx := data.gitops_audit",
        'deny contains m if { m := data["gitops_audit"].target.env }',
        "everything := walk(data)",
        "import data.gitops_audit.target as t\ndeny contains t.env if true",
        "import data\ndeny contains m if { m := data.gitops_audit.target.env }",
    ],
)
def test_unresolvable_references_mean_every_field(body: str) -> None:
    assert fields(body) is None


@pytest.mark.parametrize("package", ["gitops_audit", "gitops_audit.target", "gitops_audit.target.x"])
def test_packages_that_can_name_the_context_unqualified_mean_every_field(package: str) -> None:
    assert fields("deny contains m if { m := target.env }", package=package) is None


def test_comments_and_strings_are_not_references() -> None:
    body = (
        "# data.gitops_audit.target is set by the audit\n"
        'deny contains "data.gitops_audit.target and data" if { input.kind == `data[x]` }  # walk(data)\n'
        'warn contains "#" if { data.gitops_audit.target.name == "a\\"#b" }'
    )
    assert fields(body) == {"name"}
    assert "walk" not in strip_comments_and_strings(body)



def test_builtin_pack_reads_only_the_environment() -> None:
    # The run-wide result cache shares results between targets of one environment only if this holds.
    assert context_fields(discover_modules([str(builtin_policy_dir())])) == {"env"}
