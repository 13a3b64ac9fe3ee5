"""Freshness from tallies kept as entries are added, not from a parse of every entry.

With a webhook configured (how a production run is set up), every ``evidence run``
computed the stale-stream alert from every entry of the log: 0.36 s of a 0.85 s nothing-due
run after a simulated year, growing with the archive. ``evidence status`` read the whole
log from the store (a GET per entry on S3). The log now keeps each stream's status tally
(:mod:`das_evidence.manifests.tally`) and the verified log keeps it signed, so both read
only what is new.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from das_evidence.cli.main import app
from das_evidence.config import load_settings
from das_evidence.evidence_store.local import LocalStore
from das_evidence.manifests.dsse import sign_envelope
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.manifests.log import ArchiveLog, EvidenceFile, KnownLog
from das_evidence.manifests.signers import Ed25519Signer
from das_evidence.manifests.statement import Statement
from das_evidence.manifests.tally import tally
from das_evidence.schedules.runner import run
from das_evidence.schedules.state import STATE_TYPE, load_verified, log_path
from das_evidence.schedules.status import status_of, stream_status
from das_evidence.services import Services
from das_evidence.streams import ACCOUNTS_FOR
from tests.unit.verify.test_rollback import ACCESS, LOG, NOW, ORIGIN, POLICY, _append, _config
from tests.webhook_receiver import Receiver, receiving

DBT = "dbt/jaffle/00000000-0000-0000-0000-00000000000{}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


class Archive:
    def __init__(self, tmp_path: Path, receiver: Receiver) -> None:
        keys = write_key_pair(tmp_path / "keys", ORIGIN)
        self.signer = Ed25519Signer.from_file(keys["key"], ORIGIN)
        self.log = ArchiveLog(LocalStore(tmp_path / "archive", create=True), ORIGIN)
        for stream, day in LOG:
            _append(self.log, self.signer, stream, day)
        self.config = _config(tmp_path, self.log.store.root, receiver)  # type: ignore[attr-defined]
        self.last_run = tmp_path / "last-run.json"
        first = run(load_settings(self.config), clock=lambda: NOW)
        assert first.exit_code == 0 and first.verified is None, first.to_json()

    def grow(self) -> None:
        """Entries of every kind after the verified log: a window, an amendment, an
        accounting entry, two dbt invocations (one family)."""
        log = self.log
        log.reload()
        _append(log, self.signer, ACCESS, 4)
        self.entry(ACCESS, "amend", {"amends": log.size - 1})
        self.entry(POLICY, "orphan", {ACCOUNTS_FOR: "orphans"})
        _append(log, self.signer, DBT.format(1), 4)
        _append(log, self.signer, DBT.format(2), 5)

    def entry(self, stream: str, name: str, extra: dict[str, object]) -> None:
        body = f"{stream},{name}\n".encode()
        key = f"evidence/{stream}/{name}.csv"
        self.log.store.put_once(key, body)
        self.log.append(
            stream=stream,
            files=[EvidenceFile(key, hashlib.sha256(body).hexdigest(), len(body), "text/csv", 1)],
            predicate={
                "collector": {"name": "test", "version": "0"},
                "window": {"start": "2026-11-04T00:00:00Z", "end": "2026-11-05T00:00:00Z"},
                "collected_at": "2026-11-06T06:00:00Z",
                **extra,
            },
            signer=self.signer,
            note_signer=self.signer,
        )


@pytest.fixture
def archive(tmp_path: Path, receiver: Receiver) -> Archive:
    return Archive(tmp_path, receiver)


def _parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The window start of every statement parsed (from the verified log or the store)."""
    seen: list[int] = []
    real = Statement.from_verified_bytes.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Statement], data: bytes) -> Statement:
        seen.append(1)
        st: Statement = real(cls, data)
        return st

    monkeypatch.setattr(Statement, "from_verified_bytes", classmethod(spy))
    return seen


