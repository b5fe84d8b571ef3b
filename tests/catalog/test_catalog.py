"""The rule catalogue: complete, consistent with the pack and the code, and its METADATA reader."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import regorus

from auditor.catalog.load import frameworks, load_catalog, rego_sources
from auditor.catalog.model import KIND_GROUPS, UNITS
from auditor.catalog.rego import MetadataBlock, metadata_blocks
from auditor.policy.builtin import builtin_policy_dir

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(rego_sources([builtin_policy_dir()]))
PACK_RULES = {r for r, info in CATALOG.rules.items() if info.source.startswith(str(builtin_policy_dir()))}


def _engine() -> regorus.Engine:
    engine = regorus.Engine()
    for path in sorted(builtin_policy_dir().rglob("*.rego")):
        if not path.name.endswith("_test.rego"):
            engine.add_policy(str(path), path.read_text())
    return engine


def _value(engine: regorus.Engine, query: str) -> object:
    out = engine.eval_query(f"x := json.marshal({query})")
    return json.loads(out["result"][0]["bindings"]["x"])


def _packages() -> list[str]:
    pkgs = set()
    for path in builtin_policy_dir().rglob("*.rego"):
        m = re.search(r"^package\s+(\S+)", path.read_text(), re.MULTILINE)
        if m and not path.name.endswith("_test.rego") and ".lib." not in m.group(1) + ".":
            pkgs.add(m.group(1))
    return sorted(pkgs)


def test_builtin_metadata_parses() -> None:
    assert CATALOG.problems == ()
    assert len(PACK_RULES) >= 60


@pytest.mark.parametrize("package", _packages())
def test_rules_map_and_metadata_agree(package: str) -> None:
    """Each result carries severity/title/remediation from the package's `rules` map: METADATA says the same."""
    rules = _value(_engine(), f"data.{package}.rules")
    assert isinstance(rules, dict) and rules
    for rule_id, meta in rules.items():
        info = CATALOG.rules.get(rule_id)
        assert info is not None, f"{rule_id} has no METADATA block"
        assert info.package == package, rule_id
        assert (info.severity, info.title, info.remediation) == (meta["severity"], meta["title"], meta["remediation"])


def test_every_pack_rule_is_in_a_rules_map() -> None:
    engine = _engine()
    mapped = set()
    for package in _packages():
        mapped |= set(_value(engine, f"data.{package}.rules"))  # type: ignore[arg-type]
    assert mapped == PACK_RULES


def test_every_rule_describes_itself() -> None:
    for info in CATALOG.rules.values():
        assert info.title and info.remediation and info.description, info.rule_id
        assert info.severity in ("critical", "high", "medium", "low", "info"), info.rule_id
        assert info.unit in UNITS, info.rule_id
    for rule_id in PACK_RULES:
        info = CATALOG.rules[rule_id]
        assert info.controls or rule_id.startswith("metadata."), f"{rule_id} names no control"
        assert info.kinds, rule_id
        assert info.level in ("deny", "warn"), rule_id


def test_controls_exist_and_every_listed_control_is_used() -> None:
    fws, tools = frameworks()
    used: set[tuple[str, str]] = set()
    for info in CATALOG.rules.values():
        for fw, ids in info.controls.items():
            assert fw in fws, f"{info.rule_id}: unknown framework {fw}"
            for c in ids:
                assert c in fws[fw].controls, f"{info.rule_id}: {fw} has no control {c}"
                used.add((fw, c))
        for tool in info.equivalents:
            assert tool in tools, f"{info.rule_id}: unknown tool {tool}"
    listed = {(fw, c) for fw, f in fws.items() for c in f.controls}
    assert listed - used == set()


def test_required_frameworks_are_covered() -> None:
    """The controls the issue names: SOC 2 CC6.x/CC7.1/CC8.1, ISO A.8.9/A.8.32, PCI 6.5.x, NIST CM-3/CM-6/AC-6."""
    ids = {c for info in CATALOG.rules.values() for c in info.control_ids}
    for needed in ("soc2:CC6.1", "soc2:CC7.1", "soc2:CC8.1", "iso27001:A.8.9", "iso27001:A.8.32", "pci-dss:6.5.1",
                   "nist-800-53:CM-3", "nist-800-53:CM-6", "nist-800-53:AC-6"):
        assert needed in ids
    frameworks_named = {c.split(":")[0] for c in ids}
    assert frameworks_named >= {"cis-k8s", "nsa-cisa", "pss", "soc2", "iso27001", "pci-dss", "nist-800-53"}
    drift_cc = [i for i in CATALOG.rules.values() if i.category in ("drift", "change-control") and i.controls]
    assert all("soc2" in i.controls and "iso27001" in i.controls for i in drift_cc)


def test_polaris_and_kubescape_coverage() -> None:
    eq: dict[str, set[str]] = {}
    for info in CATALOG.rules.values():
        for tool, ids in info.equivalents.items():
            eq.setdefault(tool, set()).update(ids)
    assert len(eq["polaris"]) >= 40
    # Kubescape's RBAC controls the issue names.
    assert eq["kubescape"] >= {"C-0035", "C-0185", "C-0191", "C-0065", "C-0002", "C-0063", "C-0015", "C-0186",
                               "C-0007", "C-0031", "C-0272", "C-0267", "C-0187", "C-0188"}


