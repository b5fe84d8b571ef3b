"""Redaction of URL credentials and free text, and masking of known secret values."""

from __future__ import annotations

from auditor.util.redact import SecretValues, mask_tool_message, redact_text, redact_url


def test_mask_tool_message_cuts_dumps_and_masks_variants() -> None:
    secrets = SecretValues(["s3cr3t-value"])
    msg = mask_tool_message("bad czNjcjN0LXZhbHVl and s3cr3t-value: node contents:\n{a: b}\n", secrets)
    assert msg == "bad *** and ***: node contents: (not shown)"


def test_urls_lose_userinfo_and_token_values() -> None:
    assert redact_url("https://user:tok3n@git.example.com/org/repo.git") == "https://git.example.com/org/repo.git"
    assert redact_url("https://tok3n@git.example.com/r") == "https://git.example.com/r"
    assert redact_url("ssh://git@git.example.com/r.git") == "ssh://git@git.example.com/r.git"
    assert redact_url("ssh://git:pw@git.example.com/r.git") == "ssh://git.example.com/r.git"
    assert redact_url("https://h/r.git?private_token=abc&ref=main") == "https://h/r.git?private_token=***&ref=main"
    assert redact_url("/srv/repos/fleet") == "/srv/repos/fleet"
    assert redact_text("fetch https://x:y@h/r failed; Authorization: Bearer abcdefghijk") == \
        "fetch https://h/r failed; Authorization: Bearer ***"
    assert redact_text("S3 https://b.s3/o?X-Amz-Signature=deadbeef&x=1") == "S3 https://b.s3/o?X-Amz-Signature=***&x=1"
