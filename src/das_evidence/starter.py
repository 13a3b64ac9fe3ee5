"""`evidence init`: a commented starter configuration and a fresh key pair."""

from __future__ import annotations

from pathlib import Path

from das_evidence.errors import ConfigError
from das_evidence.manifests.keyring import write_key_pair

STARTER = """\
# das-evidence configuration. Every key can also be set as EVIDENCE_<SECTION>__<KEY>
# (e.g. EVIDENCE_SNOWFLAKE__PASSWORD); relative paths resolve against this file.

[snowflake]
# Connector arguments, named as snowflake-connector-python names them; any other
# connector argument (role, warehouse, host, port, protocol, ...) passes through.
account = "{account}"
user = "EVIDENCE_COLLECTOR"
# One of: password, private_key_file (+ private_key_file_pwd), authenticator,
# or connection_name (a section of ~/.snowflake/connections.toml).
# password = "set EVIDENCE_SNOWFLAKE__PASSWORD instead of writing it here"
private_key_file = "keys/snowflake_rsa_key.p8"
role = "EVIDENCE_COLLECTOR_ROLE"  # deploy/snowflake/setup.sql creates it

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

[streams.login_history]
# safety = "2h"

[streams.query_history]
# safety = "45m"
# keep_query_text = false         # true archives raw SQL text: PHI risk, opt in knowingly

[streams.sessions]
# safety = "3h"

[streams.policy_state]
# interval = "1d"                 # one point-in-time snapshot per interval
# USERS columns: keep, hmac or drop (name and login_name are kept; these four are hmac):
# personal_data = {{ email = "hmac", display_name = "drop" }}

# One section per dbt project whose artifacts are evidence:
# [[dbt]]
# project = "jaffle_health"
# target_dir = "/srv/dbt/target"  # or s3://bucket/prefix/target
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
