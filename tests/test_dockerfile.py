"""Lint the Dockerfile (no Docker engine here): parse it and check the image rules of issue 9.

Rules: multi-stage with named stages; base images pinned to an explicit tag; kubectl, kustomize and
helm pinned by version and verified with sha256sum; a numeric non-root USER in the final stage;
HOME, XDG_CACHE_HOME and TMPDIR under /tmp (read-only root filesystem + emptyDir /tmp);
``gitops-audit`` as exec-form ENTRYPOINT; apt without recommends and with its lists removed;
pipes only under ``SHELL [... "-o", "pipefail" ...]``; no ADD of URLs; COPY sources present in the
build context and not excluded by .dockerignore. Each rule has a test that breaks it.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
TOOLS = ("KUBECTL", "KUSTOMIZE", "HELM")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    line: int
    keyword: str
    args: str


@dataclass
class Stage:
    """A FROM … AS name block."""

    image: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages). Comments and blank lines dropped; ``\\`` continuations joined."""
    instructions: list[Instruction] = []
    buf: list[str] = []
    start = 0
    for no, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment lines inside a continuation are ignored by Docker
        if not buf:
            start = no
        if stripped.endswith("\\"):
            buf.append(stripped[:-1].strip())
            continue
        buf.append(stripped)
        joined = " ".join(part for part in buf if part)
        keyword, _, args = joined.partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
        buf = []
    assert not buf, "Dockerfile ends inside a line continuation"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", ins.args, re.IGNORECASE)
            assert m, f"line {ins.line}: cannot parse FROM {ins.args}"
            stages.append(Stage(image=m.group(1), name=(m.group(2) or "").lower()))
        elif not stages:
            if ins.keyword == "ARG":
                name, _, default = ins.args.partition("=")
                global_args[name.strip()] = default.strip()
        else:
            stages[-1].instructions.append(ins)
    return global_args, stages


def _stage_args(stage: Stage) -> dict[str, str]:
    out = {}
    for ins in stage.instructions:
        if ins.keyword == "ARG":
            name, _, default = ins.args.partition("=")
            out[name.strip()] = default.strip()
    return out


def _env(stage: Stage) -> dict[str, str]:
    out: dict[str, str] = {}
    for ins in stage.instructions:
        if ins.keyword == "ENV":
            for m in re.finditer(r"(\w+)=(\"[^\"]*\"|\S+)", ins.args):
                out[m.group(1)] = m.group(2).strip('"')
    return out


def _expand(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), value)


def _ignored(path: str, patterns: list[str]) -> bool:
    excluded = False
    for pat in patterns:
        negate = pat.startswith("!")
        pat = pat.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(path.split("/")[0], pat):
            excluded = not negate
    return excluded


