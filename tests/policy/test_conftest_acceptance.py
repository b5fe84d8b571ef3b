"""conftest's acceptance runs on Kubernetes/YAML/JSON inputs (``acceptance.bats``), ported to ``policy test``.

Each case is conftest's command line on conftest's own examples (``fixtures/conftest``), run from the same
directory so file names match, with conftest's expected exit status, summary line and messages. bats' ``lines``
skips empty lines; :func:`_lines` does the same. Runs whose expectation we deliberately do not share say why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.cli import main
from auditor.policy.opa_go import library_available

CONFTEST = Path(__file__).parent / "fixtures" / "conftest"


@pytest.fixture(autouse=True)
def _in_conftest_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CONFTEST)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["policy", "test", *args])
    out = capsys.readouterr()
    return code, [line for line in out.out.splitlines() if line.strip()], out.err


K8S = ("-p", "examples/kubernetes/policy")


def test_not_fail_when_testing_a_service_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(capsys, *K8S, "examples/kubernetes/service.yaml")
    assert code == 0
    # The service warning lives in warn.rego, the second module importing data.kubernetes: it was lost once.
    assert lines == [
        "WARN - examples/kubernetes/service.yaml - main - Found service hello-kubernetes but services are not allowed",
        "5 tests, 4 passed, 1 warning, 0 failures, 0 exceptions",
    ]


def test_fail_when_testing_a_deployment_with_root_containers(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(capsys, *K8S, "examples/kubernetes/deployment.yaml")
    assert code == 1
    assert "FAIL - examples/kubernetes/deployment.yaml - main - Containers must not run as root in Deployment " \
           "hello-kubernetes" in lines
    # "Output results only once": four failures and the summary.
    assert len(lines) == 5
    assert "FAIL - examples/kubernetes/deployment.yaml - main - Found deployment hello-kubernetes but deployments " \
           "are not allowed" in lines


def test_fail_when_testing_a_service_with_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run(capsys, "--fail-on-warn", *K8S, "examples/kubernetes/service.yaml")
    assert code == 1


def test_fail_when_testing_with_no_policies_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # conftest points -p at its Go sources (no .rego): no policies is an error (conftest 1, ours 2).
    code, _, err = _run(capsys, "-p", str(tmp_path), "examples/kubernetes/deployment.yaml")
    assert code == 2 and "no policies found" in err


def test_blank_namespace_is_an_error_here(capsys: pytest.CaptureFixture[str]) -> None:
    # conftest passes (exit 0) when the namespace holds no rule. We do not: a run that checks nothing while
    # policies were given is no pass (issue 14). It says which packages do have rules.
    code, lines, err = _run(capsys, "--namespace", "notpresent", *K8S, "examples/kubernetes/deployment.yaml")
    assert code == 2 and not lines
    assert "no rule evaluated" in err and "notpresent" in err and "packages with rules: main" in err


def test_yaml_on_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    data = (CONFTEST / "examples/kubernetes/service.yaml").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, lines, _ = _run(capsys, *K8S, "-")
    assert code == 0 and lines[-1] == "5 tests, 4 passed, 1 warning, 0 failures, 0 exceptions"


def test_the_number_of_tests_run_is_accurate(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(capsys, *K8S, "examples/kubernetes/service.yaml")
    assert code == 0 and lines[1] == "5 tests, 4 passed, 1 warning, 0 failures, 0 exceptions"


def test_multi_file_tests_fail_when_the_last_file_is_fine(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run(capsys, *K8S, "examples/kubernetes/deployment.yaml", "examples/kubernetes/service.yaml")
    assert code == 1


def test_output_formats(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(capsys, *K8S, "-o", "table", "examples/kubernetes/deployment.yaml")
    assert code == 1 and any("failure" in line for line in lines)


def test_load_data_along_with_policies(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(capsys, "-p", "examples/data/policy", "-d", "examples/data/exclusions",
                          "examples/data/service.yaml")
    assert code == 1 and any("Cannot expose port" in line for line in lines)


def test_docker_compose_that_does_not_conform(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(capsys, "-p", "examples/compose/policy", "examples/compose/docker-compose.yml")
    assert code == 1 and "2 tests, 0 passed, 0 warnings, 2 failures, 0 exceptions" in lines


def test_docker_compose_that_conforms(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(capsys, "-p", "examples/compose/policy", "examples/compose/docker-compose-valid.yml")
    assert code == 0 and "2 tests, 2 passed, 0 warnings, 0 failures, 0 exceptions" in lines


def test_exceptions_reported_correctly(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(capsys, "-p", "examples/exceptions/policy", "examples/exceptions/deployments.yaml")
    assert code == 1
    assert lines[1] == ('EXCP - examples/exceptions/deployments.yaml - main - '
                        'data.main.exception[_][_] == "run_as_root"')
    assert lines[2] == "2 tests, 0 passed, 0 warnings, 1 failure, 1 exception"


def test_combine_configs_kubernetes(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(capsys, "-p", "examples/kubernetes/combine", "examples/kubernetes/combine/combine.yaml",
                          "--combine")
    assert code == 1
    assert lines == ["FAIL - Combined - main - Deployment 'goodbye-kubernetes' has no matching service",
                     "1 test, 0 passed, 0 warnings, 1 failure, 0 exceptions"]


@pytest.mark.parametrize("engine", ["embedded", "opa-go"])
@pytest.mark.parametrize("inputs", [("examples/combine/team.yaml", "examples/combine/user1.yaml",
                                     "examples/combine/user2.yaml"),
                                    ("examples/combine/team.yaml", "examples/combine/users.yaml")])
def test_can_combine_yaml_files(capsys: pytest.CaptureFixture[str], inputs: tuple[str, ...], engine: str) -> None:
    # The policy redeclares `name` with `:=` inside a comprehension (OPA's scoping): conftest's answer on both engines.
    args: tuple[str, ...] = ()
    if engine == "opa-go":
        library = library_available()
        if library is None:
            pytest.skip("OPA's Go engine is not installed (test_differential.py fails under CI then)")
        args = ("--engine", "opa-go", "--opa-library", str(library))
    code, lines, err = _run(capsys, *args, "-p", "examples/combine/policy", *inputs, "--combine")
    assert code == 1, err
    assert lines == [
        'FAIL - Combined - main - Existing users ["jan.doe@example.com", "john.doe@example.com"] | Configured users '
        '["jane.doe@example.com", "john.doe@example.com"] | Missing users ["jane.doe@example.com"]',
        "2 tests, 1 passed, 0 warnings, 1 failure, 0 exceptions",
    ]


def test_all_namespaces_with_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _run(capsys, *K8S, "examples/kubernetes/deployment.yaml", "--all-namespaces")
    assert code == 1 and lines[-1] == "5 tests, 1 passed, 0 warnings, 4 failures, 0 exceptions"


def test_a_single_policy_file_whose_import_is_absent_passes(capsys: pytest.CaptureFixture[str]) -> None:
    # deny.rego alone: data.kubernetes is not loaded, so `kubernetes.is_deployment` is undefined (conftest: 0).
    code, lines, _ = _run(capsys, "-p", "examples/kubernetes/policy/deny.rego", "examples/kubernetes/deployment.yaml")
    assert code == 0 and lines == ["2 tests, 2 passed, 0 warnings, 0 failures, 0 exceptions"]


def test_config_file_policies_in_another_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    # conftest reads -p/--namespace from conftest.toml; the same run with the flags given.
    code, lines, _ = _run(capsys, "-p", "examples/configfile/test", "--namespace", "conftest",
                          "examples/configfile/deployment.yaml")
    assert code == 1 and any("Containers must not run as root" in line for line in lines)


def test_verify_rego_tests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "verify", "-p", "examples/kubernetes/policy"]) == 0
    assert "4 tests, 4 passed" in capsys.readouterr().out
    assert main(["policy", "verify", "-p", "examples/data/policy", "-d", "examples/data/exclusions"]) == 0
    assert "1 test, 1 passed, 0 warnings, 0 failures" in capsys.readouterr().out


def test_builtin_pack_is_reached_by_p_or_builtin(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from auditor.policy.builtin import builtin_policy_dir

    pod = tmp_path / "pod.yaml"
    pod.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                   "  - {name: c, image: 'nginx:latest', securityContext: {privileged: true}}\n")
    for args in (("-p", str(builtin_policy_dir())), ("--builtin",)):
        code, lines, err = _run(capsys, *args, str(pod))
        assert code == 1, err
        assert any("gitops_audit.pod_security" in line and "privileged" in line.lower() for line in lines), lines
        assert lines[-1].split(" tests, ")[0].isdigit() and int(lines[-1].split(" ")[0]) > 5
