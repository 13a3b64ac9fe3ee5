"""Publish a new checkpoint to the configured ``[[witnesses]]``.

Every target gets the log's signed checkpoint bytes exactly as sealed:

- a store witness (a directory, ``file:///path``, ``s3://bucket/prefix``) keeps them
  under the archive's key names: ``log/checkpoints/<size>`` put once (locked on S3
  like the archive's own) and ``log/checkpoint`` replaced by the newest. Before
  writing, the newest copy it holds must be a prefix of the log: a smaller log
  (rolled back) or another tree at that size (forked) is refused;
- an ``https://`` store witness receives a ``POST`` of the note bytes;
- a cosigner (C2SP tlog-witness) receives ``add-checkpoint`` with a consistency
  proof from the size it last cosigned, and answers with its cosignature line,
  which is checked with the configured ``vkey``.

A failure is a value (:class:`Published` with ``ok`` false): the caller decides
whether it fails the run (``required``).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from das_evidence.config import WitnessConfig
from das_evidence.errors import (
    EvidenceError,
    PutOnceError,
    StoreError,
    VerificationError,
    WitnessRefusedError,
)
from das_evidence.evidence_store import open_store
from das_evidence.evidence_store.interface import checkpoint_key
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint
from das_evidence.manifests.merkle import MerkleTree
from das_evidence.manifests.note import NoteSignature, SignedNote, VerifierKey
from das_evidence.services import Services
from das_evidence.witness.cosignature import CosignerKey, add_cosignature, verify_cosignature
from das_evidence.witness.fetch import is_http, newest_in_store
from das_evidence.witness.protocol import ADD_CHECKPOINT_PATH, AddCheckpoint, parse_size

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Published:
    """What one witness did with a checkpoint. ``exit_code``: 1 refused, 3 unreachable."""

    uri: str
    kind: str
    required: bool
    ok: bool
    detail: str
    exit_code: int = 0
    cosignature: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uri": self.uri,
            "kind": self.kind,
            "required": self.required,
            "ok": self.ok,
            "detail": self.detail,
        }
        if self.cosignature is not None:
            out["cosignature"] = self.cosignature
        return out


def publish_checkpoint(
    witnesses: Sequence[WitnessConfig],
    note: bytes,
    leaves: Sequence[bytes],
    note_key: VerifierKey,
    *,
    retain_until: datetime | None = None,
) -> list[Published]:
    """Publish the signed checkpoint ``note`` of the log with ``leaves`` to each witness."""
    cp = open_checkpoint(note, note_key)
    tree = MerkleTree(leaves)
    if tree.size < cp.size or tree.prefix_root(cp.size) != cp.root_hash:
        raise VerificationError(
            f"checkpoint of size {cp.size} is not the tree of the log's first entries"
        )
    results = []
    for w in witnesses:
        try:
            if w.kind == "cosigner":
                detail, line = _cosign(w, note, cp, tree, note_key)
            elif is_http(w.uri):
                detail, line = _post_copy(w, note, cp), None
            else:
                detail, line = _store_copy(w, note, cp, tree, note_key, retain_until), None
            results.append(Published(w.uri, w.kind, w.required, True, detail, 0, line))
        except EvidenceError as e:
            code = e.exit_code if e.exit_code in (1, 3) else 3
            results.append(Published(w.uri, w.kind, w.required, False, e.message, code))
    for r in results:
        (log.info if r.ok else log.warning)("witness %s: %s", r.uri, r.detail)
    return results


def _check_prefix(held: Checkpoint, tree: MerkleTree, where: str) -> None:
    if held.size > tree.size:
        raise WitnessRefusedError(
            f"{where} holds a checkpoint of size {held.size}, but the log has {tree.size} "
            "entries: the archive was rolled back"
        )
    if tree.prefix_root(held.size) != held.root_hash:
        raise WitnessRefusedError(
            f"{where} holds a checkpoint of size {held.size} whose root is not the tree of "
            "the log's first entries: the log forked"
        )


def _store_copy(
    w: WitnessConfig,
    note: bytes,
    cp: Checkpoint,
    tree: MerkleTree,
    note_key: VerifierKey,
    retain_until: datetime | None,
) -> str:
    store = open_store(
        w.uri, create=True, endpoint_url=w.endpoint_url, region=w.region, lock_mode=w.lock_mode
    )
    held = newest_in_store(store)
    if held is not None:
        try:
            _check_prefix(open_checkpoint(held, note_key, cp.origin), tree, f"witness {w.uri}")
        except WitnessRefusedError:
            raise
        except VerificationError as e:
            raise WitnessRefusedError(f"witness {w.uri} holds a bad checkpoint: {e.message}") from e
    key = checkpoint_key(cp.size)
    try:
        store.put_once(key, note, retain_until=retain_until)
    except PutOnceError:
        other = open_checkpoint(store.get(key), note_key, cp.origin)
        if other.root_hash != cp.root_hash:
            raise WitnessRefusedError(
                f"witness {w.uri} holds another tree of size {cp.size}: the log forked"
            ) from None
    store.replace_checkpoint(note)
    return f"kept {key}"


def _request(url: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    req = urllib.request.Request(  # noqa: S310 (the scheme was checked by the config)
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8", "User-Agent": "das-evidence"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status), bytes(resp.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as e:
        try:
            return e.code, bytes(e.read(MAX_ANSWER_BYTES))
        finally:
            e.close()
    except (urllib.error.URLError, OSError) as e:
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        raise StoreError(f"cannot reach witness {url}: {reason}") from None


def _post_copy(w: WitnessConfig, note: bytes, cp: Checkpoint) -> str:
    status, body = _request(w.uri, note, w.timeout_seconds)
    if not 200 <= status < 300:
        raise StoreError(f"witness {w.uri} answered HTTP {status}: {_show(body)}")
    return f"posted checkpoint of size {cp.size} (HTTP {status})"


def _cosign(
    w: WitnessConfig,
    note: bytes,
    cp: Checkpoint,
    tree: MerkleTree,
    note_key: VerifierKey,
) -> tuple[str, str]:
    assert w.vkey is not None  # the config requires it for a cosigner
    cosigner = CosignerKey.from_string(w.vkey)
    url = w.uri.rstrip("/") + ADD_CHECKPOINT_PATH
    old = 0
    # At most two rounds: the first may learn the witness's size from a 409.
    for _ in range(2):
        proof = tree.consistency_proof(old) if 0 < old < cp.size else []
        status, body = _request(
            url, AddCheckpoint(old, tuple(proof), note).to_bytes(), w.timeout_seconds
        )
        if status == 409:
            held = parse_size(body)
            if held > cp.size:
                raise WitnessRefusedError(
                    f"witness {w.uri} cosigned size {held}, but the log has {cp.size} entries: "
                    "the archive was rolled back"
                )
            if held == old:
                break
            old = held
            continue
        if status == 422:
            raise WitnessRefusedError(
                f"witness {w.uri} refused the consistency proof from size {old}: "
                f"the log forked ({_show(body)})"
            )
        if status != 200:
            raise StoreError(f"witness {w.uri} answered HTTP {status}: {_show(body)}")
        try:
            text = body.decode("utf-8")
            lines = [ln for ln in text.split("\n") if ln]
            signed = SignedNote.from_bytes(note)
            for ln in lines:
                sig = SignedNote.from_bytes(b"x\n\n" + (ln + "\n").encode("utf-8")).signatures[0]
                signed = SignedNote.from_bytes(add_cosignature(signed.to_bytes(), sig))
            at = verify_cosignature(signed, cosigner)
        except (UnicodeDecodeError, EvidenceError) as e:
            detail = e.message if isinstance(e, EvidenceError) else "not UTF-8"
            raise WitnessRefusedError(
                f"witness {w.uri} answered a bad cosignature: {detail}"
            ) from None
        line = next(ln for ln in lines if _signer(ln) == cosigner.name)
        return f"cosigned size {cp.size} by {cosigner.name} at {at}", line
    raise StoreError(f"witness {w.uri} kept answering 409 (its size changed while publishing)")


def _signer(line: str) -> str:
    sig: NoteSignature = SignedNote.from_bytes(b"x\n\n" + (line + "\n").encode()).signatures[0]
    return sig.name


def _show(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:200] or "(no body)"


def publish_for_run(services: Services, size: int) -> list[Published]:
    """Publish the checkpoint of ``size`` that a run just sealed and verified.

    Reads the put-once ``log/checkpoints/<size>`` (the bytes every witness keeps)
    and the log's leaves from the run's store; S3 witnesses lock their copy as
    long as the archive's default retention.
    """
    settings = services.settings
    if not settings.witnesses:
        return []
    trust = services.trust()
    assert trust.note_key is not None
    note = services.store().get(checkpoint_key(size))
    leaves = [e.leaf for e in services.archive().entries]
    retain_until = services.clock() + timedelta(days=settings.store.retention_days)
    return publish_checkpoint(
        settings.witnesses, note, leaves, trust.note_key, retain_until=retain_until
    )
