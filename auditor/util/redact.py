"""Redaction: credentials in URLs and free text, and known secret values in tool messages.

One mechanism for every stage and output:

* :func:`redact_url` / :func:`redact_text` remove URL userinfo (``https://user:token@host`` →
  ``https://host``; an ssh account name such as ``git@`` is kept, it is not a secret), mask
  token-like query parameters (``?private_token=***``), bearer tokens and ``password: …`` pairs.
  Used for repository URLs in reports and bundles, log lines, error messages and metrics.
* :func:`mask_values` replaces known secret values (and their base64 forms) in a message with
  ``***``; :func:`cut_echo` drops the object dumps kustomize appends to some errors. Render errors go
  through both before they are stored or printed (:func:`mask_tool_message`).
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Iterable

MASK = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values are not masked in free text: masking ``on`` or ``1`` would garble every message,
and values that short protect nothing."""

_TOKEN_PARAMS = (
    "token", "access_token", "private_token", "id_token", "refresh_token", "auth", "auth_token",
    "authorization", "password", "passwd", "pwd", "pass", "secret", "client_secret", "key", "api_key",
    "apikey", "sig", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
    "x-goog-signature", "x-goog-credential", "jwt", "session", "sessionid", "code",
)
_QUERY_RE = re.compile(
    r"(?i)([?&;](?:" + "|".join(re.escape(p) for p in _TOKEN_PARAMS) + r")=)[^&#;\s'\"<>]*"
)
_USERINFO_RE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]{0,30}://)(?P<userinfo>[^/@\s'\"<>?#]*)@")
_SSH_SCHEMES = ("ssh://", "git+ssh://", "ssh+git://")
_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_FREE_TEXT = (
    re.compile(r"(?i)(authorization:\s*(?:bearer|basic)\s+)[^\s'\"]+"),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:token|password|passwd|client-secret|client_secret|client-key-data|client-certificate-data|private_token)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s'\",}&;]+"
    ),
)


def _userinfo(m: re.Match[str]) -> str:
    scheme, info = m.group("scheme"), m.group("userinfo")
    # An ssh account name (git@host) is not a credential; anything with a password is.
    if scheme.lower() in _SSH_SCHEMES and ":" not in info and _ACCOUNT_RE.match(info):
        return f"{scheme}{info}@"
    return scheme


def redact_text(text: str) -> str:
    """``text`` with URL credentials, token query parameters, bearer tokens and password pairs masked."""
    if not text:
        return text
    if "://" in text:
        text = _USERINFO_RE.sub(_userinfo, text)
    if "=" in text:
        text = _QUERY_RE.sub(lambda m: m.group(1) + MASK, text)
    for pattern in _FREE_TEXT:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def redact_url(url: str) -> str:
    """A repository/server URL (or local path) as it may be shown or stored: no userinfo, no token values."""
    return redact_text(url)


def has_credentials(url: str) -> bool:
    """True when ``url`` carries userinfo a report must not show (or token-like query parameters)."""
    return redact_url(url) != url


# ---- known secret values ------------------------------------------------------------------------------

def variants(value: str) -> set[str]:
    """A secret value and the forms a tool may echo it in: as is, base64, base64-decoded, per line."""
    out = {value}
    raw = value.encode("utf-8", "surrogatepass")
    out.add(base64.b64encode(raw).decode("ascii"))
    compact = "".join(value.split())
    if len(compact) >= MIN_SECRET_LENGTH and len(compact) % 4 == 0:
        try:
            decoded = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if decoded:
            text = decoded.decode("utf-8", "replace")
            out.add(text)
            out.update(line.strip() for line in text.splitlines())
    out.update(line.strip() for line in value.splitlines())
    return {v for v in out if len(v) >= MIN_SECRET_LENGTH}


class SecretValues:
    """A set of secret strings (with their variants) and one compiled pattern to mask them in text."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        """Add values (their variants included)."""
        for v in values:
            if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH:
                self._values |= variants(v)
        self._pattern = None

    def __len__(self) -> int:
        return len(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def mask(self, text: str) -> str:
        """``text`` with every known value replaced by ``***`` (longest first, one pass)."""
        if not self._values or not text:
            return text
        if self._pattern is None:
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        return self._pattern.sub(MASK, text)


def mask_values(text: str, values: Iterable[str]) -> str:
    """``text`` with the given secret values (and their base64 forms) masked."""
    return SecretValues(values).mask(text)


# kustomize prints the YAML node it choked on ("node contents:" / "in node …"), the literal
# sources of a generator, and sometimes a whole resource: none of that is needed to explain the
# failure, and any of it may be a Secret value.
_ECHO_RES = (
    re.compile(r"(?s)\bnode contents:.*"),
    re.compile(r"(?s)\bliteral sources \[.*?\](?=:|$)"),
)


def cut_echo(text: str) -> str:
    """Drop the object content kustomize echoes into its errors (``node contents: …``, literal lists)."""
    text = _ECHO_RES[0].sub("node contents: (not shown)", text)
    return _ECHO_RES[1].sub("literal sources (not shown)", text)


def mask_tool_message(text: str, secrets: SecretValues | None = None) -> str:
    """The one masking every stored or printed tool/render error goes through."""
    text = cut_echo(text)
    if secrets:
        text = secrets.mask(text)
    return redact_text(text)


def split_userinfo(url: str) -> tuple[str, str]:
    """(URL without userinfo, the userinfo) of an http(s) URL; ("", "") parts when there is none."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url, ""
    info, _, host = parts.netloc.rpartition("@")
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), info
