"""Findings about the inputs themselves, and what a report may show of them (wiring, issue 16).

* ``input.bidi-characters``: an object, namespace, source file or target name holding bidirectional
  control characters (U+202E…) can read as another name in every report; the API server never
  accepts such names, so they come from a repository or a forged snapshot.
* ``cluster.plain-http`` / ``cluster.tls-not-verified``: the live state of a target was read over a
  channel anyone on the path could read or alter; the evidence is only as good as that channel.
* Repository locations and reasons are shown without credentials (:func:`shown_result`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from auditor.model import Category, Finding, LiveState, Manifest, ObjectRef, Severity, Target, TargetResult
from auditor.util.redact import redact_text, redact_url
from auditor.util.text import bidi_in, show_bidi

BIDI_RULE = "input.bidi-characters"
_TRANSPORT: dict[str, tuple[str, Severity, str, str]] = {
    "plain-http": (
        "cluster.plain-http",
        Severity.HIGH,
        "live state was read over plain HTTP: credentials and objects travelled unencrypted and could have "
        "been altered on the way",
        "Serve the API over HTTPS and point the kubeconfig at the https:// address.",
    ),
    "tls-not-verified": (
        "cluster.tls-not-verified",
        Severity.MEDIUM,
        "live state was read without verifying the API server's TLS certificate (insecure-skip-tls-verify): "
        "anyone on the path could have answered in its place",
        "Put the cluster's CA in the kubeconfig (certificate-authority-data) and remove insecure-skip-tls-verify.",
    ),
}


def transport_findings(target: Target, live: LiveState) -> list[Finding]:
    """One finding per transport weakness of the live read."""
    out = []
    for weakness in live.insecure:
        rule, severity, message, fix = _TRANSPORT.get(
            weakness, (f"cluster.{weakness}", Severity.MEDIUM, f"insecure transport: {weakness}", ""))
        out.append(Finding(
            target=target.name, category=Category.COVERAGE, rule_id=rule, severity=severity,
            message=f"{message} ({redact_url(live.source)})", path=weakness,
            details={"remediation": fix} if fix else {},
        ))
    return out


def _bidi_finding(target: Target, what: str, text: str, ref: ObjectRef | None, side: str) -> Finding:
    chars = ", ".join(bidi_in(text))
    return Finding(
        target=target.name, category=Category.POLICY, rule_id=BIDI_RULE, severity=Severity.HIGH,
        message=f"{what} {show_bidi(text)!r} contains bidirectional control characters ({chars}): "
        "it can display as a different name in reports and terminals",
        ref=ref, path=side,
        details={"remediation": "Rename it without bidirectional control characters (Kubernetes names never "
                 "need them; the API server refuses them)."},
    )


def bidi_findings(target: Target, desired: Sequence[Manifest], live: Iterable[Manifest]) -> list[Finding]:
    """``input.bidi-characters`` findings for names that could disguise themselves."""
    out: list[Finding] = []
    if bidi_in(target.name):
        out.append(_bidi_finding(target, "target name", target.name, None, "config"))
    seen_files: set[str] = set()
    for side, manifests in (("desired", desired), ("live", live)):
        for m in manifests:
            ref = m.ref
            for what, text in (("object name", ref.name), ("namespace", ref.namespace)):
                if text and bidi_in(text):
                    out.append(_bidi_finding(target, what, text, ref, side))
            for f in m.provenance.files:
                if f.path not in seen_files and bidi_in(f.path):
                    seen_files.add(f.path)
                    out.append(_bidi_finding(target, "source file", f.path, ref, side))
    return out


def input_findings(target: Target, desired: Sequence[Manifest], live: LiveState) -> list[Finding]:
    """Every input-hygiene finding of one audited target."""
    return [*transport_findings(target, live), *bidi_findings(target, desired, live.objects)]


def shown_result(result: TargetResult) -> TargetResult:
    """A result as reports may show it: repository URL without credentials, reasons redacted."""
    target = result.target
    shown = redact_url(target.repo) if target.repo else target.repo
    if shown != target.repo:
        result = replace(result, target=replace(target, repo=shown))
    if result.skip_reason:
        reason = redact_text(result.skip_reason)
        if reason != result.skip_reason:
            result = replace(result, skip_reason=reason)
    return result