def test_the_kept_tallies_are_those_of_every_entry(archive: Archive) -> None:
    archive.grow()
    second = run(load_settings(archive.config), clock=lambda: NOW)
    assert second.verified is not None, second.to_json()
    log = ArchiveLog(archive.log.store, ORIGIN)  # the whole log, parsed afresh
    every = tally(log.entries)
    assert set(every) == {ACCESS, POLICY, "dbt/jaffle"}
    assert every[ACCESS].entries == 5 and every[ACCESS].end is not None
    assert every["dbt/jaffle"].entries == 2
    assert every[POLICY].entries == 4
    services = Services(load_settings(archive.config), clock=lambda: NOW)
    kept, why = load_verified(
        archive.last_run, services.trust().note_key, ORIGIN, [services.own_key()]
    )
    assert kept is not None, why
    assert kept.known.tallies == every
    assert ArchiveLog(archive.log.store, ORIGIN, kept.known).tallies() == every
    assert KnownLog.from_statements(kept.statements).tallies == every
    # The report made of them is the one made of the entries.
    report = stream_status(log.entries, now=NOW)
    assert status_of(every, now=NOW) == report


def test_a_run_with_a_webhook_parses_only_what_is_new(
    archive: Archive, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    """Before the tallies, the stale alert parsed all of the log's entries on every run."""
    archive.grow()
    parsed = _parsed(monkeypatch)
    second = run(load_settings(archive.config), clock=lambda: NOW)
    assert second.to_json()["verification"]["mode"] == "incremental"
    appended = len(parsed)
    parsed.clear()
    third = run(load_settings(archive.config), clock=lambda: NOW)
    assert third.to_json()["verification"]["mode"] == "incremental"
    assert parsed == [], f"a nothing-due run parsed {len(parsed)} statements"
    assert appended < archive.log.size, appended
    stale = [json.loads(b) for b in receiver.bodies]
    assert any("stale" in json.dumps(a) for a in stale), stale  # the alert still goes out


def test_evidence_status_starts_from_the_verified_log(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive.grow()
    run(load_settings(archive.config), clock=lambda: NOW)
    gets: list[str] = []
    real_get = LocalStore.get

    def counting(self: LocalStore, key: str) -> bytes:
        gets.append(key)
        return real_get(self, key)

    monkeypatch.setattr(LocalStore, "get", counting)
    monkeypatch.setenv("EVIDENCE_NOW", "2026-11-10T00:00:00Z")
    out = CliRunner().invoke(app, ["status", "--config", str(archive.config), "--json"])
    report = json.loads(out.stdout)
    assert {s["stream"]: s["entries"] for s in report["streams"]} == {
        ACCESS: 5,
        POLICY: 4,
        "dbt/jaffle": 2,
    }
    assert not [k for k in gets if k.startswith("log/entries/")], gets


def test_a_summary_without_tallies_is_read_whole_once(archive: Archive) -> None:
    """A verified log an earlier version wrote (no tallies): the next run reads the whole
    log, says why, and keeps a summary with them."""
    path = log_path(archive.last_run)
    lines = path.read_bytes().split(b"\n")
    envelope = json.loads(base64.b64decode(lines[-2]))
    fields = json.loads(base64.b64decode(envelope["payload"]))
    del fields["tallies"]
    signer = archive.signer
    forged = sign_envelope(json.dumps(fields).encode(), signer, STATE_TYPE)
    lines[-2] = base64.b64encode(forged.to_bytes())
    path.write_bytes(b"\n".join(lines))
    again = run(load_settings(archive.config), clock=lambda: NOW).to_json()
    assert again["verification"]["mode"] == "full", again
    assert "earlier version" in again["verification"]["full_because"]
    after = run(load_settings(archive.config), clock=lambda: NOW).to_json()
    assert after["verification"]["mode"] == "incremental", after


def test_evidence_status_without_the_run_keys_reads_the_whole_log(
    archive: Archive, tmp_path: Path
) -> None:
    """A monitoring probe that cannot read the signing key still reports (the start from
    the verified log is an optimization), as it did before it started from it."""
    archive.grow()
    run(load_settings(archive.config), clock=lambda: NOW)
    (tmp_path / "keys" / "signing.key").unlink()
    out = CliRunner().invoke(
        app,
        ["status", "--config", str(archive.config), "--json"],
        env={"EVIDENCE_NOW": "2026-11-10T00:00:00Z"},
    )
    assert "Traceback" not in out.output
    report = json.loads(out.stdout)
    assert {s["stream"]: s["entries"] for s in report["streams"]}[ACCESS] == 5
