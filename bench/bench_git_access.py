"""Benchmark: git object access through the git CLI (what the product uses) vs dulwich and GitPython.

Why this exists: the brief names GitPython and dulwich. This measures the two git operations the product performs
in bulk — extracting a commit's whole tree (every render) and reading one file at a commit many times (CODEOWNERS
at each commit's base, blame) — so the choice of the git CLI is a measured one. dulwich and GitPython are not
dependencies of the product; install them to run this: ``pip install dulwich GitPython``.

    python bench/bench_git_access.py [--files 3000] [--reads 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.repo import git as repo_git
from auditor.repo.options import SourceOptions

ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin:/usr/local/bin"}


def make_repo(root: Path, files: int) -> str:
    """A one-commit repository of ``files`` small YAML files in nested directories, packed; returns the sha."""
    rng = random.Random(7)
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=ENV)
    for i in range(files):
        d = root / f"apps/app{i % 150}/overlays/env{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        body = "x" * rng.randint(10, 2000)
        (d / f"f{i}.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  k: {body}\n")
    git = ["git", "-C", str(root), "-c", "user.name=b", "-c", "user.email=b@example.com"]
    subprocess.run([*git, "add", "-A"], check=True, env=ENV)
    subprocess.run([*git, "commit", "-qm", "init"], check=True, env=ENV)
    subprocess.run([*git, "gc", "-q"], check=True, env=ENV)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, env=ENV, capture_output=True,
                          text=True).stdout.strip()


def timed(fn: Callable[[], object], runs: int) -> float:
    """Median wall seconds of ``runs`` calls."""
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    """Run the comparison and print one line per method."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--reads", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    import git as gitpython  # GitPython
    from dulwich.object_store import iter_tree_contents, tree_lookup_path
    from dulwich.repo import Repo

    work = Path(tempfile.mkdtemp(prefix="bench-git-"))
    try:
        root = work / "repo"
        sha = make_repo(root, args.files)
        handle = repo_git.open_repo(str(root), SourceOptions())
        target = f"apps/app3/overlays/env3/f{3 + 150 * 7}.yaml"
        if not (root / target).exists():
            target = "apps/app3/overlays/env3/f3.yaml"

        def cli_extract() -> None:
            repo_git.extract_tree(handle, sha, Path(tempfile.mkdtemp(dir=work)) / "t")

        def dulwich_extract() -> None:
            r = Repo(str(root))
            out = Path(tempfile.mkdtemp(dir=work))
            for e in iter_tree_contents(r.object_store, r[sha.encode()].tree):
                p = out / e.path.decode()
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(r.object_store[e.sha].data)
            r.close()

        def gitpython_extract() -> None:
            r = gitpython.Repo(str(root))
            out = Path(tempfile.mkdtemp(dir=work))
            for b in r.commit(sha).tree.traverse():
                if b.type == "blob":
                    p = out / b.path
                    p.parent.mkdir(parents=True, exist_ok=True)
                    p.write_bytes(b.data_stream.read())
            r.close()

        def cli_show() -> None:
            for _ in range(args.reads):
                subprocess.run(["git", "-C", str(root), "show", f"{sha}:{target}"], capture_output=True, env=ENV)

        def cli_batch() -> None:
            p = subprocess.Popen(["git", "-C", str(root), "cat-file", "--batch"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, env=ENV)
            assert p.stdin and p.stdout
            for _ in range(args.reads):
                p.stdin.write(f"{sha}:{target}\n".encode())
                p.stdin.flush()
                size = int(p.stdout.readline().split()[2])
                p.stdout.read(size + 1)
            p.stdin.close()
            p.wait()

        def dulwich_reads() -> None:
            r = Repo(str(root))
            for _ in range(args.reads):
                _mode, blob = tree_lookup_path(r.__getitem__, r[sha.encode()].tree, target.encode())
                _ = r[blob].data
            r.close()

        def gitpython_reads() -> None:
            r = gitpython.Repo(str(root))
            for _ in range(args.reads):
                _ = (r.commit(sha).tree / target).data_stream.read()
            r.close()

        print(f"tree of {args.files} files, median of {args.runs} runs")
        for name, fn in (("git CLI (ls-tree + cat-file --batch)", cli_extract), ("dulwich", dulwich_extract),
                         ("GitPython", gitpython_extract)):
            print(f"  extract  {name:40s} {timed(fn, args.runs):7.3f} s")
        print(f"{args.reads} reads of one file at a commit")
        for name, fn in (("git show (one process per read)", cli_show), ("git cat-file --batch (one process)",
                         cli_batch), ("dulwich", dulwich_reads), ("GitPython", gitpython_reads)):
            t = timed(fn, args.runs)
            print(f"  read     {name:40s} {t / args.reads * 1000:7.3f} ms/read")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
