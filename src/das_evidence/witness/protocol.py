"""The C2SP ``tlog-witness`` add-checkpoint request (``c2sp.org/tlog-witness``), pure.

``POST <prefix>/add-checkpoint`` with the body::

    old <size the client believes the witness last cosigned>\\n
    <base64 consistency proof hash>\\n     (zero or more, from the old size to the new)
    \\n
    <the log's signed checkpoint note>

The witness answers 200 with its cosignature line(s), 409 with its latest size
(``<decimal>\\n``, ``Content-Type: text/x.tlog.size``) when ``old`` is not that
size, 422 when the proof does not verify, 403 when the log's signature does
not, 404 for a log it does not know and 400 for a malformed request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from das_evidence.errors import FormatError
from das_evidence.manifests._encoding import b64decode_strict, b64encode
from das_evidence.manifests.merkle import HASH_SIZE

ADD_CHECKPOINT_PATH = "/add-checkpoint"
SIZE_CONTENT_TYPE = "text/x.tlog.size"
# More than any consistency proof of a 2^64 tree, and a note well below 1 MiB.
MAX_PROOF_HASHES = 63
MAX_REQUEST_BYTES = 1 << 20
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})", re.ASCII)
_SIZE = re.compile(r"(0|[1-9][0-9]{0,19})\n", re.ASCII)


@dataclass(frozen=True)
class AddCheckpoint:
    """One add-checkpoint request: the old size, the proof from it, the signed note."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes

    def to_bytes(self) -> bytes:
        lines = [f"old {self.old_size}", *(b64encode(h) for h in self.proof), ""]
        return ("\n".join(lines) + "\n").encode("ascii") + self.checkpoint

    @classmethod
    def from_bytes(cls, body: bytes) -> AddCheckpoint:
        if len(body) > MAX_REQUEST_BYTES:
            raise FormatError(f"add-checkpoint request is larger than {MAX_REQUEST_BYTES} bytes")
        head, sep, note = body.partition(b"\n\n")
        if not sep:
            raise FormatError("add-checkpoint request has no blank line before the checkpoint")
        try:
            lines = head.decode("ascii").split("\n")
        except UnicodeDecodeError as e:
            raise FormatError("add-checkpoint request header is not ASCII") from e
        m = _OLD.fullmatch(lines[0])
        if not m:
            raise FormatError(f"add-checkpoint request starts with {lines[0][:40]!r}, not old <n>")
        if len(lines) - 1 > MAX_PROOF_HASHES:
            raise FormatError("add-checkpoint consistency proof is too long")
        proof = []
        for i, line in enumerate(lines[1:]):
            h = b64decode_strict(line, f"consistency proof hash {i}")
            if len(h) != HASH_SIZE:
                raise FormatError(f"consistency proof hash {i} is not {HASH_SIZE} bytes")
            proof.append(h)
        return cls(int(m.group(1)), tuple(proof), note)


def encode_size(size: int) -> bytes:
    """The body of a 409 answer: the witness's latest size for the log."""
    return f"{size}\n".encode("ascii")


def parse_size(body: bytes) -> int:
    m = _SIZE.fullmatch(body.decode("ascii", "replace"))
    if not m:
        raise FormatError(f"witness answered 409 with {body[:40]!r}, not a tree size")
    return int(m.group(1))
