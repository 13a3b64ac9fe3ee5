"""`evidence demo`: the whole product on a local fake Snowflake, in one command.

Starts fakesnow's HTTP server on 127.0.0.1, seeds a week of realistic
ACCOUNT_USAGE activity, writes ``DIR/evidence.toml`` and ``DIR/keys/``,
collects into ``DIR/archive/`` through the real connector, verifies the
archive, and prints what is where.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from das_evidence.collectors.runner import CollectReport, StreamResult
from das_evidence.config import Settings, load_settings
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.services import Services
from das_evidence.streams import StreamId
from das_evidence.verify import verify_target

# The demo talks to a person on a terminal; the CLI's own console is not imported here.
console = Console(highlight=False, soft_wrap=True, markup=False)

# The dbt artifacts of the test fixture project, when run from a checkout.
DBT_TARGET = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "dbt" / "target"
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
{store}

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
[streams.trust_center_findings]
start = "{start}"
"""


def write_demo_config(
    directory: Path,
    *,
    port: int,
    start: datetime,
    origin: str = DEMO_ORIGIN,
    store: str = 'uri = "archive"',
) -> Path:
    """``directory/evidence.toml`` pointing at a fake Snowflake on 127.0.0.1:``port``."""
    config = directory / "evidence.toml"
    config.write_text(
        CONFIG.format(
            account=DEMO_ACCOUNT,
            port=port,
            origin=origin,
            start=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            store=store,
        )
    )
    return config


@contextmanager
def _demo_store(directory: Path, kind: str) -> Iterator[tuple[str, str | None]]:
    """The [store] section and the S3 endpoint (None for a local archive)."""
    if kind == "local":
        yield 'uri = "archive"', None
        return
    from das_evidence.demo.moto import CREDENTIALS, MotoServer

    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
    server = MotoServer(directory / "moto.log").start()
    try:
        bucket = server.production_like_bucket(retention_days=2557)
        console.print(f"local S3 (moto_server) on {server.endpoint}, bucket {bucket}")
        yield (
            f'uri = "s3://{bucket}/archive"\nendpoint_url = "{server.endpoint}"',
            server.endpoint,
        )
    finally:
        server.stop()


def run_demo(
    directory: Path,
    *,
    days: int,
    access_rows_per_day: int,
    clock: Callable[[], datetime],
    store: str = "local",
) -> int:
    from das_evidence.demo.policy_seed import apply_policy_changes, seed_policy_state
    from das_evidence.demo.seed import seed_account_usage
    from das_evidence.demo.server import FakeSnowflake

    now = clock().replace(microsecond=0)
    end = now.replace(minute=0, second=0)
    start = (end - timedelta(days=days)).replace(hour=0)
    # Absolute: the config names files by path, read relative to the config's folder.
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    keys = directory / "keys"
    if not (keys / "signing.key").exists():
        write_key_pair(keys, DEMO_ORIGIN)

    with _demo_store(directory, store) as (store_section, endpoint), FakeSnowflake() as fake:
        console.print(f"fake Snowflake listening on http://127.0.0.1:{fake.port}")
        summary = seed_account_usage(
            fake.duck, end=end, days=days + 1, access_rows_per_day=access_rows_per_day
        )
        console.print(f"seeded {summary}")
        policy = seed_policy_state(fake.duck, now=now - timedelta(days=2, hours=3))
        console.print(f"seeded policy state: {policy.counts}")
        config = write_demo_config(directory, port=fake.port, start=start, store=store_section)
        if DBT_TARGET.is_dir():
            # The nightly dbt build ran at 22:00 yesterday: the fixture's artifacts,
            # re-stamped to demo time, so the pack (which ends at midnight) holds it.
            dbt_ran = now.replace(hour=0, minute=0, second=0) - timedelta(hours=2)
            target = restamp_dbt_target(DBT_TARGET, directory / "dbt-target", dbt_ran)
            with config.open("a") as out:
                out.write(f'\n[[dbt]]\nproject = "jaffle_health"\ntarget_dir = "{target}"\n')
        settings = load_settings(config)
        if endpoint is not None:
            _show_bucket_checks(settings)
        # One line per window is right for cron logs; the demo shows a table instead.
        quiet = logging.getLogger("das_evidence.collectors")
        level = quiet.level
        quiet.setLevel(logging.WARNING)
        try:
            with console.status("collecting through the Snowflake connector..."):
                # Three nightly runs. The first takes the baseline policy snapshot...
                report = _collect(settings, now - timedelta(days=2), only="snowflake/*")
                # ...controls change during the day, and the next night's run records it
                # (inside the pack's period, which ends at today's midnight)...
                changed_at = now - timedelta(days=1, hours=12)
                for change in apply_policy_changes(fake.duck, at=changed_at):
                    console.print(f"policy change: {change}")
                report = _merge(
                    report, _collect(settings, now - timedelta(days=1), only="snowflake/*")
                )
                # ...and tonight's run brings everything up to date, dbt's last build too.
                report = _merge(report, _collect(settings, now))
        finally:
            quiet.setLevel(level)

        table = Table(title=f"collected from Snowflake account {DEMO_ACCOUNT}")
        for col in ("stream", "new entries", "rows", "bytes", "status"):
            table.add_column(col)
        for s in report.streams:
            table.add_row(
                str(sid.family()) if (sid := StreamId.parse(s.stream)).is_dbt else sid.name,
                str(len(s.entries)),
                f"{s.rows:,}",
                f"{s.bytes:,}",
                "ok" if s.error is None else f"failed: {s.error}",
            )
        console.print(table)
        _show_new_evidence(settings)

        archive = settings.store.uri
        verdict = verify_target(archive, pubs=[keys / "signing.pub"], endpoint_url=endpoint)
        for f in verdict.findings:
            console.print(f"FAIL {f}")
        stats = verdict.stats
        online = " (online: locks, versions, checksums)" if endpoint else ""
        console.print(
            f"verify{online}: {'PASS' if verdict.ok else 'FAIL'} - {stats.get('entries')} "
            f"entries, {stats.get('rows', 0):,} rows, "
            f"{stats.get('evidence_bytes', 0):,} bytes of evidence"
        )
        pack_path = _build_demo_pack(settings, directory, start, now, endpoint)
        if endpoint is not None:
            # A plain download of every current object, as an auditor would make.
            copy = directory / "s3-archive"
            _download(settings, copy)
            console.print(f"downloaded {archive} to {copy} (the local S3 server stops now)")
            archive = str(copy)
    console.print(_where_and_hints(directory, config, archive, pack_path, keys, local=not endpoint))
    if not report.ok:
        return report.exit_code
    return 0 if verdict.ok else 1


