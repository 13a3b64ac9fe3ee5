"""Deterministic, realistic ``SNOWFLAKE.ACCOUNT_USAGE`` activity for a healthcare platform.

Everything is generated inside DuckDB with set-based SQL; per-row randomness is
``hash(seed, day, slot, k)``, so a given seed always gives the same rows, and
a million ACCESS_HISTORY rows take a few seconds.

Activity is laid out per UTC day (``day`` = days since the epoch) in numbered
slots, and a window keeps the slots whose timestamp falls inside it. Seeding
two adjacent windows therefore gives exactly the rows of seeding their union,
which lets tests "advance the clock" with :func:`seed_window`. Seeding a window
first deletes what the history views hold inside it, so re-seeding is idempotent.

Per UTC day:

* ``access_rows_per_day`` queries that touch objects, one ACCESS_HISTORY row each;
* each of them also in QUERY_HISTORY, as in Snowflake: same QUERY_ID, user and
  start time, with the user's role (ROLE_NAME), so a report finds the role of
  every read; plus about 1% failed queries that have no ACCESS_HISTORY row.
  ``query_rows_per_day`` keeps only the first that many of a day in QUERY_HISTORY
  (benchmarks use it to keep QUERY_HISTORY small); the others' reads then have
  no role, and a report shows them as "unknown role";
* ``login_rows_per_day`` LOGIN_HISTORY events, about 4% of human logins failing
  with 390100, and one SESSIONS row per successful login (LOGIN_EVENT_ID).

:func:`seed_incidents` adds what an auditor should find: one query whose text
holds the PHI canary as a literal, one whose BIND_VALUES hold it, a burst
of 40 failed logins within 5 minutes from one IP against the ACCOUNTADMIN user,
one event of each kind CIS section 2 asks to be monitored (:data:`CIS_EVENTS`,
plus a password sign-in of the SSO user without MFA and a session from an
unsupported Python connector), and the account's Trust Center findings
(:data:`TRUST_CENTER`): a CRITICAL and a HIGH one open for weeks, others
resolved, LOW ones open.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import duckdb

from das_evidence.demo.account_usage import (
    ACCESS_HISTORY,
    LOGIN_HISTORY,
    QUERY_HISTORY,
    SESSIONS,
    TIME_COLUMNS,
    TRUST_CENTER_FINDINGS,
    create_tables,
    qualified_name,
)

DEFAULT_PHI_CANARY: Final = "PHI-CANARY-123-45-6789"

US_PER_SECOND: Final = 1_000_000
US_PER_DAY: Final = 86_400 * US_PER_SECOND
US_PER_HOUR: Final = 3_600 * US_PER_SECOND

BURST_USER: Final = "DAVE_ADMIN"
BURST_IP: Final = "203.0.113.45"
BURST_ATTEMPTS: Final = 40
BURST_SPACING_S: Final = 7  # 40 attempts in 273 seconds

# ---------------------------------------------------------------------------
# The account: users, objects and the workload they run.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _User:
    name: str
    role: str
    user_type: str  # QUERY_HISTORY.USER_TYPE
    warehouse: str
    warehouse_id: int
    warehouse_size: str
    profile: str  # diurnal profile of its activity: human | batch | uniform
    login_weight: int  # share of the day's logins, out of 100
    client_type: str
    client_version: str
    application_id: str
    first_factor: str
    second_factor: str | None
    client_ip: str
    environment: str


def _env(**kv: str) -> str:
    return json.dumps(kv, separators=(",", ":"))


_UI_ENV = _env(APPLICATION="Snowsight", BROWSER="Chrome 131.0", OS="Mac OS X")
_PY_ENV = _env(APPLICATION="PythonConnector", OS="Linux", PYTHON_VERSION="3.11.9")

USERS: Final[tuple[_User, ...]] = (
    _User("ALICE_ANALYST", "ANALYST", "PERSON", "ANALYTICS_WH", 501, "Small", "human", 8,
          "SNOWFLAKE_UI", "9.2.1", "Snowflake UI 9.2.1", "PASSWORD", "DUO_PUSH",
          "198.51.100.23", _UI_ENV),
    _User("BOB_ENGINEER", "ENGINEER", "PERSON", "ANALYTICS_WH", 501, "Small", "human", 6,
          "PYTHON_DRIVER", "3.12.3", "PythonConnector 3.12.3", "PASSWORD", "DUO_PUSH",
          "198.51.100.41", _PY_ENV),
    _User("CAROL_BILLING", "BILLING_ANALYST", "PERSON", "ANALYTICS_WH", 501, "Small", "human",
          6, "SNOWFLAKE_UI", "9.2.1", "Snowflake UI 9.2.1", "SAML2_ASSERTION", None,
          "198.51.100.57", _UI_ENV),
    _User("DAVE_ADMIN", "ACCOUNTADMIN", "PERSON", "ADMIN_WH", 504, "X-Small", "human", 3,
          "SNOWFLAKE_UI", "9.2.1", "Snowflake UI 9.2.1", "PASSWORD", "DUO_PUSH",
          "198.51.100.10", _UI_ENV),
    _User("ERIN_CONTRACTOR", "ANALYST", "PERSON", "ANALYTICS_WH", 501, "Small", "human", 4,
          "JDBC_DRIVER", "3.19.0", "JDBC 3.19.0", "PASSWORD", None,
          "198.51.100.88", _env(APPLICATION="Tableau", OS="Windows 11", JAVA_VERSION="17.0.9")),
    _User("SVC_DBT_RUNNER", "TRANSFORMER", "SERVICE", "TRANSFORM_WH", 502, "Medium", "batch",
          20, "PYTHON_DRIVER", "3.12.3", "PythonConnector 3.12.3", "RSA_KEYPAIR", None,
          "192.0.2.15", _env(APPLICATION="dbt", OS="Linux", PYTHON_VERSION="3.11.9")),
    _User("SVC_FIVETRAN", "LOADER", "SERVICE", "LOADING_WH", 503, "X-Small", "uniform", 53,
          "JDBC_DRIVER", "3.19.0", "JDBC 3.19.0", "RSA_KEYPAIR", None,
          "192.0.2.80", _env(APPLICATION="Fivetran", OS="Linux", JAVA_VERSION="17.0.9")),
)  # fmt: skip


@dataclass(frozen=True)
class _Object:
    name: str
    object_id: int
    domain: str  # Table | View | Stage
    columns: tuple[str, ...] = ()

    def column_id(self, column: str) -> int:
        return self.object_id * 100 + self.columns.index(column) + 1


@dataclass(frozen=True)
class _Policy:
    name: str
    policy_id: int


_DATABASES: Final = {"CLINICAL": 11, "BILLING": 12, "ANALYTICS": 13, "RAW": 14}
_SCHEMAS: Final = {
    "CLINICAL.PUBLIC": 101,
    "BILLING.PUBLIC": 102,
    "ANALYTICS.MARTS": 103,
    "RAW.FIVETRAN_EHR": 104,
}

PATIENTS = _Object(
    "CLINICAL.PUBLIC.PATIENTS",
    1001,
    "Table",
    ("PATIENT_ID", "MRN", "FIRST_NAME", "LAST_NAME", "DOB", "SSN", "ZIP_CODE", "PHONE"),
)
ENCOUNTERS = _Object(
    "CLINICAL.PUBLIC.ENCOUNTERS",
    1002,
    "Table",
    (
        "ENCOUNTER_ID",
        "PATIENT_ID",
        "ADMIT_TS",
        "DISCHARGE_TS",
        "DIAGNOSIS_CODE",
        "PROVIDER_ID",
        "FACILITY_ID",
    ),
)
LAB_RESULTS = _Object(
    "CLINICAL.PUBLIC.LAB_RESULTS",
    1003,
    "Table",
    ("LAB_ID", "ENCOUNTER_ID", "PATIENT_ID", "LOINC_CODE", "RESULT_VALUE", "RESULT_TS"),
)
CLAIMS = _Object(
    "BILLING.PUBLIC.CLAIMS",
    1004,
    "Table",
    (
        "CLAIM_ID",
        "PATIENT_ID",
        "ENCOUNTER_ID",
        "PAYER_ID",
        "CPT_CODE",
        "BILLED_AMOUNT",
        "PAID_AMOUNT",
        "CLAIM_STATUS",
    ),
)
PAYERS = _Object("BILLING.PUBLIC.PAYERS", 1005, "Table", ("PAYER_ID", "PAYER_NAME", "PLAN_TYPE"))
PATIENT_DAILY = _Object(
    "ANALYTICS.MARTS.PATIENT_DAILY",
    1006,
    "Table",
    ("PATIENT_ID", "DAY", "ENCOUNTER_COUNT", "TOTAL_BILLED"),
)
PATIENT_SUMMARY = _Object(
    "ANALYTICS.MARTS.V_PATIENT_SUMMARY",
    1007,
    "View",
    ("PATIENT_ID", "ZIP_CODE", "ENCOUNTER_COUNT", "LAST_ADMIT_TS"),
)
ENCOUNTERS_RAW = _Object(
    "RAW.FIVETRAN_EHR.ENCOUNTERS_RAW",
    1008,
    "Table",
    (
        "ENCOUNTER_ID",
        "PATIENT_ID",
        "ADMIT_TS",
        "DISCHARGE_TS",
        "DIAGNOSIS_CODE",
        "_FIVETRAN_SYNCED",
    ),
)
FIVETRAN_STAGE = _Object("RAW.FIVETRAN_EHR.FIVETRAN_STAGE", 1009, "Stage")

# Masking policies on the columns that identify a patient.
MASKED: Final[dict[tuple[str, str], _Policy]] = {
    (PATIENTS.name, "SSN"): _Policy("GOVERNANCE.POLICIES.SSN_MASK", 2001),
    (PATIENTS.name, "DOB"): _Policy("GOVERNANCE.POLICIES.DOB_MASK", 2002),
    (PATIENTS.name, "MRN"): _Policy("GOVERNANCE.POLICIES.MRN_MASK", 2003),
    (PATIENTS.name, "PHONE"): _Policy("GOVERNANCE.POLICIES.PHONE_MASK", 2004),
}

_Access = tuple[tuple[_Object, tuple[str, ...]], ...]


@dataclass(frozen=True)
class _Template:
    """One kind of query. ``{n}`` in the text is a patient/encounter id, ``{k}`` a small number."""

    key: str
    weight: int  # out of the sum of weights; 0 = only placed explicitly (incidents)
    users: tuple[str, ...]
    query_type: str
    context: str  # DATABASE.SCHEMA in use
    text: str
    direct: _Access = ()
    base: _Access | None = None  # defaults to ``direct``
    writes: tuple[_Object, tuple[str, ...], _Access] | None = None  # target, columns, sources
    ddl: dict[str, Any] | None = None
    binds: dict[str, dict[str, str]] | None = None
    query_tag: str = ""
    max_ms: int = 2_000
    max_rows: int = 500
    max_bytes: int = 50_000_000
    partitions: int = 40


_DBT_TAG = json.dumps(
    {"app": "dbt", "dbt_version": "1.8.7", "node_id": "model.healthcare.patient_daily"},
    separators=(",", ":"),
)
_DBT_TEST_TAG = json.dumps(
    {"app": "dbt", "dbt_version": "1.8.7", "node_id": "test.healthcare.not_null_patients_mrn"},
    separators=(",", ":"),
)

TEMPLATES: Final[tuple[_Template, ...]] = (
    _Template(
        "patient_lookup",
        120,
        ("ALICE_ANALYST", "ERIN_CONTRACTOR"),
        "SELECT",
        "CLINICAL.PUBLIC",
        "SELECT PATIENT_ID, MRN, FIRST_NAME, LAST_NAME, DOB FROM CLINICAL.PUBLIC.PATIENTS"
        " WHERE PATIENT_ID = {n}",
        direct=((PATIENTS, ("PATIENT_ID", "MRN", "FIRST_NAME", "LAST_NAME", "DOB")),),
        max_ms=400,
        max_rows=2,
    ),
    _Template(
        "recent_encounters",
        100,
        ("ALICE_ANALYST", "CAROL_BILLING"),
        "SELECT",
        "CLINICAL.PUBLIC",
        "SELECT ENCOUNTER_ID, PATIENT_ID, ADMIT_TS, DIAGNOSIS_CODE FROM CLINICAL.PUBLIC.ENCOUNTERS"
        " WHERE ADMIT_TS >= DATEADD(day, -{k}, CURRENT_DATE()) AND FACILITY_ID = {k}",
        direct=((ENCOUNTERS, ("ENCOUNTER_ID", "PATIENT_ID", "ADMIT_TS", "DIAGNOSIS_CODE")),),
        max_rows=5_000,
    ),
    _Template(
        "frequent_visitors",
        80,
        ("ALICE_ANALYST", "BOB_ENGINEER"),
        "SELECT",
        "CLINICAL.PUBLIC",
        "SELECT P.PATIENT_ID, P.ZIP_CODE, COUNT(E.ENCOUNTER_ID) AS VISITS"
        " FROM CLINICAL.PUBLIC.PATIENTS P JOIN CLINICAL.PUBLIC.ENCOUNTERS E"
        " ON E.PATIENT_ID = P.PATIENT_ID WHERE E.ADMIT_TS >= DATEADD(day, -{k}, CURRENT_DATE())"
        " GROUP BY 1, 2 HAVING COUNT(*) > 3",
        direct=(
            (PATIENTS, ("PATIENT_ID", "ZIP_CODE")),
            (ENCOUNTERS, ("ENCOUNTER_ID", "PATIENT_ID", "ADMIT_TS")),
        ),
        max_ms=8_000,
        max_rows=20_000,
    ),
    _Template(
        "patient_summary_view",
        90,
        ("ALICE_ANALYST", "CAROL_BILLING", "ERIN_CONTRACTOR"),
        "SELECT",
        "ANALYTICS.MARTS",
        "SELECT PATIENT_ID, ZIP_CODE, ENCOUNTER_COUNT, LAST_ADMIT_TS"
        " FROM ANALYTICS.MARTS.V_PATIENT_SUMMARY WHERE ENCOUNTER_COUNT >= {k}",
        direct=((PATIENT_SUMMARY, ("PATIENT_ID", "ZIP_CODE", "ENCOUNTER_COUNT", "LAST_ADMIT_TS")),),
        base=(
            (PATIENTS, ("PATIENT_ID", "ZIP_CODE")),
            (ENCOUNTERS, ("ENCOUNTER_ID", "ADMIT_TS")),
        ),
        max_ms=3_000,
        max_rows=10_000,
    ),
    _Template(
        "high_claims",
        110,
        ("CAROL_BILLING",),
        "SELECT",
        "BILLING.PUBLIC",
        "SELECT CLAIM_ID, PATIENT_ID, CPT_CODE, BILLED_AMOUNT, PAID_AMOUNT"
        " FROM BILLING.PUBLIC.CLAIMS WHERE BILLED_AMOUNT > {k}000"
        " ORDER BY BILLED_AMOUNT DESC LIMIT 100",
        direct=((CLAIMS, ("CLAIM_ID", "PATIENT_ID", "CPT_CODE", "BILLED_AMOUNT", "PAID_AMOUNT")),),
        max_rows=100,
    ),
    _Template(
        "payer_rollup",
        70,
        ("CAROL_BILLING", "ALICE_ANALYST"),
        "SELECT",
        "BILLING.PUBLIC",
        "SELECT P.PAYER_NAME, COUNT(*) AS CLAIMS, SUM(C.PAID_AMOUNT) AS PAID"
        " FROM BILLING.PUBLIC.CLAIMS C JOIN BILLING.PUBLIC.PAYERS P ON P.PAYER_ID = C.PAYER_ID"
        " WHERE C.CLAIM_STATUS = 'PAID' AND C.PAID_AMOUNT > {k}.50 GROUP BY 1 ORDER BY 3 DESC",
        direct=(
            (CLAIMS, ("PAYER_ID", "PAID_AMOUNT", "CLAIM_STATUS")),
            (PAYERS, ("PAYER_ID", "PAYER_NAME")),
        ),
        max_ms=5_000,
        max_rows=40,
    ),
    _Template(
        "labs_by_patient_bound",
        60,
        ("BOB_ENGINEER",),
        "SELECT",
        "CLINICAL.PUBLIC",
        "SELECT LAB_ID, LOINC_CODE, RESULT_VALUE, RESULT_TS FROM CLINICAL.PUBLIC.LAB_RESULTS"
        " WHERE PATIENT_ID = ?",
        direct=(
            (LAB_RESULTS, ("LAB_ID", "PATIENT_ID", "LOINC_CODE", "RESULT_VALUE", "RESULT_TS")),
        ),
        binds={"1": {"type": "FIXED", "value": "{n}"}},
        max_rows=60,
    ),
    _Template(
        "labs_scan",
        50,
        ("BOB_ENGINEER",),
        "SELECT",
        "CLINICAL.PUBLIC",
        "SELECT * FROM CLINICAL.PUBLIC.LAB_RESULTS WHERE RESULT_VALUE > {k}.5 LIMIT 1000",
        direct=((LAB_RESULTS, LAB_RESULTS.columns),),
        max_ms=6_000,
        max_rows=1_000,
        max_bytes=900_000_000,
        partitions=400,
    ),
    _Template(
        "discharge_update",
        20,
        ("BOB_ENGINEER",),
        "UPDATE",
        "CLINICAL.PUBLIC",
        "UPDATE CLINICAL.PUBLIC.ENCOUNTERS SET DISCHARGE_TS = CURRENT_TIMESTAMP()"
        " WHERE ENCOUNTER_ID = {n}",
        direct=((ENCOUNTERS, ("ENCOUNTER_ID",)),),
        writes=(ENCOUNTERS, ("DISCHARGE_TS",), ()),
        max_rows=1,
    ),
    _Template(
        "dbt_patient_daily",
        90,
        ("SVC_DBT_RUNNER",),
        "MERGE",
        "ANALYTICS.MARTS",
        "MERGE INTO ANALYTICS.MARTS.PATIENT_DAILY T USING ("
        "SELECT E.PATIENT_ID, DATE_TRUNC('day', E.ADMIT_TS) AS DAY, COUNT(*) AS ENCOUNTER_COUNT,"
        " SUM(C.BILLED_AMOUNT) AS TOTAL_BILLED FROM CLINICAL.PUBLIC.ENCOUNTERS E"
        " LEFT JOIN BILLING.PUBLIC.CLAIMS C ON C.ENCOUNTER_ID = E.ENCOUNTER_ID"
        " WHERE E.ADMIT_TS >= DATEADD(hour, -{k}, CURRENT_TIMESTAMP()) GROUP BY 1, 2) S"
        " ON T.PATIENT_ID = S.PATIENT_ID AND T.DAY = S.DAY"
        " WHEN MATCHED THEN UPDATE SET T.ENCOUNTER_COUNT = S.ENCOUNTER_COUNT,"
        " T.TOTAL_BILLED = S.TOTAL_BILLED"
        " WHEN NOT MATCHED THEN INSERT (PATIENT_ID, DAY, ENCOUNTER_COUNT, TOTAL_BILLED)"
        " VALUES (S.PATIENT_ID, S.DAY, S.ENCOUNTER_COUNT, S.TOTAL_BILLED)",
        direct=(
            (ENCOUNTERS, ("ENCOUNTER_ID", "PATIENT_ID", "ADMIT_TS")),
            (CLAIMS, ("ENCOUNTER_ID", "BILLED_AMOUNT")),
        ),
        writes=(
            PATIENT_DAILY,
            PATIENT_DAILY.columns,
            (
                (ENCOUNTERS, ("PATIENT_ID", "ADMIT_TS", "ENCOUNTER_ID")),
                (CLAIMS, ("BILLED_AMOUNT",)),
            ),
        ),
        query_tag=_DBT_TAG,
        max_ms=45_000,
        max_rows=50_000,
        max_bytes=2_000_000_000,
        partitions=900,
    ),
    _Template(
        "dbt_not_null_test",
        60,
        ("SVC_DBT_RUNNER",),
        "SELECT",
        "CLINICAL.PUBLIC",
        "SELECT COUNT(*) AS FAILURES FROM CLINICAL.PUBLIC.PATIENTS WHERE MRN IS NULL",
        direct=((PATIENTS, ("MRN",)),),
        query_tag=_DBT_TEST_TAG,
        max_rows=1,
    ),
    _Template(
        "fivetran_copy",
        100,
        ("SVC_FIVETRAN",),
        "COPY",
        "RAW.FIVETRAN_EHR",
        "COPY INTO RAW.FIVETRAN_EHR.ENCOUNTERS_RAW"
        " FROM @RAW.FIVETRAN_EHR.FIVETRAN_STAGE/encounters/batch_{n}.csv.gz"
        " FILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1)",
        direct=((FIVETRAN_STAGE, ()),),
        writes=(ENCOUNTERS_RAW, ENCOUNTERS_RAW.columns, ()),
        max_ms=9_000,
        max_rows=20_000,
    ),
    _Template(
        "fivetran_merge",
        50,
        ("SVC_FIVETRAN",),
        "MERGE",
        "CLINICAL.PUBLIC",
        "MERGE INTO CLINICAL.PUBLIC.ENCOUNTERS T USING RAW.FIVETRAN_EHR.ENCOUNTERS_RAW S"
        " ON T.ENCOUNTER_ID = S.ENCOUNTER_ID WHEN MATCHED THEN UPDATE SET"
        " T.DISCHARGE_TS = S.DISCHARGE_TS, T.DIAGNOSIS_CODE = S.DIAGNOSIS_CODE"
        " WHEN NOT MATCHED THEN INSERT (ENCOUNTER_ID, PATIENT_ID, ADMIT_TS, DISCHARGE_TS,"
        " DIAGNOSIS_CODE) VALUES (S.ENCOUNTER_ID, S.PATIENT_ID, S.ADMIT_TS, S.DISCHARGE_TS,"
        " S.DIAGNOSIS_CODE)",
        direct=((ENCOUNTERS_RAW, ENCOUNTERS_RAW.columns[:5]),),
        writes=(
            ENCOUNTERS,
            ("ENCOUNTER_ID", "PATIENT_ID", "ADMIT_TS", "DISCHARGE_TS", "DIAGNOSIS_CODE"),
            ((ENCOUNTERS_RAW, ENCOUNTERS_RAW.columns[:5]),),
        ),
        max_ms=20_000,
        max_rows=20_000,
        max_bytes=800_000_000,
        partitions=300,
    ),
    _Template(
        "admin_ssn_lookup",
        12,
        ("DAVE_ADMIN",),
        "SELECT",
        "CLINICAL.PUBLIC",
        "SELECT PATIENT_ID, SSN, PHONE FROM CLINICAL.PUBLIC.PATIENTS WHERE PATIENT_ID = {n}",
        direct=((PATIENTS, ("PATIENT_ID", "SSN", "PHONE")),),
        max_rows=1,
    ),
    _Template(
        "admin_grant",
        5,
        ("DAVE_ADMIN",),
        "GRANT",
        "CLINICAL.PUBLIC",
        "GRANT SELECT ON TABLE CLINICAL.PUBLIC.PATIENTS TO ROLE ANALYST",
        ddl={
            "objectDomain": "Table",
            "objectId": PATIENTS.object_id,
            "objectName": PATIENTS.name,
            "operationType": "GRANT",
            "properties": {"privileges": {"value": "SELECT"}, "grantees": {"value": "ANALYST"}},
        },
        max_ms=300,
        max_rows=1,
        max_bytes=0,
    ),
    _Template(
        "admin_set_masking_policy",
        3,
        ("DAVE_ADMIN",),
        "ALTER_TABLE_MODIFY_COLUMN",
        "CLINICAL.PUBLIC",
        "ALTER TABLE CLINICAL.PUBLIC.PATIENTS MODIFY COLUMN SSN"
        " SET MASKING POLICY GOVERNANCE.POLICIES.SSN_MASK FORCE",
        ddl={
            "objectDomain": "Table",
            "objectId": PATIENTS.object_id,
            "objectName": PATIENTS.name,
            "operationType": "ALTER",
            "properties": {
                "columns": {"SSN": {"subOperationType": "ALTER", "objectId": {"value": 100106}}},
                "maskingPolicy": {"value": "GOVERNANCE.POLICIES.SSN_MASK"},
            },
        },
        max_ms=500,
        max_rows=1,
        max_bytes=0,
    ),
    # Placed only by seed_incidents; the canary is spliced into the text / binds there.
    _Template(
        "canary_literal",
        0,
        ("ALICE_ANALYST",),
        "SELECT",
        "CLINICAL.PUBLIC",
        "SELECT * FROM CLINICAL.PUBLIC.PATIENTS WHERE SSN = '{canary}'",
        direct=((PATIENTS, PATIENTS.columns),),
        max_rows=1,
    ),
    _Template(
        "canary_bind",
        0,
        ("BOB_ENGINEER",),
        "SELECT",
        "CLINICAL.PUBLIC",
        "SELECT PATIENT_ID, MRN FROM CLINICAL.PUBLIC.PATIENTS WHERE SSN = ?",
        direct=((PATIENTS, ("PATIENT_ID", "MRN", "SSN")),),
        max_rows=1,
    ),
    # CIS section 2 events, placed only by seed_incidents (CIS_EVENTS); no object access.
    _Template(
        "cis_2_1_admin_grant",
        0,
        ("DAVE_ADMIN",),
        "GRANT",
        "CLINICAL.PUBLIC",
        "GRANT ROLE SECURITYADMIN TO USER ERIN_CONTRACTOR",
        max_ms=300,
        max_rows=1,
        max_bytes=0,
    ),
    _Template(
        "cis_2_2_manage_grants",
        0,
        ("DAVE_ADMIN",),
        "GRANT",
        "CLINICAL.PUBLIC",
        "GRANT MANAGE GRANTS ON ACCOUNT TO ROLE ENGINEER",
        max_ms=300,
        max_rows=1,
        max_bytes=0,
    ),
    _Template(
        "cis_2_5_security_integration",
        0,
        ("DAVE_ADMIN",),
        "ALTER_SECURITY_INTEGRATION",
        "CLINICAL.PUBLIC",
        "ALTER SECURITY INTEGRATION OKTA_SSO SET SAML2_SNOWFLAKE_ACS_URL = "
        "'https://acme.example.snowflakecomputing.com/fed/login'",
        max_ms=300,
        max_rows=1,
        max_bytes=0,
    ),
    _Template(
        "cis_2_6_network_policy",
        0,
        ("DAVE_ADMIN",),
        "ALTER_NETWORK_POLICY",
        "CLINICAL.PUBLIC",
        "ALTER NETWORK POLICY CORP_ALLOWLIST SET ALLOWED_IP_LIST = ('198.51.100.0/24', "
        "'0.0.0.0/0')",
        max_ms=300,
        max_rows=1,
        max_bytes=0,
    ),
    _Template(
        "cis_2_7_scim_token",
        0,
        ("DAVE_ADMIN",),
        "SELECT",
        "CLINICAL.PUBLIC",
        "SELECT SYSTEM$GENERATE_SCIM_ACCESS_TOKEN('OKTA_PROVISIONING')",
        max_ms=300,
        max_rows=1,
        max_bytes=0,
    ),
    _Template(
        "cis_2_8_share",
        0,
        ("DAVE_ADMIN",),
        "ALTER",
        "CLINICAL.PUBLIC",
        "ALTER SHARE CLINICAL_RESEARCH_SHARE ADD ACCOUNTS = PARTNER_ORG.RESEARCH_ACCT",
        max_ms=300,
        max_rows=1,
        max_bytes=0,
    ),
)

#: The CIS section 2 statements seed_incidents places: template key -> fraction of the window.
CIS_EVENTS: Final[dict[str, float]] = {
    "cis_2_1_admin_grant": 0.35,
    "cis_2_2_manage_grants": 0.36,
    "cis_2_5_security_integration": 0.45,
    "cis_2_6_network_policy": 0.55,
    "cis_2_7_scim_token": 0.65,
    "cis_2_8_share": 0.75,
}
#: CIS 2.3 / 2.4: the SSO user (CAROL_BILLING signs in with SAML2) signs in with a password
#: and no second factor; CIS 2.9: BOB_ENGINEER connects with an unsupported Python connector.
SSO_PASSWORD_USER: Final = "CAROL_BILLING"  # noqa: S105 - a user name
OLD_CLIENT_USER: Final = "BOB_ENGINEER"
OLD_PYTHON_CONNECTOR: Final = "2.7.9"

#: Trust Center findings: (id, scanner package, scanner, severity, final state, created
#: days before the window starts, updated at this fraction of the window).
TRUST_CENTER: Final[tuple[tuple[int, str, str, str, str, int, float], ...]] = (
    (7001, "SECURITY_ESSENTIALS", "SECURITY_ESSENTIALS_CIS1_4", "CRITICAL", "OPEN", 10, 0.2),
    (7002, "CIS_BENCHMARKS", "CIS_BENCHMARKS_CIS3_1", "HIGH", "OPEN", 30, 0.5),
    (7003, "CIS_BENCHMARKS", "CIS_BENCHMARKS_CIS1_12", "HIGH", "RESOLVED", 20, 0.4),
    (7004, "THREAT_INTELLIGENCE", "THREAT_INTELLIGENCE_NON_MFA_PERSON_USERS", "MEDIUM",
     "RESOLVED MANUALLY", 15, 0.6),
    (7005, "CIS_BENCHMARKS", "CIS_BENCHMARKS_CIS4_1", "LOW", "OPEN", 40, 0.3),
    (7006, "CIS_BENCHMARKS", "CIS_BENCHMARKS_CIS4_8", "LOW", "OPEN", 2, 0.7),
)  # fmt: skip

# Relative activity per UTC hour; human work is US-Eastern business hours.
_HOUR_WEIGHTS: Final[dict[str, tuple[int, ...]]] = {
    "human": (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 10, 9, 10, 10, 9, 7, 4, 2),
    "batch": (3, 8, 10, 10, 8, 6, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2),
    "uniform": (1,) * 24,
}


def _hour_lookup(profile: str) -> list[int]:
    return [hour for hour, weight in enumerate(_HOUR_WEIGHTS[profile]) for _ in range(weight)]


def _object_json(obj: _Object, cols: tuple[str, ...]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "objectDomain": obj.domain,
        "objectId": obj.object_id,
        "objectName": obj.name,
    }
    if obj.domain == "Stage":
        entry["stageKind"] = "Internal Named"
    elif cols:
        entry["columns"] = [{"columnId": obj.column_id(c), "columnName": c} for c in cols]
    return entry


def _access_json(access: _Access) -> str:
    return json.dumps([_object_json(o, c) for o, c in access], separators=(",", ":"))


def _modified_json(t: _Template) -> str:
    if t.writes is None:
        return "[]"
    target, cols, sources = t.writes

    def refs(col: str) -> list[dict[str, Any]]:
        return [
            {
                "columnName": src_col,
                "objectDomain": src.domain,
                "objectId": src.object_id,
                "objectName": src.name,
            }
            for src, src_cols in sources
            for src_col in src_cols
            if src_col == col or len(src_cols) == 1
        ]

    columns = []
    for col in cols:
        entry: dict[str, Any] = {"columnId": target.column_id(col), "columnName": col}
        if sources:
            entry["directSources"] = refs(col)
            entry["baseSources"] = refs(col)
        columns.append(entry)
    modified = {
        "objectDomain": target.domain,
        "objectId": target.object_id,
        "objectName": target.name,
        "columns": columns,
    }
    return json.dumps([modified], separators=(",", ":"))


def _policies_json(t: _Template) -> str:
    """Masking policies on the base columns a query read (ACCESS_HISTORY.POLICIES_REFERENCED)."""
    out = []
    for obj, cols in t.base if t.base is not None else t.direct:
        masked = [
            {
                "columnId": obj.column_id(c),
                "columnName": c,
                "policies": [
                    {
                        "policyName": MASKED[(obj.name, c)].name,
                        "policyId": MASKED[(obj.name, c)].policy_id,
                        "policyKind": "MASKING_POLICY",
                    }
                ],
            }
            for c in cols
            if (obj.name, c) in MASKED
        ]
        if masked:
            out.append(
                {
                    "objectDomain": obj.domain,
                    "objectId": obj.object_id,
                    "objectName": obj.name,
                    "columns": masked,
                }
            )
    return json.dumps(out, separators=(",", ":"))


def _template_rows() -> list[tuple[Any, ...]]:
    rows = []
    for tid, t in enumerate(TEMPLATES, start=1):
        database, schema = t.context.split(".")
        first = (t.base if t.base is not None else t.direct) or ((PATIENTS, ()),)
        profiles = {u.profile for u in USERS if u.name in t.users}
        if len(profiles) != 1:
            raise AssertionError(f"template {t.key}: its users must share one activity profile")
        rows.append(
            (
                tid,
                t.key,
                list(t.users),
                t.query_type,
                database,
                _DATABASES[database],
                schema,
                _SCHEMAS[t.context],
                t.text,
                _access_json(t.direct),
                _access_json(t.base if t.base is not None else t.direct),
                _modified_json(t),
                None if t.ddl is None else json.dumps(t.ddl, separators=(",", ":")),
                _policies_json(t),
                None if t.binds is None else json.dumps(t.binds, separators=(",", ":")),
                t.query_tag,
                t.max_ms,
                t.max_rows,
                t.max_bytes,
                t.partitions,
                first[0][0].name,
                t.writes is not None,
                profiles.pop(),
            )
        )
    return rows


_TEMPLATE_COLUMNS: Final = (
    "tid INTEGER, key VARCHAR, users VARCHAR[], query_type VARCHAR, database_name VARCHAR,"
    " database_id BIGINT, schema_name VARCHAR, schema_id BIGINT, text VARCHAR,"
    " direct_json JSON, base_json JSON, modified_json JSON, ddl_json JSON, policies_json JSON,"
    " binds VARCHAR, query_tag VARCHAR, max_ms BIGINT, max_rows BIGINT, max_bytes BIGINT,"
    " partitions BIGINT, primary_object VARCHAR, is_write BOOLEAN, profile VARCHAR"
)

_USER_COLUMNS: Final = (
    "user_name VARCHAR, role_name VARCHAR, user_type VARCHAR, warehouse_name VARCHAR,"
    " warehouse_id BIGINT, warehouse_size VARCHAR, profile VARCHAR, client_type VARCHAR,"
    " client_version VARCHAR, application_id VARCHAR, first_factor VARCHAR,"
    " second_factor VARCHAR, client_ip VARCHAR, environment VARCHAR"
)


def _user_rows() -> list[tuple[Any, ...]]:
    return [
        (
            u.name,
            u.role,
            u.user_type,
            u.warehouse,
            u.warehouse_id,
            u.warehouse_size,
            u.profile,
            u.client_type,
            u.client_version,
            u.application_id,
            u.first_factor,
            u.second_factor,
            u.client_ip,
            u.environment,
        )
        for u in USERS
    ]


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedSummary:
    """Rows inserted into each view by one seeding call, and the window they cover."""

    start: datetime
    end: datetime
    access_history: int
    login_history: int
    query_history: int
    sessions: int
    trust_center_findings: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """Rows per view name (``ACCESS_HISTORY`` ...)."""
        return {
            ACCESS_HISTORY: self.access_history,
            LOGIN_HISTORY: self.login_history,
            QUERY_HISTORY: self.query_history,
            SESSIONS: self.sessions,
            TRUST_CENTER_FINDINGS: self.trust_center_findings,
        }

    def __str__(self) -> str:
        rows = ", ".join(f"{n:,} {view}" for view, n in self.counts.items())
        return f"{rows} in [{self.start.isoformat()}, {self.end.isoformat()})"

    def __add__(self, other: SeedSummary) -> SeedSummary:
        return SeedSummary(
            start=min(self.start, other.start),
            end=max(self.end, other.end),
            access_history=self.access_history + other.access_history,
            login_history=self.login_history + other.login_history,
            query_history=self.query_history + other.query_history,
            sessions=self.sessions + other.sessions,
            trust_center_findings=self.trust_center_findings + other.trust_center_findings,
        )


def seed_account_usage(
    duck: duckdb.DuckDBPyConnection,
    *,
    end: datetime,
    days: int = 7,
    access_rows_per_day: int = 8000,
    seed: int = 7,
    phi_canary: str = DEFAULT_PHI_CANARY,
    query_rows_per_day: int | None = None,
    login_rows_per_day: int | None = None,
) -> SeedSummary:
    """Seed ``[end - days, end)`` with background activity plus the incidents.

    Creates the four tables if needed. Idempotent: seeding the same window again
    replaces what it held. Returns the rows inserted per view.
    """
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    end = _utc(end)
    start = end - timedelta(days=days)
    summary = seed_window(
        duck,
        start,
        end,
        access_rows_per_day=access_rows_per_day,
        seed=seed,
        query_rows_per_day=query_rows_per_day,
        login_rows_per_day=login_rows_per_day,
    )
    return summary + seed_incidents(duck, start, end, seed=seed, phi_canary=phi_canary)


def seed_window(
    duck: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    *,
    access_rows_per_day: int = 8000,
    seed: int = 7,
    query_rows_per_day: int | None = None,
    login_rows_per_day: int | None = None,
) -> SeedSummary:
    """Replace the background activity in ``[start, end)``; no incidents.

    Rows are a pure function of (seed, per-day rates, UTC day, slot), so seeding
    ``[a, b)`` then ``[b, c)`` equals seeding ``[a, c)``: use it to advance the clock.
    """
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ValueError(f"empty window: start {start.isoformat()} >= end {end.isoformat()}")
    if access_rows_per_day <= 0:
        raise ValueError(f"access_rows_per_day must be positive, got {access_rows_per_day}")
    queries = access_rows_per_day if query_rows_per_day is None else query_rows_per_day
    queries = min(queries, access_rows_per_day)
    failures = max(1, queries // 100)
    logins = (
        max(48, access_rows_per_day // 50) if login_rows_per_day is None else login_rows_per_day
    )

    create_tables(duck)
    lo, hi = _micros(start), _micros(end)
    first_day, last_day = lo // US_PER_DAY, (hi - 1) // US_PER_DAY
    with _transaction(duck):
        _stage_catalogue(duck)
        _delete_window(duck, start, end)
        n_logins, n_sessions = _seed_logins(duck, seed, first_day, last_day, logins, lo, hi)
        n_access, n_queries = _seed_queries(
            duck, seed, first_day, last_day, access_rows_per_day, queries, failures, lo, hi
        )
    return SeedSummary(start, end, n_access, n_logins, n_queries, n_sessions)


def seed_incidents(
    duck: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    *,
    seed: int = 7,
    phi_canary: str = DEFAULT_PHI_CANARY,
) -> SeedSummary:
    """Add the findings an auditor should see, at fixed points of ``[start, end)``.

    * 30% in: 40 failed logins (390100) for DAVE_ADMIN from 203.0.113.45 within 5 minutes;
    * 50% in: ALICE_ANALYST runs a query with the canary as an SSN literal;
    * 60% in: BOB_ENGINEER runs the same lookup with the canary as a bind value.
    """
    start, end = _utc(start), _utc(end)
    span = _micros(end) - _micros(start)
    if span < 10 * 60 * US_PER_SECOND:
        raise ValueError("the incident window must be at least 10 minutes long")
    lo = _micros(start)
    burst_us = _floor_second(lo + span * 3 // 10)
    literal_us = _floor_second(lo + span // 2) + 417_000
    bind_us = _floor_second(lo + span * 6 // 10) + 129_000

    create_tables(duck)
    with _transaction(duck):
        _stage_catalogue(duck)
        n_logins = _seed_login_burst(duck, seed, burst_us)
        tids = {t.key: tid for tid, t in enumerate(TEMPLATES, start=1)}
        escaped = phi_canary.replace("'", "''")
        literal_text = TEMPLATES[tids["canary_literal"] - 1].text.replace("{canary}", escaped)
        bind_text = TEMPLATES[tids["canary_bind"] - 1].text
        binds = json.dumps({"1": {"type": "TEXT", "value": phi_canary}}, separators=(",", ":"))
        _create_query_staging(duck)
        # (day, slot, template, user, start, text, binds, in ACCESS_HISTORY)
        events: list[tuple[Any, ...]] = [
            (literal_us // US_PER_DAY, -1, tids["canary_literal"], "ALICE_ANALYST",
             literal_us, literal_text, None, True),
            (bind_us // US_PER_DAY, -2, tids["canary_bind"], "BOB_ENGINEER",
             bind_us, bind_text, binds, True),
        ]  # fmt: skip
        for k, (key, at) in enumerate(CIS_EVENTS.items()):
            t = TEMPLATES[tids[key] - 1]
            us = _floor_second(lo + int(span * at)) + 1000 * k
            events.append(
                (us // US_PER_DAY, -10 - k, tids[key], t.users[0], us, t.text, None, False)
            )
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(events))
        duck.execute(
            f"""
            INSERT INTO _seed_q
            WITH v AS (
                SELECT day::BIGINT AS day, i::BIGINT AS i, tid::INTEGER AS tid,
                       user_name::VARCHAR AS user_name, start_us::BIGINT AS start_us,
                       query_text::VARCHAR AS query_text, bind_values::VARCHAR AS bind_values,
                       in_access::BOOLEAN AS in_access
                FROM (VALUES {values})
                     AS v(day, i, tid, user_name, start_us, query_text, bind_values, in_access)
            ),
            h AS (SELECT v.*, hash(?, day, i, 1) AS ha, hash(?, day, i, 2) AS hb FROM v)
            SELECT day, i, tid, user_name, start_us, {_query_id_sql("ha", "hb")}, query_text,
                   bind_values, false, in_access, true, ha, hb, hash(?, day, i, 13)
            FROM h
            """,
            [x for e in events for x in e] + [seed, seed, seed],
        )
        n_logins += _seed_cis_sessions(duck, lo, span)
        n_findings = _seed_trust_center(duck, lo, span)
        n_access, n_queries = _insert_queries(duck)
    return SeedSummary(start, end, n_access, n_logins, n_queries, 2, n_findings)


# ---------------------------------------------------------------------------
# Internals
# ---------------------------------------------------------------------------


@contextmanager
def _transaction(duck: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction, so concurrent readers (fakesnow sessions) see all of a seeding or none.

    The temporary staging tables are dropped at the end either way.
    """
    duck.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        duck.execute("ROLLBACK")
        _drop_staging(duck)
        raise
    _drop_staging(duck)
    duck.execute("COMMIT")


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts.isoformat()} has no time zone; pass an aware datetime")
    return ts.astimezone(UTC)


