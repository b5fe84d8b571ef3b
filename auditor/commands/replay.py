"""``gitops-audit replay evidence.zip``: re-run drift, policy and change control offline from a bundle."""

from __future__ import annotations

import argparse
from typing import Any

EXIT_CODES = """exit codes:
  0  reproduced: the replayed findings equal the recorded ones, byte for byte after sorting
  1  differs: the replay produced other findings (the lines that differ are printed)
  2  usage error: not a bundle with state (written with evidence.include_state: false?)
  any verify-bundle code (1, 5, 6, 8) when --key is given and the bundle does not verify"""


def register(subparsers: Any) -> None:
    """Add the ``replay`` subcommand."""
    p = subparsers.add_parser(
        "replay",
        help="re-run drift, policy and change-control checks offline from an evidence bundle",
        description="Judge the desired state, live state, policies and change-control inputs recorded in an "
        "evidence bundle again, with this tool's checks and without git, cluster or network, and say "
        "whether the findings recorded in the bundle are reproduced.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="evidence bundle (.zip)")
    p.add_argument("--key", action="append", default=[], metavar="PUB",
                   help="verify the bundle's signature with this public key first (repeatable)")
    p.add_argument("--show", type=int, default=20, metavar="N", help="differing lines to print (default 20)")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Replay; print one verdict line (plus differing lines); 0 reproduced, 1 differs."""
    from auditor.pipeline_replay import replay
    from auditor.report.bundle import Status, verify
    from auditor.report.signing import load_public_key

    if args.key:
        check = verify(args.file, [load_public_key(k) for k in args.key])
        if check.status is not Status.VERIFIED:
            print(f"NOT REPLAYED: {args.file}: {check.headline}: {check.problems[0] if check.problems else ''}")
            return int(check.status)
    result = replay(args.file)
    skipped = f"; not audited by the run, nothing to replay: {', '.join(result.skipped)}" if result.skipped else ""
    if result.reproduced:
        print(f"REPRODUCED: {args.file}: {len(result.replayed)} findings of {len(result.targets)} targets match "
              f"the recorded findings byte for byte{skipped}")
        return 0
    print(f"DIFFERS: {args.file}: {len(result.missing)} recorded finding(s) not reproduced, "
          f"{len(result.extra)} new{skipped}")
    for line in result.missing[: args.show]:
        print(f"  - recorded only: {line}")
    for line in result.extra[: args.show]:
        print(f"  + replay only:   {line}")
    return 1