def _emitted_rule_ids() -> set[str]:
    """Rule ids the Python code emits: string constants named RULE_*/…_RULE and rule_id="..." literals."""
    out: set[str] = set()
    pattern = re.compile(r"^(drift|change-control|coverage|policy|input|cluster)\.[a-z0-9.-]+$")
    for path in (ROOT / "auditor").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                value = node.value.value
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if any(n.startswith("RULE_") or n.endswith("_RULE") for n in names) and pattern.match(str(value)):
                    out.add(str(value))
            if isinstance(node, ast.Tuple) and node.elts and isinstance(node.elts[0], ast.Constant):
                # Tables of (rule id, severity, message, ...) such as pipeline_hygiene's transport rules.
                first = node.elts[0].value
                if isinstance(first, str) and pattern.match(first) and len(node.elts) >= 3:
                    out.add(first)
            if isinstance(node, ast.keyword) and node.arg == "rule_id" and isinstance(node.value, ast.Constant):
                value = node.value.value
                if isinstance(value, str) and pattern.match(value):
                    out.add(value)
    return out


def test_every_rule_the_code_emits_is_catalogued() -> None:
    emitted = _emitted_rule_ids()
    assert {"drift.missing", "change-control.unapproved-commit", "policy.error", "drift.stale-field",
            "input.bidi-characters", "cluster.plain-http", "cluster.tls-not-verified"} <= emitted
    assert emitted - set(CATALOG.rules) == set()


def test_opt_in_rules_match_the_pack() -> None:
    opt_in = set(_value(_engine(), "data.gitops_audit.lib.k8s.opt_in_rules"))  # type: ignore[arg-type]
    assert opt_in == {r for r, info in CATALOG.rules.items() if not info.default_on}
    assert len(opt_in) == 7


def test_kind_groups_match_the_pack() -> None:
    engine = _engine()
    assert set(_value(engine, "data.gitops_audit.lib.k8s.workload_kinds")) == set(KIND_GROUPS["workloads"])  # type: ignore[arg-type]
    assert set(_value(engine, "data.gitops_audit.lib.k8s.long_running_kinds")) == set(KIND_GROUPS["long-running"])  # type: ignore[arg-type]
    assert set(_value(engine, "data.gitops_audit.lib.k8s.replicated_kinds")) == set(KIND_GROUPS["replicated"])  # type: ignore[arg-type]


POLICY = """package acme.images
import rego.v1

# METADATA
# title: Images from the approved registry
# description: Only registry.acme.example images.
# custom:
#   rule_id: acme.registry
#   severity: high
#   remediation: Mirror the image.
#   kinds: [workloads, Ingress]
#   controls: {soc2: [CC6.8], nist-800-53: [CM-7]}
#   equivalents: {kubescape: [C-0078]}
deny contains msg if {
	msg := "x"
}

# METADATA
# title: Second body, no rule_id

warn_other contains "y" if true
"""


def test_reads_user_metadata(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(POLICY)
    catalog = load_catalog(rego_sources([tmp_path]))
    info = catalog.rules["acme.registry"]
    assert info.title == "Images from the approved registry" and info.severity == "high"
    assert info.level == "deny" and info.package == "acme.images"
    assert "Ingress" in info.kinds and "CronJob" in info.kinds
    assert info.control_ids == ("nist-800-53:CM-7", "soc2:CC6.8")
    assert info.equivalents == {"kubescape": ("C-0078",)}
    # Without a rule_id the entry is named like the finding: <package>.<rule>.
    assert catalog.rules["acme.images.warn_other"].title == "Second body, no rule_id"
    assert catalog.controls_of("acme.registry") == ("nist-800-53:CM-7", "soc2:CC6.8")


def test_package_scoped_metadata_is_a_default(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(
        "# METADATA\n# title: Team policies\n# custom:\n#   controls: {soc2: [CC8.1]}\npackage team\n"
        "import rego.v1\ndeny contains \"x\" if true\n"
    )
    catalog = load_catalog(rego_sources([tmp_path]))
    assert catalog.controls_of("team.deny", "team") == ("soc2:CC8.1",)
    assert catalog.controls_of("other.rule", "elsewhere") == ()


def test_invalid_metadata_is_reported_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "bad.rego").write_text("package bad\n\n# METADATA\n# title: [unclosed\ndeny contains 1 if true\n")
    catalog = load_catalog(rego_sources([tmp_path]))
    assert len(catalog.problems) == 1
    assert catalog.problems[0].startswith(f"{tmp_path / 'bad.rego'}:4: METADATA is not valid YAML")


def test_test_files_and_plain_comments_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "x_test.rego").write_text("package x\n# METADATA\n# title: t\ntest_a if true\n")
    (tmp_path / "y.rego").write_text("package y\n  # METADATA (indented: not an annotation)\n# just a comment\n")
    assert load_catalog(rego_sources([tmp_path])).rules.keys() == load_catalog().rules.keys()
    blocks = list(metadata_blocks("y.rego", "package y\n# METADATA\n# title: t\n\nallow if true\n"))
    assert isinstance(blocks[0], MetadataBlock) and blocks[0].target == "allow"


def test_pack_readme_lists_every_rule_and_equivalence() -> None:
    readme = (builtin_policy_dir() / "README.md").read_text()
    for rule_id in PACK_RULES:
        opt = " (opt-in)" if not CATALOG.rules[rule_id].default_on else ""
        assert f"| `{rule_id}`{opt} |" in readme, rule_id
    for info in CATALOG.rules.values():
        for ids in info.equivalents.values():
            for check in ids:
                assert f"| `{check}` |" in readme, check
