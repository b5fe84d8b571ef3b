"""The rule catalogue: what every rule checks, how to fix it, and the controls it gives evidence for.

A shared leaf (like ``auditor.util``): it imports only ``auditor.model`` and ``auditor.util``, so stages
(the reports) and the wiring may read it. Rego rules describe themselves in ``# METADATA`` annotations
(read statically, also from user policies); drift, change-control and engine rules in
``data/rules.yaml``; frameworks and their controls in ``data/frameworks.yaml``.
"""