def _where_and_hints(
    directory: Path, config: Path, archive: str, pack: Path, keys: Path, *, local: bool
) -> str:
    """Where everything is, and commands to try: each one works as printed."""
    import shlex
    import shutil
    import sys

    exe = Path(sys.executable).with_name("evidence")
    evidence = str(exe) if exe.exists() else (shutil.which("evidence") or "evidence")
    pub, vkey = keys / "signing.pub", keys / "signing.vkey"
    trust = f"--pub {pub} --vkey {vkey}"
    lines = [
        "",
        "where everything is:",
        f"  config        {config}",
        f"  archive       {archive}",
        f"  pack          {pack}  (for the auditor; report.html beside it)",
        f"  signing key   {keys / 'signing.key'}  (keep secret)",
        f"  public keys   {pub}, {vkey}",
        "",
        "try:",
        f"  {evidence} verify {pack} {trust}",
        f"  {evidence} verify {archive} {trust}",
        f"  {evidence} keys fingerprint {pub}",
    ]
    if local:
        # The local S3 is gone when the demo ends: these need the store the config names.
        query = "SELECT USER_NAME, COUNT(*) AS n FROM access_history GROUP BY 1 ORDER BY n DESC"
        lines += [
            f"  {evidence} status -c {config}",
            f"  {evidence} sql -c {config} --list",
            f"  {evidence} sql -c {config} {shlex.quote(query)}",
            f"  {evidence} report -c {config} --from {_pack_start(pack)} --to {_pack_end(pack)}"
            f" --format md",
        ]
    checker = Path(__file__).resolve().parents[3].parent / "shared" / "conformance"
    if (checker / "eaf_verify.py").is_file():
        # The independent checker takes the verifier key itself, not a file.
        vkey_text = shlex.quote(vkey.read_text().strip())
        lines.append(
            f"  {sys.executable} {checker / 'eaf_verify.py'} {archive} --pub {pub} "
            f"--vkey {vkey_text}"
        )
    return "\n".join(lines) + "\n"


def _pack_period(pack: Path) -> dict[str, str]:
    import json
    import zipfile

    with zipfile.ZipFile(pack) as z:
        period = json.loads(z.read("pack.json"))["period"]
    return {k: str(v)[:10] for k, v in period.items()}


def _pack_start(pack: Path) -> str:
    return _pack_period(pack)["start"]


def _pack_end(pack: Path) -> str:
    return _pack_period(pack)["end"]


_TIME = re.compile(r'"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?"')


def restamp_dbt_target(source: Path, dest: Path, ran_at: datetime) -> Path:
    """Copy a dbt target, moving every time in its artifacts by one offset so that the
    invocation ran at ``ran_at``: the demo's dbt run is as fresh as its Snowflake data.
    Only times move; ids, results and the relations between times stay as dbt wrote them.
    """
    import json

    run_results = json.loads((source / "run_results.json").read_text())
    generated = datetime.fromisoformat(
        run_results["metadata"]["generated_at"].replace("Z", "+00:00")
    )
    offset = ran_at - generated

    def shift(m: re.Match[str]) -> str:
        base, fraction, zone = m.group(1), m.group(2) or "", m.group(3) or ""
        t = datetime.fromisoformat(base).replace(tzinfo=UTC) + offset
        return f'"{t.strftime("%Y-%m-%dT%H:%M:%S")}{fraction}{zone}"'

    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.json")):
        (dest / path.name).write_text(_TIME.sub(shift, path.read_text()))
    return dest


