"""Options the report stage takes from config: evidence bundle contents and signing (imports nothing)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_KEY_ENV = "GITOPS_AUDIT_SIGNING_KEY"
KEY_FILE_NAMES = ("signing.key", "ed25519.key", "tls.key", "key")
"""File names looked for in a mounted Secret directory (``signing_key_dir``), in this order."""


@dataclass(frozen=True)
class EvidenceOptions:
    """How the evidence bundle is built and signed (config key ``evidence``)."""

    signing_key_file: str = ""
    """Ed25519 private key file (PEM PKCS#8, or the base64 32-byte seed)."""
    signing_key_env: str = DEFAULT_KEY_ENV
    """Environment variable holding the key (same formats); used when no file or directory is given."""
    signing_key_dir: str = ""
    """A mounted Kubernetes Secret (directory): the key is read from one of :data:`KEY_FILE_NAMES`."""
    require_signature: bool = False
    """Refuse to run (exit 2) when no signing key is available."""
    include_state: bool = True
    """Put the rendered desired state, the live state, the policies and change-control inputs in the
    bundle (what ``replay`` needs). Secret values are stored as keyed hashes, never in clear."""
