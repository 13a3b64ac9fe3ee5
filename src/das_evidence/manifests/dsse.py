"""DSSE envelopes (secure-systems-lab/dsse ``protocol.md``) around in-toto statements.

A signature covers the pre-authentication encoding (PAE) of the payload type
and the raw payload bytes, never the JSON around them. Envelopes are written
as compact JSON with sorted keys and a trailing newline; any envelope JSON is
accepted on reading, since only the decoded payload is hashed and signed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from das_evidence.errors import FormatError, SignatureError
from das_evidence.manifests._encoding import b64decode_any_alphabet, b64decode_strict, b64encode
from das_evidence.manifests.signers import PublicKey, Signer
from das_evidence.manifests.statement import parse_json_strict

PAYLOAD_TYPE = "application/vnd.in-toto+json"

# Large enough for a statement naming thousands of files.
MAX_ENVELOPE_BYTES = 64 << 20
MAX_SIGNATURES = 16


def pae(payload_type: str, payload: bytes) -> bytes:
    """``"DSSEv1" SP len(type) SP type SP len(payload) SP payload``; lengths in bytes."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


@dataclass(frozen=True)
class DsseSignature:
    """One envelope signature; ``keyid`` is an unauthenticated hint."""

    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope: raw payload bytes, payload type and signatures."""

    payload: bytes
    payload_type: str
    signatures: tuple[DsseSignature, ...]

    def to_bytes(self) -> bytes:
        """Compact JSON, sorted keys, standard padded base64, trailing newline."""
        obj = {
            "payload": b64encode(self.payload),
            "payloadType": self.payload_type,
            "signatures": [{"keyid": s.keyid, "sig": b64encode(s.sig)} for s in self.signatures],
        }
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8") + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Parse an envelope strictly: exactly the DSSE fields, the right types.

        ``payload`` must be standard base64 with padding (ARCHIVE-FORMAT section 2);
        ``sig`` may use either base64 alphabet, with or without padding.
        """
        if len(data) > MAX_ENVELOPE_BYTES:
            raise FormatError(f"DSSE envelope is larger than {MAX_ENVELOPE_BYTES} bytes")
        obj = parse_json_strict(data)
        _require_object(obj, "DSSE envelope", {"payload", "payloadType", "signatures"})
        payload_type = obj["payloadType"]
        if not isinstance(payload_type, str):
            raise FormatError("DSSE envelope payloadType is not a string")
        payload_b64 = obj["payload"]
        if not isinstance(payload_b64, str):
            raise FormatError("DSSE envelope payload is not a string")
        payload = b64decode_strict(payload_b64, "DSSE envelope payload")
        raw_sigs = obj["signatures"]
        if not isinstance(raw_sigs, list) or not raw_sigs:
            raise FormatError("DSSE envelope signatures must be a non-empty list")
        if len(raw_sigs) > MAX_SIGNATURES:
            raise FormatError(f"DSSE envelope has more than {MAX_SIGNATURES} signatures")
        sigs = []
        for i, raw in enumerate(raw_sigs):
            _require_object(raw, f"DSSE envelope signature {i}", {"keyid", "sig"})
            keyid, sig_b64 = raw["keyid"], raw["sig"]
            if not isinstance(keyid, str) or not isinstance(sig_b64, str):
                raise FormatError(f"DSSE envelope signature {i}: keyid and sig must be strings")
            sig = b64decode_any_alphabet(sig_b64, f"DSSE envelope signature {i}")
            if not sig:
                raise FormatError(f"DSSE envelope signature {i} is empty")
            sigs.append(DsseSignature(keyid, sig))
        return cls(payload, payload_type, tuple(sigs))


def _require_object(obj: Any, what: str, fields: set[str]) -> None:
    if not isinstance(obj, dict):
        raise FormatError(f"{what} is not a JSON object")
    if set(obj) != fields:
        missing = sorted(fields - set(obj))
        extra = sorted(set(obj) - fields)
        raise FormatError(f"{what}: missing fields {missing}, unexpected fields {extra}")


def sign_envelope(payload: bytes, signer: Signer, payload_type: str = PAYLOAD_TYPE) -> Envelope:
    """Sign ``payload`` (the exact statement bytes) into a one-signature envelope."""
    sig = signer.sign(pae(payload_type, payload))
    return Envelope(payload, payload_type, (DsseSignature(signer.key_id, sig),))


def verify_envelope(env: Envelope, keys: Sequence[PublicKey]) -> PublicKey:
    """Return the trusted key whose signature verifies; raise ``SignatureError`` if none.

    A signature counts only if its ``keyid`` names one of ``keys`` and it
    verifies with that key; signatures by unknown keys are ignored.
    """
    message = pae(env.payload_type, env.payload)
    by_id = {k.key_id: k for k in keys}
    for s in env.signatures:
        key = by_id.get(s.keyid)
        if key is not None and key.verify(s.sig, message):
            return key
    known = [s.keyid for s in env.signatures if s.keyid in by_id]
    if known:
        raise SignatureError(
            f"DSSE signature by trusted key {known[0][:16]}... does not verify: "
            "the payload, its type or the signature was changed"
        )
    raise SignatureError(
        "DSSE envelope is not signed by a trusted key; it names key ids "
        + ", ".join(repr(s.keyid[:16]) for s in env.signatures),
        fix="pass the public key that signed the archive (e.g. --key signing.pub)",
    )