def _micros(ts: datetime) -> int:
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds


def _floor_second(us: int) -> int:
    return us - us % US_PER_SECOND


def _fetch_int(duck: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = duck.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _stage_catalogue(duck: duckdb.DuckDBPyConnection) -> None:
    """Users and templates as temp tables (invisible to fakesnow sessions)."""
    # Seeding a million rows takes seconds; DuckDB would draw a progress bar on stdout.
    duck.execute("SET enable_progress_bar = false")
    duck.execute(f"CREATE OR REPLACE TEMP TABLE _seed_users ({_USER_COLUMNS})")
    users = _user_rows()
    duck.executemany(f"INSERT INTO _seed_users VALUES ({', '.join('?' * len(users[0]))})", users)
    duck.execute(f"CREATE OR REPLACE TEMP TABLE _seed_templates ({_TEMPLATE_COLUMNS})")
    rows = _template_rows()
    duck.executemany(
        f"INSERT INTO _seed_templates VALUES ({', '.join('?' * len(rows[0]))})",
        rows,
    )


def _query_id_sql(a: str, b: str) -> str:
    """A Snowflake-looking query id: 8-4-4-4-12 lowercase hex from two 64-bit hash columns."""
    return (
        f"printf('%08x-%04x-%04x-%04x-%012x', {a} >> 32, ({a} >> 16) & 65535, {a} & 65535,"
        f" {b} >> 48, {b} & 281474976710655)"
    )


def _drop_staging(duck: duckdb.DuckDBPyConnection) -> None:
    for table in ("_seed_q", "_seed_l", "_seed_users", "_seed_templates"):
        duck.execute(f"DROP TABLE IF EXISTS temp.{table}")


def _delete_window(duck: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> None:
    for view, column in TIME_COLUMNS.items():
        duck.execute(
            f"DELETE FROM {qualified_name(view)} WHERE {column} >= ? AND {column} < ?",
            [start, end],
        )


def _ts(expr: str) -> str:
    """SQL for a TIMESTAMPTZ from epoch microseconds, independent of the session time zone."""
    return f"timezone('UTC', make_timestamp(({expr})::BIGINT))"


def _hour_sql(profile_col: str, h: str) -> str:
    parts = []
    for profile in _HOUR_WEIGHTS:
        hours = _hour_lookup(profile)
        parts.append(
            f"WHEN '{profile}' THEN list_extract({hours}, ({h} % {len(hours)})::BIGINT + 1)"
        )
    return f"(CASE {profile_col} {' '.join(parts)} END)"


def _login_user_lookup() -> list[str]:
    return [u.name for u in USERS for _ in range(u.login_weight)]


def _seed_logins(
    duck: duckdb.DuckDBPyConnection,
    seed: int,
    first_day: int,
    last_day: int,
    per_day: int,
    lo: int,
    hi: int,
) -> tuple[int, int]:
    lookup = _login_user_lookup()
    # A session is created up to a second after its login, so a window also takes the
    # sessions of logins just before it; hence the extra day in front.
    duck.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _seed_l AS
        WITH slots AS (
            SELECT d.day, s.j,
                   hash(?, d.day, s.j, 21) AS h1, hash(?, d.day, s.j, 22) AS h2,
                   hash(?, d.day, s.j, 23) AS h3, hash(?, d.day, s.j, 24) AS h4
            FROM range({first_day - 1}, {last_day + 1}) d(day), range({per_day}) s(j)
        ),
        picked AS (
            SELECT slots.*, list_extract({lookup}, (h1 % {len(lookup)})::BIGINT + 1) AS user_name
            FROM slots
        ),
        timed AS (
            SELECT p.day * 10000000 + p.j AS event_id,
                   p.day * {US_PER_DAY} + {_hour_sql("u.profile", "p.h2")} * {US_PER_HOUR}
                       + (p.h3 % {US_PER_HOUR}) AS event_us,
                   u.*,
                   (u.user_type = 'PERSON' AND p.h4 % 100 < 4) AS failed,
                   p.h4
            FROM picked p JOIN _seed_users u USING (user_name)
        )
        SELECT *, event_us + 1000 + h4 % 900000 AS created_us,
               event_us >= {lo} AND event_us < {hi} AS in_logins,
               NOT failed AND event_us + 1000 + h4 % 900000 >= {lo}
                   AND event_us + 1000 + h4 % 900000 < {hi} AS in_sessions
        FROM timed
        """,
        [seed, seed, seed, seed],
    )
    duck.execute(
        f"""
        INSERT INTO {qualified_name(LOGIN_HISTORY)}
        SELECT event_id, {_ts("event_us")}, 'LOGIN', user_name, client_ip, client_type,
               client_version, first_factor,
               CASE WHEN failed THEN NULL ELSE second_factor END,
               CASE WHEN failed THEN 'NO' ELSE 'YES' END,
               CASE WHEN failed THEN 390100 END,
               CASE WHEN failed THEN 'INCORRECT_USERNAME_PASSWORD' END,
               0, NULL, NULL,
               CASE first_factor WHEN 'RSA_KEYPAIR' THEN 'SHA256:' || left(md5(user_name), 16) END,
               CASE WHEN NOT failed AND second_factor IS NOT NULL
                    THEN 'DUO-' || upper(left(md5(user_name || 'duo'), 10)) END
        FROM _seed_l WHERE in_logins ORDER BY event_us, event_id
        """
    )
    duck.execute(
        f"""
        INSERT INTO {qualified_name(SESSIONS)}
        SELECT 20000000000000 + event_id, {_ts("created_us")}, user_name,
               CASE first_factor WHEN 'PASSWORD' THEN 'Password' ELSE first_factor END,
               event_id, client_version, application_id, environment, NULL, NULL,
               CASE WHEN user_type = 'SERVICE' THEN 'LOGOUT'
                    WHEN (h4 >> 8) % 10 < 6 THEN 'LOGOUT' ELSE 'ABANDONED' END
        FROM _seed_l WHERE in_sessions ORDER BY created_us, event_id
        """
    )
    n_logins = _fetch_int(duck, "SELECT count(*) FROM _seed_l WHERE in_logins")
    n_sessions = _fetch_int(duck, "SELECT count(*) FROM _seed_l WHERE in_sessions")
    return n_logins, n_sessions


def _seed_login_burst(duck: duckdb.DuckDBPyConnection, seed: int, burst_us: int) -> int:
    day = burst_us // US_PER_DAY
    duck.execute(
        f"""
        INSERT INTO {qualified_name(LOGIN_HISTORY)}
        SELECT {day}::BIGINT * 10000000 + 9000000 + k,
               {_ts(f"{burst_us} + k * {BURST_SPACING_S * US_PER_SECOND} + hash(?, k) % 900000")},
               'LOGIN', ?, ?, 'OTHER', '1.0', 'PASSWORD', NULL, 'NO', 390100,
               'INCORRECT_USERNAME_PASSWORD', 0, NULL, NULL, NULL, NULL
        FROM range({BURST_ATTEMPTS}) r(k)
        """,
        [seed, BURST_USER, BURST_IP],
    )
    return BURST_ATTEMPTS


def _seed_cis_sessions(duck: duckdb.DuckDBPyConnection, lo: int, span: int) -> int:
    """CIS 2.3/2.4: the SSO user signs in with a password and no MFA; CIS 2.9: a session from
    an unsupported Python connector. Each is a successful login with its session; returns
    the logins added (two, and two sessions)."""
    rows = [
        (SSO_PASSWORD_USER, 0.4, "SNOWFLAKE_UI", "9.2.1", "PASSWORD", None, "198.51.100.57",
         "Snowflake UI 9.2.1", "9.2.1", _UI_ENV, 0),
        (OLD_CLIENT_USER, 0.6, "PYTHON_DRIVER", OLD_PYTHON_CONNECTOR, "PASSWORD", "DUO_PUSH",
         "198.51.100.41", f"PythonConnector {OLD_PYTHON_CONNECTOR}", OLD_PYTHON_CONNECTOR,
         _PY_ENV, 1),
    ]  # fmt: skip
    for user, at, ctype, cver, first, second, ip, app_id, app_ver, env, k in rows:
        us = _floor_second(lo + int(span * at)) + 250_000
        event_id = (us // US_PER_DAY) * 10_000_000 + 9_100_000 + k
        duck.execute(
            f"""
            INSERT INTO {qualified_name(LOGIN_HISTORY)} (EVENT_ID, EVENT_TIMESTAMP, EVENT_TYPE,
                USER_NAME, CLIENT_IP, REPORTED_CLIENT_TYPE, REPORTED_CLIENT_VERSION,
                FIRST_AUTHENTICATION_FACTOR, SECOND_AUTHENTICATION_FACTOR, IS_SUCCESS,
                ERROR_CODE, ERROR_MESSAGE, RELATED_EVENT_ID)
            VALUES (?, {_ts("?::BIGINT")}, 'LOGIN', ?, ?, ?, ?, ?, ?, 'YES', NULL, NULL, 0)
            """,
            [event_id, us, user, ip, ctype, cver, first, second],
        )
        duck.execute(
            f"""
            INSERT INTO {qualified_name(SESSIONS)} (SESSION_ID, CREATED_ON, USER_NAME,
                AUTHENTICATION_METHOD, LOGIN_EVENT_ID, CLIENT_APPLICATION_VERSION,
                CLIENT_APPLICATION_ID, CLIENT_ENVIRONMENT, CLOSED_REASON)
            VALUES (?, {_ts("?::BIGINT")}, ?, 'Password', ?, ?, ?, ?, 'LOGOUT')
            """,
            [20_000_000_000_000 + event_id, us + 400_000, user, event_id, app_ver, app_id, env],
        )
    return len(rows)


def _seed_trust_center(duck: duckdb.DuckDBPyConnection, lo: int, span: int) -> int:
    """The Trust Center findings (:data:`TRUST_CENTER`), each as last updated in the window."""
    for fid, package, scanner, severity, state, days_before, at in TRUST_CENTER:
        created = lo - days_before * US_PER_DAY + 3 * US_PER_HOUR
        updated = _floor_second(lo + int(span * at))
        duck.execute(
            f"""
            INSERT INTO {qualified_name(TRUST_CENTER_FINDINGS)}
            VALUES (?, 'SNOWFLAKE', ?, ?, ?, ?, {_ts("?::BIGINT")}, {_ts("?::BIGINT")})
            """,
            [fid, package, scanner, severity, state, created, updated],
        )
    return len(TRUST_CENTER)


def _create_query_staging(duck: duckdb.DuckDBPyConnection) -> None:
    duck.execute(
        """
        CREATE OR REPLACE TEMP TABLE _seed_q (
            day BIGINT, i BIGINT, tid INTEGER, user_name VARCHAR, start_us BIGINT,
            query_id VARCHAR, query_text VARCHAR, bind_values VARCHAR, failed BOOLEAN,
            in_access BOOLEAN, in_query BOOLEAN, ha UBIGINT, hb UBIGINT, hc UBIGINT
        )
        """
    )


def _seed_queries(
    duck: duckdb.DuckDBPyConnection,
    seed: int,
    first_day: int,
    last_day: int,
    access_per_day: int,
    queries_per_day: int,
    failures_per_day: int,
    lo: int,
    hi: int,
) -> tuple[int, int]:
    lookup = [tid for tid, t in enumerate(TEMPLATES, start=1) for _ in range(t.weight)]
    _create_query_staging(duck)
    # Slots [0, access) touch objects; [access, access + failures) are failed queries.
    # Three hashes place a slot (template+user, time, literals); two more make its query id.
    duck.execute(
        f"""
        INSERT INTO _seed_q
        WITH slots AS (
            SELECT d.day, s.i,
                   hash(?, d.day, s.i, 3) AS hp, hash(?, d.day, s.i, 5) AS ht,
                   hash(?, d.day, s.i, 7) AS hn, hash(?, d.day, s.i, 1) AS ha,
                   hash(?, d.day, s.i, 2) AS hb
            FROM range({first_day}, {last_day + 1}) d(day),
                 range({access_per_day + failures_per_day}) s(i)
        ),
        placed AS (
            SELECT p.day, p.i, p.ha, p.hb, t.tid, t.text, t.binds,
                   list_extract(t.users, ((p.hp >> 32) % len(t.users))::BIGINT + 1) AS user_name,
                   p.day * {US_PER_DAY} + {_hour_sql("t.profile", "p.ht")} * {US_PER_HOUR}
                       + ((p.ht >> 20) % {US_PER_HOUR}) AS start_us,
                   (100000 + p.hn % 900000)::VARCHAR AS n,
                   (1 + (p.hn >> 32) % 90)::VARCHAR AS k
            FROM slots p
            JOIN _seed_templates t
              ON t.tid = list_extract({lookup}, (p.hp % {len(lookup)})::BIGINT + 1)
        )
        SELECT day, i, tid, user_name, start_us, {_query_id_sql("ha", "hb")},
               replace(replace(text, '{{n}}', n), '{{k}}', k),
               replace(binds, '{{n}}', n),
               i >= {access_per_day},
               i < {access_per_day},
               i < {queries_per_day} OR i >= {access_per_day},
               ha, hb, hash(?, day, i, 13)
        FROM placed
        WHERE start_us >= {lo} AND start_us < {hi}
        """,
        [seed] * 6,
    )
    return _insert_queries(duck)


def _insert_queries(duck: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Move ``_seed_q`` into ACCESS_HISTORY and QUERY_HISTORY; returns both row counts."""
    duck.execute(
        f"""
        INSERT INTO {qualified_name(ACCESS_HISTORY)}
        SELECT q.query_id, {_ts("q.start_us")}, q.user_name, t.direct_json, t.base_json,
               t.modified_json, t.ddl_json, t.policies_json, NULL, NULL
        FROM _seed_q q JOIN _seed_templates t USING (tid)
        WHERE q.in_access
        ORDER BY q.start_us, q.query_id
        """
    )
    # Timings in ms. ha/hb/hc are independent 64-bit hashes; shifts give fresh bits.
    compilation = "(15 + q.hb % 250)"
    execution = "(CASE WHEN q.failed THEN q.ha % 40 ELSE 5 + q.ha % t.max_ms END)"
    provisioning = "(CASE WHEN (q.ha >> 20) % 50 = 0 THEN 1000 + (q.hb >> 20) % 4000 ELSE 0 END)"
    overload = "(CASE WHEN (q.hc >> 20) % 20 = 0 THEN (q.hc >> 28) % 5000 ELSE 0 END)"
    total = f"({compilation} + {execution} + {provisioning} + {overload})"
    rows = "(CASE WHEN q.failed THEN 0 ELSE (q.hc >> 8) % (t.max_rows + 1) END)"
    scanned = "(CASE WHEN q.failed OR t.max_bytes = 0 THEN 0 ELSE (q.hb >> 8) % t.max_bytes END)"
    cancelled = "((q.hc >> 40) % 4 = 0)"
    session_event = "s.LOGIN_EVENT_ID"
    duck.execute(
        f"""
        INSERT INTO {qualified_name(QUERY_HISTORY)}
        SELECT
            q.query_id,
            q.query_text,
            t.database_id,
            t.database_name,
            t.schema_id,
            t.schema_name,
            CASE WHEN q.failed AND NOT {cancelled} THEN 'UNKNOWN' ELSE t.query_type END,
            coalesce(s.SESSION_ID, 20000000000000 + q.day * 10000000 + 9999999),
            {session_event},
            q.user_name,
            u.role_name,
            u.warehouse_id,
            u.warehouse_name,
            u.warehouse_size,
            'STANDARD',
            1,
            t.query_tag,
            CASE WHEN q.failed THEN 'FAIL' ELSE 'SUCCESS' END,
            CASE WHEN NOT q.failed THEN NULL WHEN {cancelled} THEN '000604' ELSE '002003' END,
            CASE WHEN NOT q.failed THEN NULL
                 WHEN {cancelled} THEN 'SQL execution was cancelled by the client.'
                 ELSE 'SQL compilation error:' || chr(10) || 'Object '''
                      || t.primary_object || ''' does not exist or not authorized.'
            END,
            {_ts("q.start_us")},
            {_ts(f"q.start_us + {total} * 1000")},
            {total},
            {scanned},
            CASE WHEN q.failed THEN 0 ELSE ((q.hc >> 48) % 101) / 100.0 END,
            CASE WHEN t.is_write AND NOT q.failed THEN (q.hb >> 24) % 200000000 ELSE 0 END,
            CASE WHEN t.is_write OR q.failed THEN 0 ELSE {rows} * 120 END,
            0,
            CASE WHEN t.is_write AND NOT q.failed THEN 1 ELSE {rows} END,
            CASE WHEN t.query_type IN ('MERGE', 'COPY', 'INSERT') THEN {rows} ELSE 0 END,
            CASE WHEN t.query_type IN ('MERGE', 'UPDATE') THEN {rows} // 3 ELSE 0 END,
            0,
            0,
            0,
            CASE WHEN q.failed THEN 0 ELSE 1 + (q.hb >> 40) % t.partitions END,
            t.partitions,
            CASE WHEN (q.hc >> 12) % 400 = 0 THEN (q.hb >> 12) % 3000000000 ELSE 0 END,
            0,
            CASE WHEN q.failed THEN 0 ELSE {rows} * 96 END,
            {compilation},
            {execution},
            {provisioning},
            0,
            {overload},
            0,
            NULL, NULL, 0, NULL, NULL, 0,
            CASE WHEN t.query_type = 'COPY' THEN 40 + (q.ha >> 36) % 400 ELSE 0 END,
            (((q.ha >> 44) % 100) * 0.000001)::DECIMAL(38, 9),
            '9.2.1',
            0, 0, 0, 0, 0,
            100,
            false,
            0, 0, 0,
            CASE WHEN t.is_write THEN q.start_us // 1000 ELSE 0 END,
            0,
            'ROLE',
            md5(q.query_text),
            2,
            md5(t.text),
            1,
            NULL,
            CASE WHEN t.is_write AND NOT q.failed THEN 1 ELSE {rows} END,
            0,
            NULL,
            0,
            u.user_type,
            NULL, NULL, NULL, NULL,
            q.bind_values::JSON
        FROM _seed_q q
        JOIN _seed_templates t USING (tid)
        JOIN _seed_users u USING (user_name)
        ASOF LEFT JOIN {qualified_name(SESSIONS)} s
            ON s.USER_NAME = q.user_name AND {_ts("q.start_us")} >= s.CREATED_ON
        WHERE q.in_query
        ORDER BY q.start_us, q.query_id
        """
    )
    n_access = _fetch_int(duck, "SELECT count(*) FROM _seed_q WHERE in_access")
    n_queries = _fetch_int(duck, "SELECT count(*) FROM _seed_q WHERE in_query")
    return n_access, n_queries
