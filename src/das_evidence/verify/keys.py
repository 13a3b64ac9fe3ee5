"""Which key covers which part of the log: key rotation and revocation (keys file).

A keys file (TOML) lists every key that has signed a log, each with the range
of log indexes it may sign::

    [[key]]
    pub = "2025/signing.pub"     # entry key (SPKI PEM), relative to this file
    vkey = "2025/signing.vkey"   # note key; for an Ed25519 pub, derived when absent
    from = 0                     # first log index it signs (default 0)
    until = 1200                 # first index it no longer signs (default: none)

    [[key]]
    pub = "2026/signing.pub"
    from = 1200
    revoked_at = 1900            # compromised: nothing it signed at or after 1900 counts

An entry with index ``i`` counts only with a signature by a key whose
``from <= i < until`` and (when revoked) ``i < revoked_at``. A checkpoint of
size ``n`` is judged by the last entry it seals, index ``n - 1`` (size 0 as
index 0): the key that signed an entry also signs the checkpoint that seals it.
A signature by a listed key outside its range, or by a revoked key from its
revocation on, is a finding; a key that is not listed is not trusted at all.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from das_evidence.errors import ConfigError, EvidenceError, SignatureError
from das_evidence.manifests.checkpoint import Checkpoint, open_checkpoint
from das_evidence.manifests.note import SignedNote, VerifierKey
from das_evidence.manifests.signers import PublicKey

_FIX = (
    "list each key as [[key]] with pub (and vkey for a separate note key), from, until "
    "and revoked_at as log indexes: see docs/SECURITY.md, key rotation"
)


@dataclass(frozen=True)
class KeyRange:
    """One key and the log indexes it may sign: ``start <= i < until``, ``i < revoked_at``."""

    source: str
    pub: PublicKey | None
    vkey: VerifierKey | None
    start: int = 0
    until: int | None = None
    revoked_at: int | None = None

    def covers(self, index: int) -> bool:
        if index < self.start or (self.until is not None and index >= self.until):
            return False
        return self.revoked_at is None or index < self.revoked_at

    def why_not(self, index: int) -> str:
        """Why this key's signature does not count at ``index`` (``covers`` is False)."""
        if self.revoked_at is not None and index >= self.revoked_at:
            return f"revoked at index {self.revoked_at}"
        end = "" if self.until is None else str(self.until)
        return f"outside its range [{self.start}, {end})"

    def note_key(self, origin: str | None) -> VerifierKey | None:
        if self.vkey is not None:
            return self.vkey
        if origin is not None and self.pub is not None and self.pub.algorithm == "ed25519":
            return VerifierKey.from_public_key(origin, self.pub.ed25519_raw())
        return None


@dataclass(frozen=True)
class KeyRanges:
    """Every key of a keys file, with its range."""

    keys: tuple[KeyRange, ...]

    def entry_keys(self, index: int) -> tuple[PublicKey, ...]:
        return tuple(k.pub for k in self.keys if k.pub is not None and k.covers(index))

    def all_entry_keys(self) -> tuple[PublicKey, ...]:
        return tuple(k.pub for k in self.keys if k.pub is not None)

    def entry_problem(self, key: PublicKey, index: int) -> str:
        """What is wrong with ``key`` (a listed key whose signature verifies) at ``index``."""
        ranges = [k for k in self.keys if k.pub is not None and k.pub.key_id == key.key_id]
        return "; ".join(f"{k.source}: {k.why_not(index)}" for k in ranges)

    def note_keys(self, size: int, origin: str | None) -> tuple[VerifierKey, ...]:
        index = max(size - 1, 0)
        keys = (k.note_key(origin) for k in self.keys if k.covers(index))
        return tuple(k for k in keys if k is not None)

    def other_note_keys(self, size: int, origin: str | None) -> list[tuple[VerifierKey, str]]:
        """Listed note keys that do not cover a checkpoint of ``size``, and why."""
        index = max(size - 1, 0)
        out = []
        for k in self.keys:
            vk = k.note_key(origin)
            if vk is not None and not k.covers(index):
                out.append((vk, f"{k.source}: {k.why_not(index)}"))
        return out

    def open_checkpoint(self, data: bytes, origin: str | None) -> Checkpoint:
        """The checkpoint ``data``, if a note key covering its size signed it.

        A checkpoint of size ``n`` counts only when signed by a note key covering
        index ``n - 1``; a signature by a listed key outside its range, or revoked,
        is a :class:`SignatureError` saying so.
        """
        size = Checkpoint.from_text(SignedNote.from_bytes(data).text).size
        first: EvidenceError | None = None
        for key in self.note_keys(size, origin):
            try:
                return open_checkpoint(data, key, origin)
            except EvidenceError as e:
                first = first or e
        for key, why in self.other_note_keys(size, origin):
            try:
                open_checkpoint(data, key, origin)
            except EvidenceError:
                continue
            raise SignatureError(
                f"signed by note key {key.name}+{key.key_id.hex()}, which does not count on a "
                f"checkpoint of size {size}: {why}"
            )
        raise first or SignatureError(f"no note key in the keys file covers size {size}")

    def newest_note_key(self, origin: str | None) -> VerifierKey | None:
        usable = [k for k in self.keys if k.revoked_at is None and k.note_key(origin) is not None]
        newest = max(usable, key=lambda k: k.start, default=None)
        return None if newest is None else newest.note_key(origin)


def _index(doc: dict[str, Any], name: str, where: str) -> int | None:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: {name} must be a log index (an integer >= 0)", fix=_FIX)
    return value


def load_keys_file(path: Path) -> KeyRanges:
    """Parse a keys file; a bad one is a :class:`ConfigError` naming the key and field."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read the keys file {path}: {e}", fix=_FIX) from None
    entries = doc.get("key")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path} lists no [[key]]", fix=_FIX)
    out: list[KeyRange] = []
    for n, entry in enumerate(entries, 1):
        where = f"{path} key {n}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} is not a table", fix=_FIX)
        unknown = set(entry) - {"pub", "vkey", "from", "until", "revoked_at"}
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}", fix=_FIX)
        pub = vkey = None
        try:
            if isinstance(entry.get("pub"), str):
                pub = PublicKey.from_file(path.parent / entry["pub"])
            if isinstance(entry.get("vkey"), str):
                vkey = VerifierKey.from_file(path.parent / entry["vkey"])
        except EvidenceError as e:
            raise ConfigError(f"{where}: {e.message}", fix=_FIX) from None
        if pub is None and vkey is None:
            raise ConfigError(f"{where} names neither pub nor vkey", fix=_FIX)
        start = _index(entry, "from", where) or 0
        until = _index(entry, "until", where)
        if until is not None and until <= start:
            raise ConfigError(f"{where}: until {until} is not after from {start}", fix=_FIX)
        label = f"key {n} ({entry.get('pub') or entry.get('vkey')})"
        out.append(KeyRange(label, pub, vkey, start, until, _index(entry, "revoked_at", where)))
    return KeyRanges(tuple(out))


def merged_keys(ranges: KeyRanges | None, keys: Sequence[PublicKey]) -> tuple[PublicKey, ...]:
    """``keys`` plus every entry key of ``ranges``, each once."""
    out = {k.key_id: k for k in keys}
    for k in ranges.all_entry_keys() if ranges else ():
        out.setdefault(k.key_id, k)
    return tuple(out.values())
