"""Benchmark: one-pass provenance index vs ``git log -1 -- PATH`` per path.

Builds a synthetic repository (default 10,000 commits over 2,000 files, several authors, renames,
trailers) with ``git fast-import``, then resolves the last commit of every file both ways and
checks that they agree.

    python bench/bench_provenance.py [--commits 10000] [--files 2000] [--sample N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.provenance.index import build_index
from auditor.util import proc

AUTHORS = [("Alice", "alice@example.com"), ("Bob", "bob@example.com"), ("Carol", "carol@example.com"),
           ("Dave", "dave@example.com"), ("renovate[bot]", "29139614+renovate[bot]@users.noreply.github.com")]
ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def _data(text: str) -> bytes:
    raw = text.encode()
    return b"data %d\n" % len(raw) + raw + b"\n"


def make_repo(root: Path, commits: int, files: int, seed: int = 7) -> list[str]:
    """Create the repository; returns the file paths present at HEAD."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    proc.run(["git", "init", "-q", "-b", "main", str(root)], action="init", env=ENV)
    paths = [f"overlays/env{i % 3}/region{i % 7}/app{i // 21}/file{i}.yaml" for i in range(files)]
    out = bytearray()
    ts = 1_760_000_000
    renames = 0
    for n in range(1, commits + 1):
        name, email = AUTHORS[rng.randrange(len(AUTHORS))]
        ts += rng.randrange(60, 3600)
        msg = f"change {n}"
        if n % 5 == 0:
            msg += f"\n\nApproved-by: {AUTHORS[0][0]} <{AUTHORS[0][1]}>"
        out += b"commit refs/heads/main\n"
        out += b"mark :%d\n" % n
        out += f"author {name} <{email}> {ts} +0000\n".encode()
        out += f"committer {name} <{email}> {ts} +0000\n".encode()
        out += _data(msg)
        if n > 1:
            out += b"from :%d\n" % (n - 1)
        touched = range(len(paths)) if n == 1 else rng.sample(range(len(paths)), rng.randint(1, 5))
        for i in touched:
            out += f"M 100644 inline {paths[i]}\n".encode() + _data(f"rev: {n}\nid: {i}\n")
        if n > 1 and n % 97 == 0:  # a rename now and then
            i = rng.randrange(len(paths))
            new = paths[i].replace(".yaml", f"-r{n}.yaml")
            out += f"R {paths[i]} {new}\n".encode()
            paths[i] = new
            renames += 1
        out += b"\n"
    proc.run(["git", "-C", str(root), "fast-import", "--quiet"], action="fast-import", input_bytes=bytes(out),
             env=ENV, timeout=600)
    proc.run(["git", "-C", str(root), "reset", "-q", "--hard", "main"], action="checkout", env=ENV, timeout=600)
    print(f"repo: {commits} commits, {files} files, {renames} renames at {root}")
    return paths


def _cpu() -> float:
    """CPU seconds of this process and its finished children (steadier than wall time on a busy host)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--commits", type=int, default=10_000)
    ap.add_argument("--files", type=int, default=2_000)
    ap.add_argument("--sample", type=int, default=0, help="time git log -1 on N paths only and extrapolate")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the one-pass index (median reported)")
    ap.add_argument("--keep", default="", help="create/keep the repository in this directory (reused if present)")
    args = ap.parse_args()

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-prov-")) / "repo"
    try:
        if args.keep and (tmp / ".git").is_dir():  # reuse a repository made by an earlier --keep run
            listed = proc.run(["git", "-C", str(tmp), "ls-files", "-z"], action="list", env=ENV).stdout
            paths = [p for p in listed.decode().split("\0") if p]
            print(f"reusing {tmp} ({len(paths)} files)")
        else:
            t0 = time.perf_counter()
            paths = make_repo(tmp, args.commits, args.files)
            print(f"generated in {time.perf_counter() - t0:.1f}s")

        runs, cpus = [], []
        index = None
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), _cpu()
            index = build_index(tmp, "HEAD")
            one_pass = {p: index.last_commit(p) for p in paths}
            runs.append(time.perf_counter() - t0)
            cpus.append(_cpu() - c0)
        assert index is not None
        one, one_cpu = statistics.median(runs), statistics.median(cpus)
        missing = [p for p, c in one_pass.items() if c is None]
        print(f"one-pass index: {len(index)} commits, {len(paths)} paths resolved in {one * 1000:.0f} ms wall, "
              f"{one_cpu * 1000:.0f} ms CPU (median of {len(runs)}: {', '.join(f'{r * 1000:.0f}' for r in runs)} ms)"
              f"; unresolved: {len(missing)}")

        sample = paths if not args.sample else random.Random(1).sample(paths, args.sample)
        t0, c0 = time.perf_counter(), _cpu()
        mismatches = 0
        for p in sample:
            sha = proc.run(["git", "-C", str(tmp), "log", "-1", "--format=%H", "HEAD", "--", p],
                           action="git log -1", env=ENV).stdout.decode().strip()
            c = one_pass[p]
            if c is None or c.sha != sha:
                mismatches += 1
        per_path, per_cpu = time.perf_counter() - t0, _cpu() - c0
        if args.sample:
            per_path = per_path / len(sample) * len(paths)
            per_cpu = per_cpu / len(sample) * len(paths)
            print(f"git log -1 per path: {len(sample)} sampled, extrapolated to {len(paths)} paths: "
                  f"{per_path:.1f} s wall, {per_cpu:.1f} s CPU")
        else:
            print(f"git log -1 per path: {len(paths)} paths in {per_path:.1f} s wall, {per_cpu:.1f} s CPU")
        print(f"agreement: {len(sample) - mismatches}/{len(sample)} paths give the same commit")
        print(f"ratio: one-pass is {per_path / one:.0f}x faster (wall), {per_cpu / one_cpu:.0f}x less CPU")
        return 0 if mismatches == 0 and not missing else 1
    finally:
        if not args.keep:
            shutil.rmtree(tmp.parent, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
