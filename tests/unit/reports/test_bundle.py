"""A pack records the ``[checks]`` settings its checks ran with, and they re-run the same."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from das_evidence.config import ChecksConfig
from das_evidence.errors import EvidenceError
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.log import ArchiveLog, EvidenceFile
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.reports.bundle import check_settings_of, report_files, run_checks_for
from das_evidence.reports.evidence import from_archive
from das_evidence.reports.pack import build_pack

ORIGIN = "evidence.example.com/bundle-test"
START = datetime(2026, 11, 2, tzinfo=UTC)
END = datetime(2026, 11, 4, tzinfo=UTC)
# Not the defaults, and one of them changes a verdict on this archive (evidence-gaps).
SETTINGS = ChecksConfig(
    required_streams=("access_history", "login_history"),
    phi_reader_roles=("PHI_READER", "TRANSFORMER"),
    failed_login_window=timedelta(minutes=15),
)


@pytest.fixture
def archive(tmp_path: Path) -> tuple[LocalStore, Ed25519Signer]:
    signer = Ed25519Signer(Ed25519PrivateKey.generate(), ORIGIN)
    store = LocalStore(tmp_path / "archive", create=True)
    log = ArchiveLog(store, ORIGIN)
    for day in (1, 2, 3, 4):
        for stream in ("snowflake/A/access_history", "snowflake/A/login_history"):
            body = f"{stream},{day}\n".encode()
            key = f"evidence/{stream}/2026110{day}.csv"
            store.put_once(key, body)
            window = {"start": f"2026-11-0{day}T00:00:00Z", "end": f"2026-11-0{day + 1}T00:00:00Z"}
            log.append(
                stream=stream,
                files=[
                    EvidenceFile(key, hashlib.sha256(body).hexdigest(), len(body), "text/csv", 1)
                ],
                predicate={
                    "collector": {"name": "t", "version": "0"},
                    "window": window,
                    "collected_at": window["end"],
                },
                signer=signer,
                note_signer=signer,
            )
    return store, signer


def _pack(store: LocalStore, signer: Ed25519Signer, out: Path, checks: ChecksConfig) -> Path:
    build_pack(
        store,
        origin=ORIGIN,
        signer=signer,
        note_signer=signer,
        start=START,
        end=END,
        out=out,
        extras=report_files(checks=checks),
    )
    return out


def test_a_pack_records_its_check_settings_and_rerunning_with_them_gives_its_results(
    archive: tuple[LocalStore, Ed25519Signer], tmp_path: Path
) -> None:
    store, signer = archive
    with zipfile.ZipFile(_pack(store, signer, tmp_path / "pack.zip", SETTINGS)) as z:
        report = z.read("report.json")
        checks = json.loads(z.read("checks.json"))
        html = z.read("report.html").decode()
    recorded = check_settings_of(report)
    assert recorded == SETTINGS
    assert "TRANSFORMER" in html and "access_history, login_history" in html

    generated_at = datetime.fromisoformat(json.loads(report)["generated_at"])
    evidence = from_archive(store, ORIGIN, START, END)
    again = [r.to_json() for r in run_checks_for(evidence, generated_at, recorded)]
    assert again == checks
    # ...and the settings matter: the defaults would not have given this pack's results.
    default = [r.to_json() for r in run_checks_for(evidence, generated_at, ChecksConfig())]
    assert default != checks


def test_a_pack_made_with_the_defaults_records_the_defaults(
    archive: tuple[LocalStore, Ed25519Signer], tmp_path: Path
) -> None:
    store, signer = archive
    with zipfile.ZipFile(_pack(store, signer, tmp_path / "pack.zip", ChecksConfig())) as z:
        assert check_settings_of(z.read("report.json")) == ChecksConfig()


def test_a_report_without_settings_is_an_error_not_the_defaults() -> None:
    with pytest.raises(EvidenceError, match="check settings"):
        check_settings_of(b'{"scope": {}}')
    with pytest.raises(EvidenceError, match="check settings"):
        check_settings_of(b'{"scope": {"check_settings": {"failed_login_threshold": 1}}}')
