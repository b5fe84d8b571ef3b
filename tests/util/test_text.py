"""Text from repositories and clusters made safe per output (issue 16 items 14 and 15)."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET

from auditor.util.text import (
    BIDI_CHARS,
    bidi_in,
    csv_safe,
    encodable,
    json_safe,
    scrub,
    terminal_safe,
    visible,
    xml_safe,
)

EVIL = "a\x1b]0;title\x07b\x1b[2Jc\x9b31md\u202ee\uffff\ud800f\x00g"


def test_terminal_gets_no_sequence_and_sees_bidi() -> None:
    out = terminal_safe(EVIL)
    assert out == "abcd<U+202E>e\uffff\ufffdf\ufffdg"
    assert terminal_safe("x\ny", one_line=True) == "x y" and terminal_safe("x\ny") == "x\ny"


def test_xml_is_well_formed() -> None:
    ET.fromstring(f"<a b='{xml_safe(EVIL)}'>{xml_safe(EVIL).replace('<', '&lt;')}</a>".encode())


def test_csv_and_json_show_what_is_there() -> None:
    assert csv_safe("=x\x1b\u202e\n") == "=x<U+001B><U+202E>\n"
    text = json_safe(json.dumps({"k": "x\u202e\x9by\ud800"}, ensure_ascii=False))
    assert "\u202e" not in text and "\x9b" not in text and json.loads(text) == {"k": "x\u202e\x9by\ufffd"}


def test_bidi_and_surrogate_scrub() -> None:
    assert bidi_in("ab\u202ec\u2066") == ["U+202E", "U+2066"]
    value = {"k\ud800": ["x\udfff", {"y": "\ud83d"}]}
    assert scrub(value) == {"k\ufffd": ["x\ufffd", {"y": "\ufffd"}]}


def _reference_json_safe(text: str) -> str:
    return encodable_reference(text).translate({ord(c): f"\\u{ord(c):04x}" for c in
                                                 BIDI_CHARS + "".join(map(chr, range(0x7F, 0xA0)))})


def encodable_reference(text: str) -> str:
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def test_fast_paths_give_the_same_text_as_the_character_by_character_rules() -> None:
    """json_safe/encodable/visible skip text that cannot hold what they change: same result either way."""
    rng = random.Random(7)
    alphabet = ["a", " ", "\t", "\n", "é", "\u2603", "\U0001f600", "\x7f", "\x85", "\x9f", "\x1b", "\x00",
                "\ud800", "\udfff", "\u202e", "\u2066", "\u061c", "\u2028", "\ufeff"]
    samples = ["", "plain ascii", "caf\u00e9", "\u2603 snow"]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    for s in samples:
        assert json_safe(s) == _reference_json_safe(s), repr(s)
        assert encodable(s) == encodable_reference(s), repr(s)
        shown = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else
                        f"<U+{ord(c):04X}>" if c in BIDI_CHARS or ((ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)
                        and c not in "\t\n\r") else c for c in s)
        assert visible(s) == shown, repr(s)