def lint(text: str, ignore_text: str = "", context: Path = ROOT) -> list[str]:
    """Every broken rule, as ``rule: detail`` strings (empty when the Dockerfile is fine)."""
    problems: list[str] = []
    global_args, stages = parse(text)
    if len(stages) < 2:
        problems.append("multi-stage: need at least two stages (build and runtime)")
    names = [s.name for s in stages]
    for s in stages[:-1]:
        if not s.name:
            problems.append(f"stage-name: stage FROM {s.image} has no AS name")
    for s in stages:
        image = _expand(s.image, global_args)
        if s.image in names:
            continue  # built on an earlier stage
        m = re.fullmatch(r"[\w.\-/:]+?(?::([\w.\-]+))?(?:@sha256:[0-9a-f]{64})?", image)
        tag = m.group(1) if m else None
        if "@sha256:" not in image and (not tag or tag == "latest" or not re.search(r"\d", tag)):
            problems.append(f"pinned-base: {image} is not pinned to a versioned tag or digest")
    ignore = [ln.strip() for ln in ignore_text.splitlines() if ln.strip() and not ln.startswith("#")]
    for s in stages:
        args = {**global_args, **_stage_args(s)}
        has_pipefail = False
        for ins in s.instructions:
            if ins.keyword == "SHELL":
                shell = json.loads(ins.args)
                has_pipefail = "pipefail" in shell
            if ins.keyword == "ADD" and re.search(r"https?://", ins.args):
                problems.append(f"no-add-url: line {ins.line} ADDs a URL (download with a checksum instead)")
            if ins.keyword == "RUN":
                run = ins.args
                if "|" in run.replace("||", "") and not has_pipefail:
                    problems.append(f"pipefail: line {ins.line} pipes without SHELL -o pipefail")
                if "apt-get install" in run:
                    if "--no-install-recommends" not in run:
                        problems.append(f"apt: line {ins.line} installs recommends")
                    if "rm -rf /var/lib/apt/lists" not in run:
                        problems.append(f"apt: line {ins.line} leaves apt lists in the layer")
                for url in re.findall(r"https?://\S+", run):
                    if "latest" in url or "stable.txt" in url:
                        problems.append(f"pinned-tools: line {ins.line} downloads an unpinned {url}")
                for cmd in re.split(r"&&|;|\|\|?", run):
                    words = cmd.split()
                    if words[:1] == ["curl"] and not any(re.fullmatch(r"-[a-zA-Z]*f[a-zA-Z]*|--fail", w)
                                                         for w in words):
                        problems.append(f"curl-fail: line {ins.line} curl without -f (HTTP errors pass silently)")
            if ins.keyword == "COPY" and "--from=" not in ins.args:
                parts = [p for p in ins.args.split() if not p.startswith("--")]
                for src in parts[:-1]:
                    if not (context / src).exists():
                        problems.append(f"copy: line {ins.line} copies {src}, absent from the build context")
                    elif _ignored(src, ignore):
                        problems.append(f"copy: line {ins.line} copies {src}, excluded by .dockerignore")
            if ins.keyword == "COPY" and "--from=" in ins.args:
                src_stage = re.search(r"--from=(\S+)", ins.args)
                if src_stage and src_stage.group(1).lower() not in names:
                    problems.append(f"copy-from: line {ins.line} copies from unknown stage {src_stage.group(1)}")
            if ins.keyword in ("ENV", "ARG") and re.search(r"(?i)(token|password|secret)\w*=", ins.args):
                problems.append(f"no-secrets: line {ins.line} bakes a credential-like {ins.keyword}")
        # Tools: version + checksum ARGs and a sha256sum check using both, in the stage that downloads them.
        runs = " ".join(i.args for i in s.instructions if i.keyword == "RUN")
        for tool in TOOLS:
            if f"${{{tool}_VERSION}}" not in runs:
                continue
            version = args.get(f"{tool}_VERSION", "")
            digest = args.get(f"{tool}_SHA256", "")
            if not re.fullmatch(r"v\d+\.\d+\.\d+", version):
                problems.append(f"pinned-tools: {tool}_VERSION {version!r} is not an exact vX.Y.Z")
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                problems.append(f"pinned-tools: {tool}_SHA256 {digest!r} is not a sha256")
            if not re.search(rf"\$\{{{tool}_SHA256\}}\s+\S+\"?\s*\|\s*sha256sum -c", runs):
                problems.append(f"pinned-tools: {tool} download is not checked with sha256sum -c")
    downloaded = {t for t in TOOLS for s in stages for i in s.instructions
                  if i.keyword == "RUN" and f"${{{t}_VERSION}}" in i.args}
    for tool in TOOLS:
        if tool not in downloaded:
            problems.append(f"pinned-tools: {tool.lower()} is not installed from a pinned download")
    if not stages:
        return problems
    final = stages[-1]
    users = [i for i in final.instructions if i.keyword == "USER"]
    if not users:
        problems.append("non-root: the final stage sets no USER")
    else:
        uid, _, gid = users[-1].args.partition(":")
        if not uid.isdigit() or int(uid) == 0 or (gid and (not gid.isdigit() or int(gid) == 0)):
            problems.append(f"non-root: USER {users[-1].args} is not a numeric non-root uid[:gid]")
        after = [i for i in final.instructions if i.line > users[-1].line and i.keyword == "RUN"]
        if after:
            problems.append("non-root: RUN after the last USER")
    env = _env(final)
    for var in ("HOME", "XDG_CACHE_HOME", "TMPDIR"):
        if not (env.get(var, "") + "/").startswith("/tmp/"):
            problems.append(f"read-only-rootfs: {var} is {env.get(var)!r}, not under /tmp")
    entry = [i for i in final.instructions if i.keyword == "ENTRYPOINT"]
    if not entry:
        problems.append("entrypoint: the final stage has no ENTRYPOINT")
    else:
        try:
            value = json.loads(entry[-1].args)
        except ValueError:
            value = None
        if value != ["gitops-audit"]:
            problems.append(f"entrypoint: {entry[-1].args} is not the exec form [\"gitops-audit\"]")
    return problems


