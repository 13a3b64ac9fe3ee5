"""The CIS Snowflake Foundations Benchmark v1.0.0: every recommendation, by id.

This is the one list the checks, the coverage table in reports and
``docs/CONTROLS.md`` are built from. A recommendation is ``automated`` when a
check decides it from archived, signed evidence alone (the check's ``cis`` names
it); otherwise ``manual`` with the reason, so coverage is always complete.
``tests/unit/reports/test_cis_catalogue.py`` holds the registry to this list:
every automated recommendation has exactly one check, and no manual one has any.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

BENCHMARK = "CIS Snowflake Foundations Benchmark v1.0.0"

SECTIONS: dict[str, str] = {
    "1": "Identity and access management",
    "2": "Monitoring and alerting",
    "3": "Networking",
    "4": "Data protection",
}


@dataclass(frozen=True)
class Recommendation:
    cis: str  # "1.12"
    title: str  # the benchmark's own title
    automated: bool  # decided by a check from archived evidence
    manual_reason: str | None = None  # why not, for a manual one
    level: int = 1  # the benchmark's profile: Level 1 or Level 2

    @property
    def section(self) -> str:
        return self.cis.split(".", 1)[0]

    @property
    def section_title(self) -> str:
        return SECTIONS[self.section]

    def sort_key(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.cis.split("."))


def _a(cis: str, title: str) -> Recommendation:
    return Recommendation(cis, title, automated=True)


def _m(cis: str, title: str, reason: str) -> Recommendation:
    return Recommendation(cis, title, automated=False, manual_reason=reason)


_ADMINS = "the ACCOUNTADMIN or SECURITYADMIN roles"

_ALL: tuple[Recommendation, ...] = (
    _a("1.1", "Ensure single sign-on (SSO) is configured for your account / organization"),
    _a(
        "1.2",
        "Ensure Snowflake SCIM integration is configured to automatically provision and "
        "deprovision users and groups (i.e. roles)",
    ),
    _a("1.3", "Ensure that Snowflake password is unset for SSO users"),
    _a(
        "1.4",
        "Ensure multi-factor authentication (MFA) is turned on for all human users with "
        "password-based authentication",
    ),
    _a("1.5", "Ensure minimum password length is set to 14 characters or more"),
    _a("1.6", "Ensure that service accounts use key pair authentication"),
    _a("1.7", "Ensure authentication key pairs are rotated every 180 days"),
    _a("1.8", "Ensure that users who did not log in for 90 days are disabled"),
    _a(
        "1.9",
        "Ensure that the idle session timeout is set to 15 minutes or less for users with "
        "the ACCOUNTADMIN and SECURITYADMIN roles",
    ),
    _a("1.10", "Limit the number of users with ACCOUNTADMIN and SECURITYADMIN"),
    _a(
        "1.11", "Ensure that all users granted the ACCOUNTADMIN role have an email address assigned"
    ),
    _a("1.12", "Ensure that no users have ACCOUNTADMIN or SECURITYADMIN as the default role"),
    _a(
        "1.13",
        "Ensure that the ACCOUNTADMIN or SECURITYADMIN role is not granted to any custom role",
    ),
    _a("1.14", f"Ensure that Snowflake tasks are not owned by {_ADMINS}"),
    _a(
        "1.15",
        "Ensure that Snowflake tasks do not run with the ACCOUNTADMIN or SECURITYADMIN role "
        "privileges",
    ),
    _a("1.16", f"Ensure that Snowflake stored procedures are not owned by {_ADMINS}"),
    _a(
        "1.17",
        "Ensure Snowflake stored procedures do not run with ACCOUNTADMIN or SECURITYADMIN "
        "role privileges",
    ),
    _a(
        "2.1", "Ensure monitoring and alerting exist for ACCOUNTADMIN and SECURITYADMIN role grants"
    ),
    _a("2.2", "Ensure monitoring and alerting exist for MANAGE GRANTS privilege grants"),
    _a("2.3", "Ensure monitoring and alerting exist for password sign-ins of SSO users"),
    _a("2.4", "Ensure monitoring and alerting exist for password sign-in without MFA"),
    _a(
        "2.5",
        "Ensure monitoring and alerting exist for creating, updating and deleting security "
        "integrations",
    ),
    _a(
        "2.6",
        "Ensure monitoring and alerting exist for changes to network policies and associated "
        "objects",
    ),
    _a("2.7", "Ensure monitoring and alerting exist for SCIM token creation"),
    _a("2.8", "Ensure monitoring and alerting exist for new share exposures"),
    _a(
        "2.9",
        "Ensure monitoring and alerting exist for sessions from unsupported Snowflake "
        "Connector for Python and JDBC and ODBC drivers",
    ),
    _a(
        "3.1",
        "Ensure that an account-level network policy has been configured to only allow "
        "access from trusted IP addresses",
    ),
    _a("3.2", "Ensure that user-level network policies have been configured for service accounts"),
    _a("4.1", "Ensure yearly rekeying is enabled for a Snowflake account"),
    _a(
        "4.2",
        "Ensure AES encryption key size used to encrypt files stored in internal stages is "
        "set to 256 bits",
    ),
    _a(
        "4.3",
        "Ensure that the DATA_RETENTION_TIME_IN_DAYS parameter is set to 90 for critical data",
    ),
    _a(
        "4.4",
        "Ensure that the MIN_DATA_RETENTION_TIME_IN_DAYS account parameter is set to 7 or higher",
    ),
    _a(
        "4.5",
        "Ensure that the REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_CREATION account parameter is "
        "set to true",
    ),
    _a(
        "4.6",
        "Ensure that the REQUIRE_STORAGE_INTEGRATION_FOR_STAGE_OPERATION account parameter is "
        "set to true",
    ),
    _a("4.7", "Ensure that all external stages have storage integrations"),
    _a(
        "4.8",
        "Ensure that the PREVENT_UNLOAD_TO_INLINE_URL account parameter is set to true",
    ),
    _m(
        "4.9",
        "Ensure that Tri-Secret Secure is enabled for the Snowflake account",
        "Tri-Secret Secure (Business Critical edition) combines a Snowflake-maintained key "
        "with a customer-managed key in the customer's cloud KMS; no ACCOUNT_USAGE view or "
        "SHOW command reports it, and the only in-account signal, SYSTEM$GET_CMK_INFO, "
        "returns a free-text status message the collector does not archive, so the auditor "
        "confirms it from that function's output (or Snowflake Support's confirmation) and "
        "the KMS key policy",
    ),
    _m(
        "4.10",
        "Ensure that data masking is enabled for sensitive data",
        "which data is sensitive is a business judgement; the platform's own check "
        "sensitive-columns-without-masking evaluates it for columns tagged as sensitive "
        "([checks] sensitive_tags), and an auditor confirms the tagging is complete",
    ),
    _m(
        "4.11",
        "Ensure that row-access policies are configured for sensitive data",
        "whether a table needs row-level restriction depends on who may see which rows, "
        "which no metadata records; the archived ROW_ACCESS_POLICIES and POLICY_REFERENCES "
        "list what is in place for the auditor to judge",
    ),
)

#: The benchmark's Level 2 recommendations; every other one is Level 1. From the
#: benchmark's profile applicability, cross-checked against Tenable's audit files for
#: v1.0.0 (the Level 1 file holds the other 30 items and leaves out 1.2; 3.1 and 4.1
#: are items of the Level 2 file, 3.2 and 4.6 of the Level 1 file).
_LEVEL_2 = frozenset({"1.2", "2.9", "3.1", "4.1", "4.3", "4.4", "4.9", "4.10", "4.11"})

#: every recommendation, by id, in benchmark order
RECOMMENDATIONS: dict[str, Recommendation] = {
    r.cis: replace(r, level=2 if r.cis in _LEVEL_2 else 1)
    for r in sorted(_ALL, key=lambda r: r.sort_key())
}


def automated() -> list[Recommendation]:
    return [r for r in RECOMMENDATIONS.values() if r.automated]


def manual() -> list[Recommendation]:
    return [r for r in RECOMMENDATIONS.values() if not r.automated]
