"""Text from repositories and clusters made safe per output (issue 16 items 14 and 15)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from auditor.util.text import bidi_in, csv_safe, json_safe, scrub, terminal_safe, xml_safe

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
