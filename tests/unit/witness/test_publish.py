"""Publishing to store and cosigner witnesses, and reading the newest witnessed checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from das_evidence.config import WitnessConfig
from das_evidence.errors import VerificationError
from das_evidence.witness.cosignature import WitnessSigner
from das_evidence.witness.fetch import fetch_newest, load_witnessed
from das_evidence.witness.publish import publish_checkpoint
from tests.unit.witness.conftest import ORIGIN, Log, leaves


def _publish(w: WitnessConfig, log: Log, tree: list[bytes]) -> tuple[bool, int, str]:
    [p] = publish_checkpoint([w], log.checkpoint(tree), tree, log.vkey)
    return p.ok, p.exit_code, p.detail


def test_directory_witness_keeps_every_checkpoint_and_refuses_rollbacks(
    tmp_path: Path, log: Log
) -> None:
    w = WitnessConfig(uri=str(tmp_path / "copies"))
    assert _publish(w, log, leaves(2))[0]
    assert _publish(w, log, leaves(5))[0]
    assert sorted(p.name for p in (tmp_path / "copies" / "log" / "checkpoints").iterdir()) == [
        "2",
        "5",
    ]
    ok, code, detail = _publish(w, log, leaves(3))
    assert (ok, code) == (False, 1) and "rolled back" in detail
    ok, code, detail = _publish(w, log, leaves(4) + leaves(2, tag="forged"))
    assert (ok, code) == (False, 1) and "forked" in detail
    [got] = load_witnessed(
        [w.uri], note_key=None, ed25519_keys=[log.signer.public_key_raw()], origin=None
    )
    assert got.checkpoint.size == 5


def test_cosigner_witness_cosigns_and_refuses_a_rollback(
    witness_url: str, log: Log, witness_signer: WitnessSigner
) -> None:
    w = WitnessConfig(uri=witness_url, kind="cosigner", vkey=witness_signer.verifier.to_string())
    ok, _, detail = _publish(w, log, leaves(3))
    assert ok, detail
    # The second publish learns the witness's size from a 409 and sends a proof from it.
    ok, _, detail = _publish(w, log, leaves(8))
    assert ok and "cosigned size 8" in detail, detail
    ok, code, detail = _publish(w, log, leaves(6))
    assert (ok, code) == (False, 1) and "rolled back" in detail
    ok, code, detail = _publish(w, log, leaves(8, tag="forged") + leaves(1))
    assert (ok, code) == (False, 1) and "forked" in detail
    [got] = load_witnessed(
        [witness_url],
        note_key=log.vkey,
        ed25519_keys=[],
        origin=None,
        cosigners=[witness_signer.verifier],
    )
    assert got.checkpoint.size == 8 and got.cosigned_at is not None
    # Another witness key: the cosignature is missing, which is a failed check.
    with pytest.raises(VerificationError, match="no cosignature"):
        load_witnessed(
            [witness_url],
            note_key=log.vkey,
            ed25519_keys=[],
            origin=ORIGIN,
            cosigners=[WitnessSigner.generate("w.example/other").verifier],
        )


def test_a_cosigner_with_the_wrong_vkey_is_a_failed_publish(witness_url: str, log: Log) -> None:
    other = WitnessSigner.generate("witness.example.net/w1").verifier.to_string()
    ok, code, detail = _publish(
        WitnessConfig(uri=witness_url, kind="cosigner", vkey=other), log, leaves(2)
    )
    assert (ok, code) == (False, 1) and "bad cosignature" in detail


def test_an_unreachable_witness_is_exit_3(log: Log) -> None:
    ok, code, _ = _publish(WitnessConfig(uri="http://127.0.0.1:9/x"), log, leaves(1))
    assert (ok, code) == (False, 3)


def test_a_witnessed_checkpoint_signed_by_another_key_is_refused(tmp_path: Path, log: Log) -> None:
    w = WitnessConfig(uri=str(tmp_path / "copies"))
    assert _publish(w, log, leaves(2))[0]
    other = WitnessSigner.generate(ORIGIN)  # any other Ed25519 key
    with pytest.raises(VerificationError, match="not signed by the trusted key"):
        load_witnessed(
            [w.uri],
            note_key=None,
            ed25519_keys=[other.verifier.public_key],
            origin=None,
        )
    assert fetch_newest(w.uri, origin=None).startswith(ORIGIN.encode())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"uri": "relative/dir"}, "absolute path"),
        ({"uri": "ftp://x/y"}, "unknown scheme"),
        ({"uri": "/abs", "kind": "cosigner", "vkey": "x"}, "https://"),
        ({"uri": "https://w.example", "kind": "cosigner"}, "needs vkey"),
        ({"uri": "http://w.example/x"}, "plain http"),
        ({"uri": "https://w.example", "vkey": "a+12345678+AQID"}, "cosignature/v1"),
        ({"uri": "/abs", "required": "yes"}, "true or false"),
    ],
)
def test_witness_config_is_strict(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WitnessConfig.model_validate(fields)
