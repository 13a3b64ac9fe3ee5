"""`evidence demo`: the whole product on a local fake Snowflake, in one command.

Starts fakesnow's HTTP server on 127.0.0.1, seeds a week of realistic
ACCOUNT_USAGE activity, writes ``DIR/evidence.toml`` and ``DIR/keys/``,
collects into ``DIR/archive/`` through the real connector, verifies the
archive, and prints what is where.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from rich.table import Table

from das_evidence.cli.output import console
from das_evidence.collect import collect_settings
from das_evidence.config import load_settings
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.verify import verify_target

DEMO_ACCOUNT = "ACME_PROD"
DEMO_ORIGIN = "evidence.example.com/acme-prod"

CONFIG = """\
# Written by `evidence demo`: points the real Snowflake connector at a local fake server.
# The server only lives while the demo runs; point [snowflake] at your account instead.

[snowflake]
account = "{account}"
user = "EVIDENCE_COLLECTOR"
password = "demo-only"
host = "127.0.0.1"
port = {port}
protocol = "http"
network_timeout = 60

[store]
uri = "archive"

[signing]
key = "keys/signing.key"

[log]
origin = "{origin}"

[redaction]
hmac_key = "keys/redaction.key"

[streams.access_history]
start = "{start}"
[streams.login_history]
start = "{start}"
[streams.query_history]
start = "{start}"
[streams.sessions]
start = "{start}"
"""


def write_demo_config(
    directory: Path, *, port: int, start: datetime, origin: str = DEMO_ORIGIN
) -> Path:
    """``directory/evidence.toml`` pointing at a fake Snowflake on 127.0.0.1:``port``."""
    config = directory / "evidence.toml"
    config.write_text(
        CONFIG.format(
            account=DEMO_ACCOUNT,
            port=port,
            origin=origin,
            start=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    )
    return config


def run_demo(
    directory: Path,
    *,
    days: int,
    access_rows_per_day: int,
    clock: Callable[[], datetime],
) -> int:
    from das_evidence.demo.seed import seed_account_usage
    from das_evidence.demo.server import FakeSnowflake

    now = clock().replace(microsecond=0)
    end = now.replace(minute=0, second=0)
    start = (end - timedelta(days=days)).replace(hour=0)
    directory.mkdir(parents=True, exist_ok=True)
    keys = directory / "keys"
    if not (keys / "signing.key").exists():
        write_key_pair(keys, DEMO_ORIGIN)

    with FakeSnowflake() as fake:
        console.print(f"fake Snowflake listening on http://127.0.0.1:{fake.port}")
        summary = seed_account_usage(
            fake.duck, end=end, days=days + 1, access_rows_per_day=access_rows_per_day
        )
        console.print(f"seeded {summary}")
        config = write_demo_config(directory, port=fake.port, start=start)
        settings = load_settings(config)
        # One line per window is right for cron logs; the demo shows a table instead.
        quiet = logging.getLogger("das_evidence.collectors")
        level = quiet.level
        quiet.setLevel(logging.WARNING)
        try:
            with console.status("collecting through the Snowflake connector..."):
                report = collect_settings(settings, only=None, clock=lambda: now)
        finally:
            quiet.setLevel(level)

    table = Table(title=f"collected from Snowflake account {DEMO_ACCOUNT}")
    for col in ("stream", "new entries", "rows", "bytes", "status"):
        table.add_column(col)
    for s in report.streams:
        table.add_row(
            s.stream.split("/")[-1],
            str(len(s.entries)),
            f"{s.rows:,}",
            f"{s.bytes:,}",
            "ok" if s.error is None else f"failed: {s.error}",
        )
    console.print(table)

    archive = directory / "archive"
    verdict = verify_target(str(archive), pubs=[keys / "signing.pub"])
    for f in verdict.findings:
        console.print(f"FAIL {f}")
    stats = verdict.stats
    console.print(
        f"verify: {'PASS' if verdict.ok else 'FAIL'} - {stats.get('entries')} entries, "
        f"{stats.get('rows', 0):,} rows, {stats.get('evidence_bytes', 0):,} bytes of evidence"
    )
    console.print(f"""
where everything is:
  config        {config}
  archive       {archive}
  signing key   {keys / "signing.key"}  (keep secret)
  public key    {keys / "signing.pub"}
  note key      {keys / "signing.vkey"}

try:
  .venv/bin/evidence verify {archive} --pub {keys / "signing.pub"}
  python ../shared/conformance/eaf_verify.py {archive} --pub {keys / "signing.pub"}
  duckdb -c "select user_name, count(*)
    from '{archive}/evidence/snowflake/*/access_history/*/*.parquet' group by 1"
""")
    if not report.ok:
        return report.exit_code
    return 0 if verdict.ok else 1
