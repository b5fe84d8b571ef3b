"""Report stage: pure formatters of an AuditReport, history and evidence bundle."""
