r"""Text from untrusted places (repositories, API servers, snapshots) made safe for each output.

* terminal: escape sequences (CSI, OSC, …), C0/C1 controls and bidirectional overrides would move the
  cursor, retitle the window, clear the screen or reorder what the reader sees: sequences are dropped,
  controls become ``�``, bidi characters a visible ``<U+202E>``;
* XML 1.0 (JUnit): characters the standard forbids (most C0 controls, U+FFFE, U+FFFF, lone
  surrogates) make the document ill-formed: they become ``�``;
* CSV: controls and bidi characters become visible escapes, so a spreadsheet or ``cat`` shows what
  is there instead of obeying it;
* any output: lone surrogates (``"\ud800"`` in JSON) cannot be encoded as UTF-8 and become ``�``.

Bidi characters in object names are also reported as a finding (``input.bidi-characters``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REPLACEMENT = "\ufffd"

BIDI_CHARS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
"""Arabic letter mark, LRM/RLM, embeddings/overrides (LRE RLE PDF LRO RLO) and isolates (LRI RLI FSI PDI)."""
_BIDI_RE = re.compile(f"[{BIDI_CHARS}]")
_ESCAPE_SEQ_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI … final byte
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC … BEL or ST (title changes, hyperlinks)
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS/SOS/PM/APC strings
    r"|\x1b[@-Z\\-_]"  # other two-byte escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_XML_FORBIDDEN_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE_RE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\\U0000[dD][89a-fA-F]")
_SURROGATE_ESCAPE_STR_RE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\\U0000[dD][89a-fA-F]|[\ud800-\udfff]")


def _visible(ch: str) -> str:
    return f"<U+{ord(ch):04X}>"


def bidi_in(text: str) -> list[str]:
    """The bidirectional control characters in ``text``, as ``U+202E`` names (sorted, unique)."""
    return sorted({f"U+{ord(c):04X}" for c in _BIDI_RE.findall(text)})


def show_bidi(text: str) -> str:
    """``text`` with bidi controls written as ``<U+202E>`` (visible, inert)."""
    return _BIDI_RE.sub(lambda m: _visible(m.group(0)), text)


def terminal_safe(text: str, *, one_line: bool = False) -> str:
    """Text that cannot drive a terminal: no escape sequences, controls → ``�``, bidi made visible."""
    text = _ESCAPE_SEQ_RE.sub("", text)
    if one_line:
        text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    keep = "" if one_line else "\n"
    text = _CONTROL_RE.sub(lambda m: m.group(0) if m.group(0) in keep or m.group(0) == "\t" else REPLACEMENT,
                           text)
    text = _SURROGATE_RE.sub(REPLACEMENT, text)
    return show_bidi(text)


def xml_safe(text: str) -> str:
    """Text every XML 1.0 parser accepts: forbidden characters become ``�`` (tab/newline/CR kept)."""
    return _XML_FORBIDDEN_RE.sub(REPLACEMENT, text)


def visible(text: str) -> str:
    """Text that shows controls and bidi characters (``<U+001B>``) instead of obeying them (newlines/tabs kept)."""
    if text.isprintable():  # no control, bidi (format) or surrogate character: nothing to show (most cells)
        return text
    text = _CONTROL_RE.sub(lambda m: m.group(0) if m.group(0) in "\t\n\r" else _visible(m.group(0)), text)
    text = _SURROGATE_RE.sub(REPLACEMENT, text)
    return show_bidi(text)


def csv_safe(text: str) -> str:
    """A CSV cell that a spreadsheet or terminal shows rather than obeys (see :func:`visible`)."""
    return visible(text)


_JSON_ESCAPED = BIDI_CHARS + "".join(map(chr, range(0x7F, 0xA0)))
"""Characters JSON text gets as escapes: bidi controls, DEL and the C1 controls."""
_JSON_NEUTRAL = {ord(c): f"\\u{ord(c):04x}" for c in _JSON_ESCAPED}
_JSON_UNSAFE_RE = re.compile(f"[\ud800-\udfff{_JSON_ESCAPED}]")


def json_safe(text: str) -> str:
    """JSON text with bidi and C1 characters written as escapes (same data, inert in any viewer), no lone surrogates.

    Those characters can only occur inside JSON strings, where an escape means the same character
    (``json.dumps`` already escapes C0 controls).
    """
    # Every character changed here is above U+007E: most report text is ASCII without DEL, checked at C speed,
    # and the rest is searched once. ``translate`` with a dict looks up every character (4 s for 80 MB of OSCAL).
    if (text.isascii() and "\x7f" not in text) or _JSON_UNSAFE_RE.search(text) is None:
        return text
    return encodable(text).translate(_JSON_NEUTRAL)



def encodable(text: str) -> str:
    """``text`` without lone surrogates (the only str values that cannot be written as UTF-8)."""
    if text.isascii():
        return text
    return _SURROGATE_RE.sub(REPLACEMENT, text) if _SURROGATE_RE.search(text) else text


def may_hold_surrogates(data: bytes | str) -> bool:
    r"""Cheap check on raw JSON/YAML: does it spell a surrogate escape (``\ud800``)? Then scrub the parse."""
    if isinstance(data, str):
        return _SURROGATE_ESCAPE_STR_RE.search(data) is not None
    return _SURROGATE_ESCAPE_RE.search(data) is not None


def scrub(value: object) -> object:
    """A parsed JSON/YAML value with lone surrogates in strings (keys too) replaced by ``�``.

    Go's JSON decoder (the API server, kubectl) does the same, so this is what Kubernetes would see.
    Iterative: the value may be deep.
    """
    if isinstance(value, str):
        return encodable(value)
    if not isinstance(value, dict | list):
        return value
    stack: list[dict[object, object] | list[object]] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            items: Iterable[tuple[object, object]] = list(node.items())
            for k, v in items:
                nk = encodable(k) if isinstance(k, str) else k
                nv = encodable(v) if isinstance(v, str) else v
                if nk is not k:
                    del node[k]
                if nk is not k or nv is not v:
                    node[nk] = nv
                if isinstance(nv, dict | list):
                    stack.append(nv)
        else:
            for i, v in enumerate(node):
                if isinstance(v, str):
                    node[i] = encodable(v)
                elif isinstance(v, dict | list):
                    stack.append(v)
    return value
