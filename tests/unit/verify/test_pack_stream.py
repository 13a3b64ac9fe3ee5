"""Packs are built and verified as streams: memory does not follow the pack's size.

A child process builds, with the report, and verifies a pack whose evidence is far
larger than the memory it is allowed, and measures what it allocated: Python objects
with ``tracemalloc`` and Arrow buffers with the Arrow memory pool's peak. A build
that held any member whole, or decoded a Parquet file whole, would exceed the cap.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from das_evidence.verify.parquet import MAX_FOOTER_BYTES

MIB = 1 << 20
#: Evidence in the pack: two stored 48 MiB files and a 48 MiB Parquet window.
MEMBER = 48 * MIB
CAP = 16 * MIB

CHILD = textwrap.dedent(
    """
    import hashlib, json, os, sys, tracemalloc, zipfile
    from datetime import UTC, datetime
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from das_evidence.collectors.snowflake.views import ACCESS_HISTORY
    from das_evidence.config import ChecksConfig
    from das_evidence.evidence_store.local import LocalStore
    from das_evidence.manifests.log import ArchiveLog, EvidenceFile
    from das_evidence.manifests.signers import Ed25519Signer
    from das_evidence.reports.bundle import report_files
    from das_evidence.reports.pack import build_pack
    from das_evidence.verify.pack import check_pack, read_pack
    from das_evidence.verify.archive import Trust
    from das_evidence.manifests.signers import PublicKey

    root, member = Path(sys.argv[1]), int(sys.argv[2])
    origin = "evidence.example.com/stream-test"
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), origin)
    store = LocalStore(root / "archive", create=True)
    log = ArchiveLog(store, origin)
    spool = root / "spool"
    spool.mkdir()

    def put(key, path, media, rows):
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        store.put_once(key, path)
        return EvidenceFile(key, h.hexdigest(), path.stat().st_size, media, rows)

    def append(stream, day, files, **extra):
        log.append(
            stream=stream,
            files=files,
            predicate={
                "collector": {"name": "t", "version": "0"},
                "window": {"start": f"2026-11-0{day}T00:00:00Z",
                           "end": f"2026-11-0{day + 1}T00:00:00Z"},
                "collected_at": f"2026-11-0{day + 1}T00:00:00Z",
                **extra,
            },
            signer=signer,
            note_signer=signer,
        )

    # Two already-compressed files of random bytes, written 1 MiB at a time.
    for day in (1, 2):
        path = spool / f"{day}.gz"
        with path.open("wb") as f:
            for _ in range(member // (1 << 20)):
                f.write(os.urandom(1 << 20))
        key = f"evidence/snowflake/A/sessions/date=2026-11-0{day}/part-0.gz"
        append("snowflake/A/sessions", day, [put(key, path, "application/gzip", 0)])
        path.unlink()

    # A policy snapshot that tags a column PHI: the PHI check and chart read ACCESS_HISTORY.
    tags = pa.table({
        "TAG_DATABASE": ["GOV"], "TAG_SCHEMA": ["TAGS"], "TAG_NAME": ["PHI"],
        "TAG_VALUE": ["yes"], "OBJECT_DATABASE": ["CLINIC"], "OBJECT_SCHEMA": ["PUBLIC"],
        "OBJECT_NAME": ["PATIENTS"], "COLUMN_NAME": ["SSN"], "DOMAIN": ["COLUMN"],
        "OBJECT_DELETED": pa.array([None], pa.timestamp("us", tz="UTC")),
    })
    path = spool / "tag_references.parquet"
    pq.write_table(tags, path)
    key = "evidence/snowflake/A/policy_state/as_of=20261103T010000Z/tag_references.parquet"
    log.append(
        stream="snowflake/A/policy_state",
        files=[put(key, path, "application/vnd.apache.parquet", 1)],
        predicate={
            "collector": {"name": "t", "version": "0"},
            "window": {"start": "2026-11-03T01:00:00Z", "end": "2026-11-03T01:00:00Z"},
            "collected_at": "2026-11-03T01:00:00Z",
            "views": {"TAG_REFERENCES": {"status": "evidenced"}},
        },
        signer=signer,
        note_signer=signer,
    )
    path.unlink()

    # An ACCESS_HISTORY window whose bulk is a column no chart or check reads.
    rows_per_group, groups = 8192, 0
    phi = json.dumps([{"objectName": "CLINIC.PUBLIC.PATIENTS",
                       "columns": [{"columnName": "SSN"}]}])
    path = spool / "ah.parquet"
    schema = ACCESS_HISTORY.schema()
    with pq.ParquetWriter(path, schema, compression="none") as w:
        while path.stat().st_size < member:
            n = rows_per_group
            cols = {f.name: pa.nulls(n, f.type) for f in schema}
            cols["QUERY_ID"] = pa.array([f"q{groups}-{i}" for i in range(n)])
            cols["QUERY_START_TIME"] = pa.array(
                [datetime(2026, 11, 3, tzinfo=UTC)] * n, pa.timestamp("us", tz="UTC"))
            cols["BASE_OBJECTS_ACCESSED"] = pa.array([phi] + ["[]"] * (n - 1))
            cols["OBJECT_MODIFIED_BY_DDL"] = pa.array(
                [os.urandom(512).hex() for _ in range(n)])
            w.write_table(pa.table([cols[f.name] for f in schema], schema=schema))
            groups += 1
    rows = groups * rows_per_group
    key = "evidence/snowflake/A/access_history/date=2026-11-03/part-0.parquet"
    parquet = put(key, path, "application/vnd.apache.parquet", rows)
    append("snowflake/A/access_history", 3, [parquet])
    path.unlink()

    def build(start, end, out):
        build_pack(store, origin=origin, signer=signer, note_signer=signer,
                   start=datetime(2026, 11, start, tzinfo=UTC),
                   end=datetime(2026, 11, end, tzinfo=UTC), out=out,
                   extras=report_files(checks=ChecksConfig()), allow_gaps=True)

    # A first pack of the small window only, so that imports and caches are warm.
    build(3, 4, root / "warm.zip")
    pool = pa.default_memory_pool()
    arrow_before = pool.max_memory()
    tracemalloc.start()
    out = root / "pack.zip"
    build(1, 4, out)
    _, build_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    trust = Trust(keys=(PublicKey.from_pem(signer.public_key_pem()),), note_key=None,
                  origin=origin)
    contents = read_pack(out)
    _, verify_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    report = check_pack(contents, trust)
    with zipfile.ZipFile(out) as z:
        members = {i.filename: (i.file_size, i.compress_type) for i in z.infolist()}
    print(json.dumps({
        "build_peak": build_peak,
        "verify_peak": verify_peak,
        "arrow_peak": pool.max_memory(),
        "arrow_before": arrow_before,
        "findings": [str(f) for f in report.findings if "P3" not in str(f)],
        "phi_reads": json.loads(zipfile.ZipFile(out).read("charts.json"))
        if "charts.json" in zipfile.ZipFile(out).namelist() else None,
        "members": members,
    }))
    """
)


def test_a_pack_far_larger_than_the_memory_cap_is_built_and_verified_within_it(
    tmp_path: Path,
) -> None:
    src = Path(__file__).resolve().parents[3] / "src"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), str(MEMBER)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    got = json.loads(done.stdout.splitlines()[-1])
    members = got["members"]
    evidence = {n: v for n, v in members.items() if n.startswith("evidence/")}
    assert sum(size for size, _ in evidence.values()) >= 3 * MEMBER > 8 * CAP
    # Parquet and compressed evidence is stored as it is (0: ZIP_STORED).
    assert {kind for _, kind in evidence.values()} == {0}
    assert got["build_peak"] < CAP, got["build_peak"]
    # The verifier holds the last chunks of a Parquet member until its footer is known.
    assert got["verify_peak"] < CAP + MAX_FOOTER_BYTES, got["verify_peak"]
    # The report read the Parquet window's few columns batch by batch, not the file.
    assert got["arrow_peak"] < CAP, (got["arrow_peak"], got["arrow_before"])
    assert got["findings"] == [], got["findings"]
