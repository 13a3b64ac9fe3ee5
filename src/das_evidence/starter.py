"""`evidence init`: a commented starter configuration and a fresh key pair."""

from __future__ import annotations

from pathlib import Path

from das_evidence.errors import ConfigError
from das_evidence.manifests.keyring import write_key_pair

STARTER = """\
# das-evidence configuration. Every key can also be set as EVIDENCE_<SECTION>__<KEY>
# (e.g. EVIDENCE_SNOWFLAKE__PASSWORD; a table or list as JSON), which overrides the
# file; relative paths resolve against this file. Values are typed: numbers and
# true/false without quotes, times with a zone (2026-11-01T00:00:00Z). A wrong one
# stops every command with the key and where it came from (line, or variable).

[snowflake]
# Connector arguments, named as snowflake-connector-python names them (role,
# warehouse, database, schema, host, port, protocol, login_timeout, ... are checked
# by type); any other connector argument passes through unchanged.
account = "{account}"
user = "EVIDENCE_COLLECTOR"
# One of: password (+ passcode for MFA), private_key_file (+ private_key_file_pwd),
# authenticator (e.g. "oauth" + token), or connection_name (a section of
# ~/.snowflake/connections.toml).
# Secrets (password, private_key_file_pwd, token, passcode, oauth_client_secret and
# any passed-through key named like *secret*, *token*, *password*, *pwd*) are never
# printed; set them as EVIDENCE_SNOWFLAKE__<KEY> rather than writing them here.
# password = "set EVIDENCE_SNOWFLAKE__PASSWORD instead of writing it here"
private_key_file = "keys/snowflake_rsa_key.p8"
role = "EVIDENCE_COLLECTOR_ROLE"  # deploy/snowflake/setup.sql creates it
# login_timeout = 20              # seconds a login may take before the run gives up (exit 3);
#                                 # a host that never answers is noticed within 6 s

[store]
uri = "archive"                # a directory, file:///path, or s3://bucket/prefix
# lock_mode = "COMPLIANCE"     # S3 Object Lock mode; retention_days = 2557

[signing]
key = "keys/signing.key"       # PKCS#8 PEM, written by `evidence keys generate`

[log]
origin = "{origin}"            # names this log; also the checkpoint key name

[redaction]
hmac_key = "keys/redaction.key"   # keyed HMAC of query text (query_history)

# One section per stream, named after its ACCOUNT_USAGE view. Defaults shown.
[streams.access_history]
# start = "2026-11-01T00:00:00Z"  # first window; default: 7 days back at midnight UTC
# safety = "3h"                   # never less than the view's documented latency
# enabled = true
# max_rows_per_query = 100000     # a larger window is read in sub-range queries of at
# max_bytes_per_query = 67108864  # most this many rows and this much text (memory)
# Large accounts (S3 store only): Snowflake unloads each window to a stage on the
# evidence bucket and the collector copies the files in; docs/SCALE.md first.
# mode = "server_side_unload"     # default "select"
# stage = "@EVIDENCE_DB.EVIDENCE.UNLOAD_STAGE"
# staging_prefix = "s3://acme-evidence/staging/"
# max_file_size = 268435456       # COPY's MAX_FILE_SIZE in bytes

[streams.login_history]
# safety = "2h"

[streams.query_history]
# safety = "45m"
# keep_query_text = false         # true archives raw SQL text: PHI risk, opt in knowingly

[streams.sessions]
# safety = "3h"

[streams.trust_center_findings]  # Trust Center scanner findings, windowed on UPDATED_ON
# safety = "1h"
# enabled = true                  # false if the account does not use Trust Center; needs
#                                 # the SNOWFLAKE.TRUST_CENTER_VIEWER application role

[streams.policy_state]
# interval = "1d"                 # one point-in-time snapshot per interval
# USERS columns: keep, hmac or drop (name and login_name are kept; these four are hmac):
# personal_data = {{ email = "hmac", display_name = "drop" }}

# One section per dbt project whose artifacts are evidence:
# [[dbt]]
# project = "jaffle_health"
# target_dir = "/srv/dbt/target"  # or s3://bucket/prefix/target

# Alerts from `evidence run`. A webhook URL and a routing key are secrets: set them as
# EVIDENCE_ALERTS__WEBHOOKS='[{{"kind": "slack", "url": "https://hooks.slack.com/..."}}]'.
# [[alerts.webhooks]]
# kind = "slack"                  # generic, slack, pagerduty (+ routing_key) or servicenow
# on = ["failure", "stale"]       # and/or "retention", "check"
# checks = ["1.12", "accountadmin-grantees"]  # with "check": failing checks, by check or CIS id
# servicenow: instance = "acme", username + password (basic) or token (bearer), and optional
# category, caller_id, assignment_group (docs/OPERATIONS.md, "Alerts")

[checks]
# What the control checks allow, and when they report a finding. Defaults shown.
# Names compare case-insensitively. Every value is printed in each report's
# scope section ("Check settings") and recorded in report.json, so an auditor
# sees exactly what was allowed: keep the lists short and justified.
# phi_reader_roles = ["PHI_READER"]     # roles allowed to read PHI; others are findings
# phi_tags = ["PHI"]                    # tags marking PHI, on a column or a whole table/view
# sensitive_tags = ["PII", "PHI"]       # tagged columns that need a masking policy
# accountadmin_allowlist = []           # users approved to hold ACCOUNTADMIN
# mfa_exempt_users = []                 # human users allowed no MFA (e.g. break-glass)
# failed_login_threshold = 10           # failed logins that make a burst (at least 2) ...
# failed_login_window = "10m"           # ... within this long, per user and per client IP
# stale_after = "26h"                   # evidence older than this is stale
# required_streams = ["access_history", "login_history", "query_history", "sessions",
#                     "policy_state"]   # stream kinds that must have evidence in a period
# dbt_sensitive_classifications = ["PII", "PHI"]  # dbt classifications/tags of personal data
# CIS Snowflake Foundations Benchmark v1.0.0 (docs/CONTROLS.md):
# admin_roles = ["ACCOUNTADMIN", "SECURITYADMIN"]  # the roles CIS 1.9-1.17 and 2.1 watch
# admin_users_min = 2                   # fewest ACCOUNTADMIN users (CIS 1.10) ...
# admin_users_max = 10                  # ... and most ACCOUNTADMIN/SECURITYADMIN users
# sso_break_glass_users = []            # SSO users allowed a password (CIS 1.3)
# min_password_length = 14              # shortest PASSWORD_MIN_LENGTH (CIS 1.5)
# key_rotation_max_age = "180d"         # oldest RSA key (CIS 1.7)
# inactive_user_max_age = "90d"         # enabled users idle longer are findings (CIS 1.8)
# admin_idle_timeout = "15m"            # longest idle timeout for admin users (CIS 1.9)
# min_data_retention_days = 7           # smallest MIN_DATA_RETENTION_TIME_IN_DAYS (CIS 4.4)
# retention_days_by_tag = {{ CRITICAL = 90, PHI = 90 }}  # Time Travel days per table tag (CIS 4.3)
# network_allowlist_max_prefix = 8     # shorter IPv4 prefixes are not an allowlist (CIS 3.1)
# min_client_versions = {{ PythonConnector = "3.0.0", JDBC = "3.13.30", ODBC = "3.0.0" }}  # CIS 2.9
# trust_center_severities = ["HIGH", "CRITICAL"]  # Trust Center findings not to stay open ...
# trust_center_max_open = "7d"          # ... longer than this
"""


def write_starter(directory: Path, *, origin: str, account: str) -> list[Path]:
    config = directory / "evidence.toml"
    if config.exists():
        raise ConfigError(
            f"{config} already exists; refusing to overwrite it",
            fix="choose another directory, or edit the file you have",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"cannot create {directory}: {e.strerror or e}", fix="choose a writable directory"
        ) from e
    keys = write_key_pair(directory / "keys", origin)
    try:
        config.write_text(STARTER.format(origin=origin, account=account))
    except OSError as e:
        raise ConfigError(
            f"cannot write {config}: {e.strerror or e}", fix="choose a writable directory"
        ) from e
    return [config, *keys.values()]
