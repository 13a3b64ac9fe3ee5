"""The parsers a hostile archive or pack reaches, each as ``bytes -> None``.

A target may return or raise a product error (FormatError, VerificationError,
StoreError); anything else is a failure of the fuzz run. Seeds are valid
inputs, so mutations start from the shape the parser expects.
"""

from __future__ import annotations

import base64
import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from das_evidence.errors import EvidenceError
from das_evidence.manifests.checkpoint import Checkpoint
from das_evidence.manifests.dsse import Envelope
from das_evidence.manifests.note import SignedNote
from das_evidence.manifests.statement import Statement
from das_evidence.manifests.tlog_proof import TlogProof
from das_evidence.verify.archive import Trust
from das_evidence.verify.at_rest import (
    REPORT_FORMAT,
    ReportManifest,
    ResultFile,
    SignedObject,
    check_checksum_report,
    parse_manifest,
)
from das_evidence.verify.findings import Report
from das_evidence.verify.pack import check_pack, read_pack

ALLOWED: tuple[type[BaseException], ...] = (EvidenceError,)

_STATEMENT = json.dumps(
    {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "evidence/a.parquet", "digest": {"sha256": "0" * 64}}],
        "predicateType": "https://example.com/p",
        "predicate": {"log": {"index": 0}, "files": [{"path": "evidence/a.parquet"}]},
    }
).encode()
_NOTE = (
    b"example.com/log\n3\n"
    + base64.b64encode(b"\1" * 32)
    + b"\n\n\xe2\x80\x94 example.com/log "
    + base64.b64encode(b"\0" * 68)
    + b"\n"
)


def envelope(data: bytes) -> None:
    env = Envelope.from_bytes(data)
    Statement.from_bytes(env.payload)


def statement(data: bytes) -> None:
    Statement.from_bytes(data)


def checkpoint_note(data: bytes) -> None:
    Checkpoint.from_text(SignedNote.from_bytes(data).text)


def tlog_proof(data: bytes) -> None:
    TlogProof.from_bytes(data)


def pack_zip(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.zip"
        path.write_bytes(data)
        check_pack(read_pack(path), Trust(keys=()))


_SIGNED = SignedObject("evidence/a.bin", "p/evidence/a.bin", "v1", "ab" * 32, "e")
_RESULT = ResultFile("r", "p/job-1/results/a.csv", None, "succeeded")


def checksum_report_manifest(data: bytes) -> None:
    """An S3 Batch Operations completion report's manifest.json."""
    parse_manifest(data)


def checksum_report_csv(data: bytes) -> None:
    """One CSV result file of a Compute checksum job, checked against a signed object."""
    report = Report("t")
    manifest = ReportManifest((_RESULT,))
    check_checksum_report(report, "b", [_SIGNED], manifest, {_RESULT.key: data}, source="r")


def _seed_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("checkpoint", _NOTE)
        z.writestr("entries/000000000000.dsse.json", SEEDS["envelope"])
        z.writestr("proofs/000000000000.tlog-proof", SEEDS["tlog_proof"])
        z.writestr("pack.json", b'{"streams": {}}')
        z.writestr("SHA256SUMS", b"0" * 64 + b"  checkpoint\n")
    return buf.getvalue()


SEEDS: dict[str, bytes] = {
    "statement": _STATEMENT,
    "envelope": json.dumps(
        {
            "payload": base64.b64encode(_STATEMENT).decode(),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"keyid": "00", "sig": "AAAA"}],
        }
    ).encode(),
    "checkpoint_note": _NOTE,
    "tlog_proof": b"c2sp.org/tlog-proof@v1\nindex 1\n"
    + base64.b64encode(b"\2" * 32)
    + b"\n\n"
    + _NOTE,
}
SEEDS["pack_zip"] = _seed_zip()
SEEDS["checksum_report_manifest"] = json.dumps(
    {
        "Format": REPORT_FORMAT,
        "ReportCreationDate": "2026-12-01T00:00:00.000Z",
        "Results": [
            {
                "TaskExecutionStatus": "succeeded",
                "Bucket": "r",
                "MD5Checksum": "0" * 32,
                "Key": "p/job-1/results/a.csv",
            }
        ],
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, "
        "ResultMessage",
    }
).encode()
SEEDS["checksum_report_csv"] = (
    b'b,p/evidence/a.bin,v1,succeeded,200,,"{""checksum_base64"":""'
    + base64.b64encode(b"\xab" * 32)
    + b'"",""checksumAlgorithm"":""SHA256"",""checksumType"":""FULL_OBJECT""}"\n'
)

TARGETS: dict[str, Callable[[bytes], None]] = {
    "envelope": envelope,
    "statement": statement,
    "checkpoint_note": checkpoint_note,
    "tlog_proof": tlog_proof,
    "pack_zip": pack_zip,
    "checksum_report_manifest": checksum_report_manifest,
    "checksum_report_csv": checksum_report_csv,
}


def mutate(seed: bytes, rnd: object) -> bytes:
    """A random mutation of ``seed``: flips, inserts, deletes, splices of brackets."""
    import random

    r = rnd if isinstance(rnd, random.Random) else random.Random()
    data = bytearray(seed)
    for _ in range(r.randint(1, 8)):
        op = r.randrange(5)
        pos = r.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = r.randrange(256)
        elif op == 1:
            data[pos:pos] = bytes(r.randrange(256) for _ in range(r.randint(1, 16)))
        elif op == 2 and data:
            del data[pos : pos + r.randint(1, 16)]
        elif op == 3:
            data[pos:pos] = r.choice(
                [b"[", b"{", b'"', b"\\", b"\n", b"\xe2\x80\x94 "]
            ) * r.randint(1, 2000)
        else:
            data[pos:pos] = r.choice([b"0", b"1e9", b"-1", b"null", b"[]", b"{}", b"AAAA=="])
    return bytes(data)
