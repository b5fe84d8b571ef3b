"""``gitops-audit verify-bundle FILE --key PUB``: check an evidence bundle's signature and every member."""

from __future__ import annotations

import argparse
from typing import Any

EXIT_CODES = """exit codes:
  0  verified: the signature verifies with a given key and every file matches the manifest
  1  signature invalid: the manifest or the envelope was edited, or signed by another key
  2  usage error (e.g. the public key cannot be read)
  5  file tampered: a member's sha256 differs from the signed manifest
  6  file missing or added: a listed member is gone, or a member is not listed
  7  unsigned: the bundle carries no signature (its checksums prove nothing on their own)
  8  not a valid bundle: not a zip, damaged, malformed manifest, or beyond the size limits (zip bomb)
  9  signature not checked: the bundle is signed but no --key was given"""


def register(subparsers: Any) -> None:
    """Add the ``verify-bundle`` subcommand."""
    p = subparsers.add_parser(
        "verify-bundle",
        help="verify an evidence bundle: Ed25519 signature over the manifest, sha256 of every file",
        description="Check an evidence bundle written by a run (reports/<run-id>/evidence.zip): the DSSE "
        "signature over manifest.json (an in-toto statement) with the given public key(s), then every "
        "member against the sha256 in the manifest. Prints one line; the exit code says which verdict.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="evidence bundle (.zip)")
    p.add_argument("--key", action="append", default=[], metavar="PUB",
                   help="Ed25519 public key (PEM, or base64 raw key); repeatable, to accept several keys (rotation)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing; only the exit code tells")
    p.add_argument("--all", action="store_true", help="list every problem, one per line, after the verdict")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Verify the bundle; print one line; the exit code is the verdict (see ``--help``)."""
    from auditor.report.bundle import Status, verify
    from auditor.report.signing import load_public_key

    keys = [load_public_key(k) for k in getattr(args, "key", None) or ()]
    result = verify(args.file, keys)
    if args.quiet:
        return int(result.status)
    man = result.manifest
    run = (f"run {man.get('run_id', '?')}, commit {str(man.get('commit', '?'))[:12]}, "
           f"exit code {man.get('exit_code', '?')}")
    head = result.headline.upper()
    if result.status is Status.VERIFIED:
        print(f"{head}: {args.file}: signature by key {result.key_id[:16]} valid, "
              f"{result.checked} files match ({run})")
    elif result.status is Status.UNSIGNED:
        print(f"{head}: {args.file}: {result.checked} files match manifest.json but the bundle is not signed, "
              f"so nothing proves it was not rewritten ({run})")
    else:
        more = f" (+{len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
        print(f"{head}: {args.file}: {result.problems[0] if result.problems else ''}{more}")
    if getattr(args, "all", False):
        for problem in result.problems:
            print(f"  - {problem}")
    return int(result.status)