def _real() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def test_dockerfile_passes_every_rule() -> None:
    assert lint(_real(), DOCKERIGNORE.read_text(encoding="utf-8")) == []


def test_dockerignore_keeps_the_context_small_and_secret_free() -> None:
    patterns = DOCKERIGNORE.read_text(encoding="utf-8").split()
    for needed in (".git", "reports", "tests", "**/__pycache__"):
        assert needed in patterns


def test_final_stage_facts() -> None:
    _, stages = parse(_real())
    final = stages[-1]
    assert final.name == "runtime"
    copied = [i.args for i in final.instructions if i.keyword == "COPY"]
    assert any("--from=tools" in c and "kustomize" in c and "kubectl" in c and "helm" in c for c in copied)
    assert any("--from=build" in c for c in copied)
    # Nothing in the final stage downloads anything: tools come verified from the tools stage.
    assert not any("curl" in i.args for i in final.instructions if i.keyword == "RUN")


BREAKS = [
    ("USER 65532:65532", "USER app", "non-root"),
    ("USER 65532:65532", "USER 0", "non-root"),
    ("USER 65532:65532\n", "", "non-root"),
    ('ENTRYPOINT ["gitops-audit"]', "ENTRYPOINT gitops-audit", "entrypoint"),
    ("HOME=/tmp \\", "HOME=/home/app \\", "read-only-rootfs"),
    ("TMPDIR=/tmp \\", "TMPDIR=/var/tmp \\", "read-only-rootfs"),
    ("ARG KUBECTL_VERSION=v1.30.4", "ARG KUBECTL_VERSION=latest", "pinned-tools"),
    ('&& echo "${HELM_SHA256}  helm.tar.gz" | sha256sum -c - \\\n', "", "pinned-tools"),
    ("ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm", "ARG PYTHON_IMAGE=python", "pinned-base"),
    ("ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm", "ARG PYTHON_IMAGE=python:latest", "pinned-base"),
    ('SHELL ["/bin/bash", "-o", "pipefail", "-c"]\n', "", "pipefail"),
    ("--no-install-recommends ca-certificates curl", "ca-certificates curl", "apt"),
    ("COPY policies ./policies", "COPY tests ./tests", "copy"),
    ("COPY --from=build /opt/venv", "COPY --from=builder /opt/venv", "copy-from"),
    ("curl -fsSLo kubectl", "curl -sSLo kubectl", "curl-fail"),
    ("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=1 \\\n    API_TOKEN=abc", "no-secrets"),
]


@pytest.mark.parametrize(("old", "new", "rule"), BREAKS, ids=[b[2] + "-" + str(i) for i, b in enumerate(BREAKS)])
def test_each_rule_catches_its_break(old: str, new: str, rule: str) -> None:
    text = _real()
    assert old in text, f"test fixture out of date: {old!r} not in Dockerfile"
    broken = text.replace(old, new, 1)
    problems = lint(broken, DOCKERIGNORE.read_text(encoding="utf-8"))
    assert any(p.startswith(rule + ":") for p in problems), problems


def test_single_stage_is_rejected() -> None:
    problems = lint('FROM python:3.11.10-slim\nUSER 1000\nENV HOME=/tmp XDG_CACHE_HOME=/tmp TMPDIR=/tmp\n'
                    'ENTRYPOINT ["gitops-audit"]\n')
    assert any(p.startswith("multi-stage:") for p in problems)
    assert sum(p.startswith("pinned-tools:") for p in problems) == 3