def _show_bucket_checks(settings: Settings) -> None:
    from das_evidence.evidence_store.bucket_check import check_store

    store = Services(settings, clock=lambda: datetime.now(UTC)).store()
    console.print("evidence store check:")
    for c in check_store(store, required_retention_days=settings.shortest_retention_days()) or ():
        note = ""
        if c.name == "tls_only_policy" and not c.passed:
            note = "  (expected here: the local S3 speaks plain HTTP)"
        console.print(f"  {'PASS' if c.passed else 'FAIL'} {c.name}{note}", markup=False)


def _download(settings: Settings, dest: Path) -> None:
    from das_evidence.evidence_store.local import LocalStore

    source = Services(settings, clock=lambda: datetime.now(UTC)).store()
    target = LocalStore(dest, create=True)
    for key in source.list():
        data = source.get(key)
        if key == "log/checkpoint":
            target.replace_checkpoint(data)
        else:
            target.put_once(key, data)


def _collect(settings: Settings, at: datetime, only: str | None = None) -> CollectReport:
    """One nightly collect at the time ``at``."""
    with Services(settings, clock=lambda: at) as services:
        return services.collect(only=only)


def _merge(a: CollectReport, b: CollectReport) -> CollectReport:
    merged: dict[str, StreamResult] = {}
    for s in [*a.streams, *b.streams]:
        m = merged.setdefault(s.stream, StreamResult(s.stream))
        m.entries += s.entries
        m.rows += s.rows
        m.bytes += s.bytes
        m.error = s.error or m.error
    return CollectReport(list(merged.values()))


def _show_new_evidence(settings: Settings) -> None:
    """What the policy snapshot and the dbt entry say, read back from the archive."""
    log = Services(settings, clock=lambda: datetime.now(UTC)).archive()
    for entry in log.entries:
        p = entry.predicate
        sid = StreamId.parse(p["stream"])
        if sid.is_policy:
            c = p["changes"]
            what = "baseline" if c["baseline"] else f"changes since {c['since']}: {c['counts']}"
            missing = [v for v, d in p["views"].items() if d["status"] != "evidenced"]
            console.print(
                f"policy_state as of {p['as_of']}: {len(p['views'])} views"
                f"{', not evidenced: ' + ', '.join(missing) if missing else ''}; {what}"
            )
        elif sid.is_dbt:
            d = p["dbt"]
            console.print(
                f"dbt {d['project']} invocation {d['invocation_id']}: tests {d['tests']}, "
                f"not evidenced {len(d['not_evidenced'])}, source freshness "
                f"{d['source_freshness']}"
            )


def _build_demo_pack(
    settings: Settings, directory: Path, start: datetime, now: datetime, endpoint: str | None
) -> Path:
    """The auditor's pack for every complete day collected, verified like an auditor would."""
    import zipfile

    from das_evidence.reports.bundle import report_files
    from das_evidence.reports.pack import build_pack

    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    services = Services(settings, clock=lambda: now)
    signer, note_signer = services.signers()
    out = directory / "pack.zip"
    result = build_pack(
        services.store(),
        origin=settings.log.origin,
        signer=signer,
        note_signer=note_signer,
        start=start,
        end=end,
        out=out,
        extras=report_files(checks=settings.checks),
    )
    coverage: dict[str, Any] = {}
    with zipfile.ZipFile(out) as z:
        if "report.html" in z.namelist():
            (directory / "report.html").write_bytes(z.read("report.html"))
        if "report.json" in z.namelist():
            coverage = json.loads(z.read("report.json")).get("cis_coverage", {}).get("overall", {})
    verdict = verify_target(str(out), pubs=[directory / "keys" / "signing.pub"])
    console.print(
        f"pack: {out} ({result.entries} entries, {result.bytes:,} bytes, checks "
        f"{result.checks or '-'}) - verify: {'PASS' if verdict.ok else 'FAIL'}"
    )
    counts = coverage.get("counts") or {}
    if counts:
        console.print(
            f"CIS Snowflake Foundations v1.0.0: {coverage.get('automated', 0)} automated "
            f"({counts.get('pass', 0)} pass, {counts.get('fail', 0)} fail, "
            f"{counts.get('not_evidenced', 0)} not evidenced), {counts.get('manual', 0)} manual "
            "(docs/CONTROLS.md; the report groups them by section)"
        )
    for f in verdict.findings:
        console.print(f"FAIL {f}")
    return out
