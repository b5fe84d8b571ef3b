"""A hand-made AuditReport covering every report feature (used by golden files, browser tests).

Covers: all four categories, every severity, a skipped target, suppressed findings, a Secret
drift (values must never appear), provenance with commits/owners, image drift (version skew),
live managers, resolved findings, and XSS / CSV-injection canaries in a resource name, an
annotation value, a commit subject and a message.
"""

from __future__ import annotations

from auditor.model import (
    AuditReport,
    Category,
    CommitInfo,
    DriftKind,
    FieldChange,
    FileProvenance,
    Finding,
    FindingStatus,
    ListRecord,
    LiveProvenance,
    ObjectDrift,
    ObjectRef,
    Provenance,
    RuleCheck,
    Severity,
    Target,
    TargetResult,
    ToolInfo,
)

XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=2</script>"
CSV_CANARY = '=HYPERLINK("http://evil.example/x","click")'
SECRET_PLAIN = "s3cr3t-PLAINTEXT-value"
SECRET_HASH = "hmac-sha256:" + "ab" * 32
RUN_ID = "20260101T020000Z-a1b2c3"
PREV_RUN_ID = "20251231T020000Z-000001"

C1 = CommitInfo(
    sha="1111111111111111111111111111111111111111",
    author_name="Alice Admin",
    author_email="alice@example.com",
    author_date="2025-12-30T10:00:00+00:00",
    subject="Bump web to 1.4.2",
    trailers=(("Approved-by", "Bob <bob@example.com>"),),
)
C_XSS = CommitInfo(
    sha="2222222222222222222222222222222222222222",
    author_name="Mallory",
    author_email="mallory@example.com",
    author_date="2025-12-31T09:00:00+00:00",
    subject=f"fix {XSS_SCRIPT} {XSS_IMG}",
)


def _prov(path: str, commit: CommitInfo, line: int = 1, owners: tuple[str, ...] = ()) -> Provenance:
    return Provenance(files=(FileProvenance(path=path, role="resource", commit=commit, line=line, owners=owners),))


PROD_US = Target(
    name="production-us-east",
    env="production",
    region="us-east",
    path="overlays/production/us-east",
    context="prod-us",
    namespace="shop",
)
PROD_EU = Target(
    name="production-eu-west",
    env="production",
    region="eu-west",
    path="overlays/production/eu-west",
    context="prod-eu",
    namespace="shop",
)
STAGING_US = Target(
    name="staging-us-east",
    env="staging",
    region="us-east",
    path="overlays/staging/us-east",
    snapshot="snapshots/staging-us-east",
    namespace="shop",
)

WEB = ObjectRef("apps", "Deployment", "shop", "web")
XSS_OBJ = ObjectRef("", "ConfigMap", "shop", f"cm-{XSS_IMG}")
SECRET = ObjectRef("", "Secret", "shop", "db-credentials")


