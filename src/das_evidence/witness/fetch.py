"""Read the newest witnessed checkpoint back from a witness, and check it.

A store witness (a directory or ``s3://`` prefix) holds the log's checkpoints
under the archive's own key names (``log/checkpoints/<size>``, put once and
locked, and ``log/checkpoint``); the newest is the largest put-once size. An
``http(s)://`` witness answers ``GET <uri>/checkpoint/<percent-encoded origin>``
(what ``evidence witness serve`` does). :func:`open_witnessed` is pure.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from das_evidence.errors import ConfigError, EvidenceError, StoreError, VerificationError
from das_evidence.evidence_store import open_store
from das_evidence.evidence_store.interface import CHECKPOINTS_PREFIX, EvidenceStore
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint
from das_evidence.manifests.note import SignedNote, VerifierKey
from das_evidence.witness.cosignature import CosignerKey, verify_cosignature
from das_evidence.witness.server import CHECKPOINT_PATH

_SIZE_KEY = re.compile(r"^log/checkpoints/(0|[1-9]\d*)$")
MAX_NOTE_BYTES = 1 << 20


@dataclass(frozen=True)
class Witnessed:
    """A checkpoint a witness holds, after its signatures were checked."""

    uri: str
    checkpoint: Checkpoint
    note: bytes
    #: Unix seconds of the witness's cosignature, when one was required.
    cosigned_at: int | None = None


def is_http(uri: str) -> bool:
    return uri.startswith(("https://", "http://"))


def newest_in_store(store: EvidenceStore) -> bytes | None:
    """The largest put-once checkpoint a store witness holds (``log/checkpoint`` if none)."""
    sizes = [
        int(m.group(1)) for key in store.list(CHECKPOINTS_PREFIX) if (m := _SIZE_KEY.match(key))
    ]
    if sizes:
        return store.get(f"{CHECKPOINTS_PREFIX}{max(sizes)}")
    current = store.get_checkpoint()
    return current[0] if current else None


def http_get(url: str, timeout: float) -> bytes | None:
    """GET ``url``; None on 404. Other failures are :class:`StoreError` (exit 3)."""
    req = urllib.request.Request(url, headers={"User-Agent": "das-evidence"})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return bytes(resp.read(MAX_NOTE_BYTES + 1))
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 404:
            return None
        raise StoreError(f"witness {url} answered HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        raise StoreError(f"cannot reach witness {url}: {reason}") from None


def fetch_newest(
    uri: str,
    *,
    origin: str | None,
    endpoint_url: str | None = None,
    timeout: float = 30.0,
) -> bytes:
    """The bytes of the newest checkpoint witness ``uri`` holds for ``origin``."""
    if is_http(uri):
        if origin is None:
            raise ConfigError(
                f"--witness {uri}: an HTTP witness is asked for one log",
                fix="pass --origin (or --vkey, whose name is the origin)",
            )
        url = uri.rstrip("/") + CHECKPOINT_PATH + urllib.parse.quote(origin, safe="")
        data = http_get(url, timeout)
    else:
        data = newest_in_store(open_store(uri, endpoint_url=endpoint_url))
    if data is None:
        raise StoreError(
            f"witness {uri} holds no checkpoint" + (f" of {origin}" if origin else ""),
            fix="check the URI, and that `evidence run` publishes to it ([[witnesses]])",
        )
    return data


def origin_of(data: bytes) -> str:
    """The origin line of a checkpoint note, unverified (to pick the key to verify with)."""
    return Checkpoint.from_text(SignedNote.from_bytes(data).text).origin


def open_witnessed(
    uri: str,
    data: bytes,
    note_key: VerifierKey,
    origin: str,
    cosigner: CosignerKey | None = None,
) -> Witnessed:
    """Verify the log's signature on a witnessed checkpoint and, if given, the cosignature."""
    try:
        cp = open_checkpoint(data, note_key, origin)
        at = verify_cosignature(SignedNote.from_bytes(data), cosigner) if cosigner else None
    except VerificationError as e:
        raise VerificationError(f"witness {uri}: {e.message}") from e
    return Witnessed(uri, cp, data, at)


def load_witnessed(
    uris: Sequence[str],
    *,
    note_key: VerifierKey | None,
    ed25519_keys: Sequence[bytes],
    origin: str | None,
    cosigners: Sequence[CosignerKey] = (),
    endpoint_url: str | None = None,
) -> list[Witnessed]:
    """Fetch and check the newest checkpoint of each witness in ``uris``.

    The log's note key is ``note_key`` or, as the verifier derives it, an
    Ed25519 entry key under the origin's name. When ``cosigners`` are given,
    the checkpoint of every ``http(s)://`` witness must carry a valid
    cosignature by one of them; store witnesses keep the log's note as it is.
    """
    origin = origin or (note_key.name if note_key else None)
    out: list[Witnessed] = []
    for uri in uris:
        data = fetch_newest(uri, origin=origin, endpoint_url=endpoint_url)
        try:
            name = origin or origin_of(data)
        except EvidenceError as e:
            raise VerificationError(f"witness {uri}: {e.message}") from e
        keys = (
            [note_key] if note_key else [VerifierKey.from_public_key(name, k) for k in ed25519_keys]
        )
        if not keys:
            raise ConfigError(
                "no Ed25519 note key to check witnessed checkpoints with", fix="pass --vkey"
            )
        errors: list[str] = []
        found: Witnessed | None = None
        for key in keys:
            # Store witnesses keep the log's own note; cosigners answer over HTTP.
            choices: list[CosignerKey | None] = [*cosigners] if is_http(uri) else []
            choices = choices or [None]
            for cosigner in choices:
                try:
                    found = open_witnessed(uri, data, key, name, cosigner)
                    break
                except VerificationError as e:
                    errors.append(e.message)
            if found:
                break
        if found is None:
            raise VerificationError(errors[-1])
        out.append(found)
    return out
