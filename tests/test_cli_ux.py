"""The command line as a person (or a CI job) meets it: flags anywhere, fast start, clear messages, quiet pipes."""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from auditor import cli
from auditor.cli import COMMANDS, build_parser, main

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0.0
          resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}
"""
SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n"
FILES = {
    "base/deployment.yaml": DEPLOY,
    "base/service.yaml": SERVICE,
    "base/kustomization.yaml": "resources: [deployment.yaml, service.yaml]\n",
    "overlays/prod/kustomization.yaml": "namespace: shop\nresources: [../../base]\n",
    "overlays/dev/kustomization.yaml": "namespace: shop-dev\nnamePrefix: dev-\nresources: [../../base]\n",
}


def _render(repo: Path, overlay: str) -> list[dict]:
    out = subprocess.run(["kubectl", "kustomize", str(repo / overlay)], check=True, capture_output=True, text=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture
def fleet(make_repo: Callable[..., Path], tmp_path: Path) -> Path:
    """prod (Service deleted by hand: one high finding) and dev (in sync, with a name prefix)."""
    repo = make_repo(FILES)
    for name, objs in (("prod", [o for o in _render(repo, "overlays/prod") if o["kind"] != "Service"]),
                       ("dev", _render(repo, "overlays/dev"))):
        (tmp_path / f"snap-{name}").mkdir()
        (tmp_path / f"snap-{name}" / "live.yaml").write_text(
            yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objs}))
    (tmp_path / "gitops-audit.yaml").write_text(
        "version: 1\nrepo: repo\nref: main\npolicy: {builtin: false}\ntargets:\n"
        "  - {name: prod, env: production, region: us-east, path: overlays/prod, snapshot: snap-prod}\n"
        "  - {name: dev, env: dev, region: us-east, path: overlays/dev, snapshot: snap-dev}\n"
    )
    return tmp_path


def _cfg(fleet: Path) -> str:
    return str(fleet / "gitops-audit.yaml")


# --------------------------------------------------------------------------- global flags


Walked = Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Walked:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, (*path, name))


def test_every_command_accepts_the_global_flags() -> None:
    for path, parser in _walk(build_parser()):
        options = parser._option_string_actions
        for flag in ("--debug", "--log-format", "-v", "-q"):
            assert flag in options, f"{' '.join(path) or 'gitops-audit'} lacks {flag}"


def test_global_flags_after_the_subcommand(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--config", _cfg(fleet), "--out", str(fleet / "r"), "-q", "-v", "--log-format", "json",
                 "--debug"])
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("report.html")  # -q: only the report path
    records = [json.loads(line) for line in captured.err.splitlines()]
    assert {r["target"] for r in records if r["msg"].startswith("audited")} == {"prod", "dev"}
    # and before it: the subcommand's own parser does not reset them
    assert main(["-q", "--log-format", "json", "-v", "run", "--config", _cfg(fleet), "--out", str(fleet / "r")]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("report.html")
    assert all(json.loads(line)["level"] for line in captured.err.splitlines())
    # a light command, flags after it
    repo = fleet / "repo"
    (repo / "CODEOWNERS").write_text("* @platform\n")
    assert main(["codeowners", "owners", "base/service.yaml", "--repo", str(repo), "-v", "--debug"]) == 0
    assert "@platform" in capsys.readouterr().out


# --------------------------------------------------------------------------- start-up


def _modules_after(argv: list[str]) -> set[str]:
    code = (
        "import sys\nfrom auditor import cli\n"
        "try:\n    cli.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent)
    return set(out.stderr.split())


HEAVY = ("auditor.pipeline", "auditor.report", "auditor.config", "auditor.wiring", "auditor.policy",
         "auditor.cluster", "auditor.render", "auditor.repo", "auditor.provenance", "jinja2", "pandas", "kubernetes",
         "yaml", "regorus")


def test_version_and_help_import_no_pipeline_or_report() -> None:
    for argv in (["--version"], ["--help"]):
        loaded = _modules_after(argv)
        heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
        assert heavy == [], f"{argv} imports {heavy}"
        assert not any(m.startswith("auditor.commands.") for m in loaded)


def test_light_commands_import_only_their_own_stage(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(DEPLOY)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "p.rego").write_text("package main\n")
    runs = {
        "diff": ["diff", "--desired", str(manifest), "--live", str(manifest)],
        "policy": ["policy", "test", str(manifest), "-p", str(tmp_path / "p")],
        "codeowners": ["codeowners", "owners", "x", "--repo", str(tmp_path)],
    }
    for stage, argv in runs.items():
        loaded = _modules_after(argv)
        for heavy in ("auditor.pipeline", "auditor.report", "auditor.wiring", "jinja2", "pandas", "kubernetes"):
            assert not any(m == heavy or m.startswith(heavy + ".") for m in loaded), f"{stage} imports {heavy}"
        assert f"auditor.commands.{COMMANDS[argv[0]][0]}" in loaded
        assert not any(m.startswith("auditor.commands.") and m != f"auditor.commands.{COMMANDS[argv[0]][0]}"
                       for m in loaded)


def test_one_line_help_matches_each_command_module(capsys: pytest.CaptureFixture[str]) -> None:
    full = build_parser()
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in sub._choices_actions}
    assert helps == {name: help_text for name, (_m, help_text) in COMMANDS.items()}
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


# --------------------------------------------------------------------------- help text


def test_help_marks_repeatable_flags_and_has_no_raw_markup() -> None:
    for path, parser in _walk(build_parser()):
        text = parser.format_help()
        assert "`" not in text, f"raw backticks in the help of {' '.join(path) or 'gitops-audit'}"
        for action in parser._actions:
            if isinstance(action, argparse._AppendAction | argparse._CountAction) and action.help:
                assert "repeatable" in action.help, f"{' '.join(path)} {action.option_strings}"


def test_dash_o_means_format_and_snapshot_takes_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path, parser in _walk(build_parser()):
        action = parser._option_string_actions.get("-o")
        if action is not None and action.help != argparse.SUPPRESS:
            assert action.dest == "output" and action.choices, f"{' '.join(path)}: -o is not a format"
    assert main(["snapshot", "--context", "nowhere"]) == 2
    assert "--out DIR is required" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    assert main(["snapshot", "--context", "nowhere", "-o", str(busy)]) == 2  # the old spelling still works
    err = capsys.readouterr().err
    assert "-o DIR is deprecated" in err and "use --out DIR" in err and "directory is not empty" in err


def test_render_errors_have_one_prefix(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--config", _cfg(fleet), "--target", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gitops-audit render: error: no target named 'nope' (targets: prod, dev)")
    assert "render: render" not in err


# --------------------------------------------------------------------------- run output


def test_run_explains_its_exit_code(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", _cfg(fleet), "--out", str(fleet / "r")]) == 1
    captured = capsys.readouterr()
    out = captured.out
    assert "Total 1 finding: " in out and "(1 finding at or above high)" in out
    assert "Findings at or above high (1):" in out
    line = next(x for x in out.splitlines() if "drift.missing" in x)
    assert line.split()[:3] == ["high", "prod", "Service/shop/web"]
    # not a TTY (captured): one line per target as it completes
    progress = sorted(x for x in captured.err.splitlines() if x.startswith("["))
    assert len(progress) == 2
    assert {x.split("] ")[1] for x in progress} == {"prod: 1 finding (1 high)", "dev: 0 findings"}
    assert {x.split("]")[0] for x in progress} == {"[1/2", "[2/2"}


def test_durations_are_measured(fleet: Path) -> None:
    assert main(["run", "--config", _cfg(fleet), "--out", str(fleet / "r"), "-q"]) == 1
    doc = json.loads((fleet / "r" / "latest" / "report.json").read_text())
    assert "." in doc["started"] and doc["started"].endswith("Z")  # milliseconds, not whole seconds
    assert doc["duration_seconds"] > 0


def test_progress_on_a_tty_is_one_status_line() -> None:
    from auditor.model import Target, TargetResult
    from auditor.report.progress import ProgressDisplay

    out = io.StringIO()
    p = ProgressDisplay(out, tty=True)
    p.begin(2)
    p("prod", "render overlays/prod")
    p.finished(TargetResult(target=Target(name="prod"), audited=True))
    p("dev", "read live state from snapshot:x")
    p.close()
    text = out.getvalue()
    assert "\n" not in text
    assert "[0/2] render overlays/prod: prod" in text and "[1/2] read live state from snapshot:x: dev" in text
    assert text.endswith("\r\x1b[K")  # cleared before the summary
    plain = io.StringIO()
    q = ProgressDisplay(plain, tty=False)
    q.begin(1)
    q("x", "render")
    q.finished(TargetResult(target=Target(name="x\x1b[2J"), audited=False, skip_reason="boom\nagain"))
    assert plain.getvalue() == "[1/1] x: NOT AUDITED: boom again\n"  # the escape sequence is dropped whole


def test_selection_and_config_messages(fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", _cfg(fleet), "--env", "prod"]) == 2
    err = capsys.readouterr().err
    assert "--env prod: no target matches (known envs: dev, production)" in err
    assert str(fleet) not in err  # no absolute paths of every target
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    monkeypatch.delenv("GITOPS_AUDIT_CONFIG", raising=False)
    assert main(["run", "--context", "prod-us"]) == 2
    err = capsys.readouterr().err
    assert "--context prod-us: no config file" in err
    assert "gitops-audit --repo REPO --path OVERLAY --context prod-us" in err


# --------------------------------------------------------------------------- pipes


def test_closed_stdout_ends_quietly(fleet: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", "render", "--config", _cfg(fleet), "--target", "prod"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first write, as with `| head` after its lines
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == cli.EXIT_BROKEN_PIPE
    assert err == ""


def test_broken_pipe_in_process(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Gone(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            return sys.__stdout__.fileno() if sys.__stdout__ else 1

    monkeypatch.setattr(cli, "_stdout_gone", lambda: cli.EXIT_BROKEN_PIPE)  # keep pytest's real stdout
    monkeypatch.setattr(sys, "stdout", Gone())
    assert main(["render", "--config", _cfg(fleet), "--target", "prod"]) == cli.EXIT_BROKEN_PIPE


# --------------------------------------------------------------------------- serve


def _start_serve(reports: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "serve", "--reports", str(reports), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "Serving" in line, line
    return proc, line.split(" at ")[1].split()[0]


def test_serve_access_log_and_quiet_disconnects(tmp_path: Path) -> None:
    import urllib.request

    reports = tmp_path / "reports"
    run = reports / "20260101T000000Z-abcdef"
    run.mkdir(parents=True)
    (run / "report.html").write_bytes(b"<!DOCTYPE html>" + b"x" * 8_000_000)
    (run / "report.json").write_text("{}")
    proc, url = _start_serve(reports)
    try:
        with urllib.request.urlopen(url + "20260101T000000Z-abcdef/report.json", timeout=30) as r:
            assert r.status == 200
        host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
        for _ in range(3):  # clients that leave mid-download
            s = socket.create_connection((host, int(port)), timeout=30)
            s.sendall(b"GET /20260101T000000Z-abcdef/report.html HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(1024)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        with urllib.request.urlopen(url + "nope", timeout=30) as r:  # pragma: no cover - 404 raises
            pass
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    finally:
        # No wait needed: the server logs a request (synchronously, to unbuffered stderr) in send_response,
        # before the status line goes out, so every line is in the pipe once the client has its answer.
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    lines = [x for x in err.splitlines() if '"GET ' in x]
    assert any('"GET /20260101T000000Z-abcdef/report.json HTTP/1.1" 200 2 ' in x for x in lines), err
    assert any('"GET /nope HTTP/1.1" 404' in x for x in lines), err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err


def test_serve_names_the_path_and_warns_on_an_empty_reports_dir(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--reports", str(tmp_path / "missing")]) == 2
    assert f"{tmp_path / 'missing'} does not exist" in capsys.readouterr().err
    empty = tmp_path / "reports"
    empty.mkdir()
    (empty / ".gitkeep").write_text("")
    proc, _url = _start_serve(empty)
    proc.terminate()
    _out, err = proc.communicate(timeout=30)
    assert f"{empty} holds no report yet" in err


# --------------------------------------------------------------------------- demo


def test_demo_checks_tools_first_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git = subprocess.run(["which", "git"], capture_output=True, text=True, check=True).stdout.strip()
    (bin_dir / "git").symlink_to(git)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--dir", "fleet"]) == 2
    err = capsys.readouterr().err
    assert "kustomize not found" in err and "gitops-audit tools install kubectl" in err
    assert not (tmp_path / "fleet").exists()


def test_license_is_an_spdx_expression() -> None:
    import tomllib

    doc = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert doc["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in doc["build-system"]["requires"]  # the first setuptools that reads SPDX strings