def findings_us() -> tuple[Finding, ...]:
    return (
        Finding(
            target=PROD_US.name,
            category=Category.DRIFT,
            rule_id="drift/modified",
            severity=Severity.HIGH,
            message="image differs from git",
            ref=WEB,
            path="spec.template.spec.containers[name=web].image",
            expected="registry.local/web:1.4.2",
            actual="registry.local/web:1.4.3-hotfix",
            provenance=Provenance(
                files=(FileProvenance("base/web/deployment.yaml", "resource", C1, 12, ("@team-web",)),),
                live=(LiveProvenance("kubectl-edit", "Update", "2025-12-31T23:00:00Z"),),
            ),
            owners=("@team-web",),
            status=FindingStatus.PERSISTING,
        ),
        Finding(
            target=PROD_US.name,
            category=Category.DRIFT,
            rule_id="drift/modified",
            severity=Severity.CRITICAL,
            message="Secret data differs from git",
            ref=SECRET,
            path="data.password",
            expected=SECRET_HASH,
            actual=SECRET_PLAIN,
            provenance=_prov("base/db/secret.yaml", C1, 3, ("@team-db",)),
            owners=("@team-db",),
        ),
        Finding(
            target=PROD_US.name,
            category=Category.DRIFT,
            rule_id="drift/added",
            severity=Severity.MEDIUM,
            message=f"annotation added out-of-band: {XSS_SCRIPT}",
            ref=XSS_OBJ,
            path="metadata.annotations.note",
            expected=None,
            actual=f"{XSS_IMG} {XSS_SCRIPT}",
            provenance=_prov("base/cm.yaml", C_XSS, 1),
        ),
        Finding(
            target=PROD_US.name,
            category=Category.DRIFT,
            rule_id="drift/orphaned",
            severity=Severity.LOW,
            message=CSV_CANARY,
            ref=ObjectRef("", "ConfigMap", "shop", "=HYPERLINK(\"x\")"),
            details={"note": "unmanaged: created by hand"},
        ),
        Finding(
            target=PROD_US.name,
            category=Category.POLICY,
            rule_id="k8s.resources.limits",
            severity=Severity.MEDIUM,
            message="container web has no memory limit",
            ref=WEB,
            provenance=_prov("base/web/deployment.yaml", C1, 20, ("@team-web",)),
            owners=("@team-web",),
            details={"remediation": "Set resources.limits.memory on every container.", "policy": "limits.rego",
                     "controls": ["nist-800-53:SC-6", "soc2:A1.1"]},
        ),
        Finding(
            target=PROD_US.name,
            category=Category.POLICY,
            rule_id="k8s.image.latest",
            severity=Severity.HIGH,
            message="image uses the latest tag",
            ref=ObjectRef("apps", "Deployment", "shop", "worker"),
            suppressed_by="waiver:WVR-12 until 2026-02-01",
            provenance=_prov("base/worker/deployment.yaml", C1, 8),
            details={"controls": ["nist-800-53:SI-7", "soc2:CC8.1"]},
        ),
        Finding(
            target=PROD_US.name,
            category=Category.CHANGE_CONTROL,
            rule_id="codeowners/unowned-path",
            severity=Severity.HIGH,
            message="overlays/production/us-east/patch.yaml has no CODEOWNERS entry",
            provenance=_prov("overlays/production/us-east/patch.yaml", C_XSS, 1),
        ),
        Finding(
            target=PROD_US.name,
            category=Category.COVERAGE,
            rule_id="coverage/forbidden",
            severity=Severity.INFO,
            message="list networking.k8s.io/NetworkPolicy in shop: forbidden",
            ref=ObjectRef("networking.k8s.io", "NetworkPolicy", "shop", "*"),
        ),
        Finding(
            target=PROD_US.name,
            category=Category.DRIFT,
            rule_id="drift/modified",
            severity=Severity.MEDIUM,
            message="resource limits differ from git",
            ref=WEB,
            path="spec.template.spec.containers[name=web].resources.limits",
            expected={"cpu": "500m", "memory": "1Gi"},
            actual={"cpu": "2", "memory": "1Gi"},
            provenance=_prov("base/web/deployment.yaml", C1, 30, ("@team-web",)),
            owners=("@team-web",),
        ),
        Finding(
            target=PROD_US.name,
            category=Category.DRIFT,
            rule_id="drift/modified",
            severity=Severity.LOW,
            message="replicas differ (ignored by rule hpa-replicas)",
            ref=WEB,
            path="spec.replicas",
            expected=2,
            actual=5,
            suppressed_by="ignore:hpa-replicas",
        ),
    )


def findings_eu() -> tuple[Finding, ...]:
    return (
        Finding(
            target=PROD_EU.name,
            category=Category.DRIFT,
            rule_id="drift/missing",
            severity=Severity.HIGH,
            message="object missing from the cluster",
            ref=ObjectRef("", "Service", "shop", "web"),
            provenance=_prov("base/web/service.yaml", C1, 1, ("@team-web",)),
            owners=("@team-web",),
        ),
    )


def make_report() -> AuditReport:
    us = TargetResult(
        target=PROD_US,
        audited=True,
        commit=C1.sha,
        findings=findings_us(),
        drift=(
            ObjectDrift(
                WEB,
                DriftKind.MODIFIED,
                (
                    FieldChange(
                        "spec.template.spec.containers[name=web].image",
                        "registry.local/web:1.4.2",
                        "registry.local/web:1.4.3-hotfix",
                        live=LiveProvenance("kubectl-edit", "Update", "2025-12-31T23:00:00Z"),
                    ),
                ),
            ),
            ObjectDrift(SECRET, DriftKind.MODIFIED, (FieldChange("data.password", SECRET_HASH, SECRET_PLAIN),)),
        ),
        desired_count=42,
        live_count=45,
        live_source="https://10.0.0.1:6443",
        identity="system:serviceaccount:audit:gitops-audit",
        reads=(ListRecord("https://10.0.0.1:6443", "apps/v1/deployments", "shop", "12345", "2026-01-01T02:00:05Z", 3),),
        timings={"render": 1.25, "live": 0.5},
        # Framework view: 5 workloads checked for limits (1 fails) and image tags (1 waived).
        checks=(
            RuleCheck("k8s.image.latest", 5, ("nist-800-53:SI-7", "soc2:CC8.1")),
            RuleCheck("k8s.resources.limits", 5, ("nist-800-53:SC-6", "soc2:A1.1")),
        ),
    )
    eu = TargetResult(
        target=PROD_EU,
        audited=True,
        commit=C1.sha,
        findings=findings_eu(),
        drift=(
            ObjectDrift(
                WEB,
                DriftKind.IN_SYNC,
                (FieldChange("spec.template.spec.containers[name=web].image", "registry.local/web:1.4.2",
                             "registry.local/web:1.4.2"),),
            ),
        ),
        desired_count=42,
        live_count=41,
        live_source="https://10.1.0.1:6443",
        identity="user:auditor",
    )
    staging = TargetResult(
        target=STAGING_US,
        audited=False,
        skip_reason=f"render overlays/staging/us-east: kustomize exited 1: {XSS_SCRIPT}",
    )
    resolved = (
        Finding(
            target=PROD_EU.name,
            category=Category.POLICY,
            rule_id="k8s.probes.liveness",
            severity=Severity.MEDIUM,
            message="container web has no liveness probe",
            ref=WEB,
            status=FindingStatus.PERSISTING,
        ),
    )
    return AuditReport(
        run_id=RUN_ID,
        tool_version="0.1.0",
        started="2026-01-01T02:00:00Z",
        finished="2026-01-01T02:03:25Z",
        repo_url="https://git.example.com/platform/fleet.git",
        commit=C1.sha,
        ref="main",
        results=(us, eu, staging),
        fail_on=Severity.HIGH,
        tools=(ToolInfo("kubectl", "/usr/bin/kubectl", "v1.31.0"), ToolInfo("git", "/usr/bin/git", "2.43.0")),
        config_path="gitops-audit.yaml",
        config_sha256="c" * 64,
        previous_run_id=PREV_RUN_ID,
        resolved=resolved,
    )


STAGING_EU = Target(
    name="staging-eu-west",
    env="staging",
    region="eu-west",
    path="overlays/staging/eu-west",
    snapshot="snapshots/staging-eu-west",
    namespace="shop-staging",
)
STAGING_WEB = ObjectRef("apps", "Deployment", "shop-staging", "staging-web")


def make_fleet_report() -> AuditReport:
    """:func:`make_report` plus an audited staging target, workload identities and differing git fields.

    Lines one app (``web``) up across ``shop`` and ``shop-staging`` with a ``staging-`` name prefix,
    with an XSS canary as an app name and a Secret value among the fleet fields (both must stay inert).
    """
    from dataclasses import replace

    from auditor.model import AppObject, FleetField

    base = make_report()
    us, eu, staging_us = base.results
    orphan = ObjectRef("", "ConfigMap", "shop", "=HYPERLINK(\"x\")")
    us = replace(
        us,
        images=(("Deployment/shop/web", "web", "registry.local/web:1.4.2", "registry.local/web:1.4.3-hotfix"),),
        apps=(
            AppObject(WEB, "web", "Deployment/web", DriftKind.MODIFIED, chart="web-1.4.2"),
            AppObject(ObjectRef("", "Service", "shop", "web"), "web", "Service/web", DriftKind.IN_SYNC),
            AppObject(SECRET, "db-credentials", "Secret/db-credentials", DriftKind.MODIFIED),
            AppObject(XSS_OBJ, XSS_IMG, f"ConfigMap/cm-{XSS_IMG}", DriftKind.MODIFIED),
            AppObject(orphan, orphan.name, f"ConfigMap/{orphan.name}", DriftKind.ORPHANED),
        ),
    )
    eu = replace(
        eu,
        images=(("Deployment/shop/web", "web", "registry.local/web:1.4.2", "registry.local/web:1.4.2"),),
        apps=(
            AppObject(WEB, "web", "Deployment/web", DriftKind.IN_SYNC, chart="web-1.4.2"),
            AppObject(ObjectRef("", "Service", "shop", "web"), "web", "Service/web", DriftKind.MISSING),
            AppObject(SECRET, "db-credentials", "Secret/db-credentials", DriftKind.IN_SYNC),
        ),
    )
    staging_eu = TargetResult(
        target=STAGING_EU,
        audited=True,
        commit=C1.sha,
        desired_count=3,
        live_count=3,
        live_source="snapshots/staging-eu-west",
        images=(("Deployment/shop-staging/staging-web", "web", "registry.local/web:1.5.0",
                 "registry.local/web:1.5.0"),),
        drift=(ObjectDrift(STAGING_WEB, DriftKind.IN_SYNC),),
        apps=(
            AppObject(STAGING_WEB, "web", "Deployment/web", DriftKind.IN_SYNC, chart="web-1.5.0"),
            AppObject(ObjectRef("", "Service", "shop-staging", "staging-web"), "web", "Service/web",
                      DriftKind.IN_SYNC),
            AppObject(ObjectRef("", "Secret", "shop-staging", "staging-db-credentials"), "db-credentials",
                      "Secret/db-credentials", DriftKind.IN_SYNC),
        ),
    )
    fields = (
        FleetField("Deployment/web", "metadata.annotations.note",
                   ((PROD_US.name, XSS_SCRIPT), (PROD_EU.name, None), (STAGING_EU.name, None))),
        FleetField("Deployment/web", "spec.replicas", ((PROD_US.name, 3), (PROD_EU.name, 3), (STAGING_EU.name, 1))),
        FleetField("Deployment/web", "spec.template.spec.containers[name=web].image",
                   ((PROD_US.name, "registry.local/web:1.4.2"), (PROD_EU.name, "registry.local/web:1.4.2"),
                    (STAGING_EU.name, "registry.local/web:1.5.0"))),
        # The pipeline never keeps Secret payloads; the report masks them again all the same.
        FleetField("Secret/db-credentials", "data.password",
                   ((PROD_US.name, SECRET_PLAIN), (PROD_EU.name, SECRET_HASH), (STAGING_EU.name, "x"))),
    )
    return replace(base, results=(us, eu, staging_us, staging_eu), fleet_fields=fields)
