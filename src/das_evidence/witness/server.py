"""``evidence witness serve``: a C2SP tlog-witness that cosigns consistent growth.

:class:`Witness` holds the logic and the state: for each log it knows (origin
and note verifier key) it keeps the newest checkpoint it cosigned, and cosigns
a new one only when a consistency proof shows the new tree extends it. A
rollback (an ``old`` size that is not its latest) gets 409 and its latest size,
a fork (a proof that does not verify) 422, as the spec says. State on disk::

    <state>/<percent-encoded origin>/checkpoint            newest cosigned checkpoint
    <state>/<percent-encoded origin>/checkpoints/<size>    every cosigned checkpoint

The HTTP server adds ``GET /checkpoint/<percent-encoded origin>`` (the newest
cosigned checkpoint), which ``evidence verify --witness`` reads. It speaks plain
HTTP: put TLS in front of it (a load balancer or reverse proxy) off loopback.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from das_evidence.errors import ConfigError, EvidenceError, FormatError, ProofError
from das_evidence.manifests.checkpoint import Checkpoint
from das_evidence.manifests.merkle import EMPTY_ROOT, verify_consistency
from das_evidence.manifests.note import SignedNote, VerifierKey, verify_note
from das_evidence.witness.cosignature import WitnessSigner, add_cosignature
from das_evidence.witness.protocol import (
    ADD_CHECKPOINT_PATH,
    MAX_REQUEST_BYTES,
    SIZE_CONTENT_TYPE,
    AddCheckpoint,
    encode_size,
)

log = logging.getLogger(__name__)

CHECKPOINT_PATH = "/checkpoint/"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, body and content type."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


def origin_dir(origin: str) -> str:
    """The state directory name of a log: its origin, percent-encoded (no ``/``)."""
    return urllib.parse.quote(origin, safe="")


class Witness:
    """The witness role: verify, check consistency, cosign, remember."""

    def __init__(
        self,
        signer: WitnessSigner,
        logs: Iterable[VerifierKey],
        state: Path,
        clock: Callable[[], datetime],
    ) -> None:
        self.signer = signer
        self.logs = {k.name: k for k in logs}
        if not self.logs:
            raise ConfigError(
                "a witness needs at least one log to witness",
                fix="pass --log with the log's note verifier key (signing.vkey)",
            )
        self.state = state
        self.clock = clock
        self._lock = threading.Lock()

    def latest(self, origin: str) -> bytes | None:
        """The newest checkpoint cosigned for ``origin``, or None."""
        path = self.state / origin_dir(origin) / "checkpoint"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def _latest_tree(self, origin: str) -> tuple[int, bytes]:
        data = self.latest(origin)
        if data is None:
            return 0, EMPTY_ROOT
        cp = Checkpoint.from_text(SignedNote.from_bytes(data).text)
        return cp.size, cp.root_hash

    def add_checkpoint(self, body: bytes) -> Answer:
        """Handle one add-checkpoint request (tlog-witness), numbered as the checks run."""
        # 1. A well-formed request, note and checkpoint.
        try:
            req = AddCheckpoint.from_bytes(body)
            note = SignedNote.from_bytes(req.checkpoint)
            cp = Checkpoint.from_text(note.text)
        except FormatError as e:
            return Answer(HTTPStatus.BAD_REQUEST, f"{e.message}\n".encode())
        # 2. A log this witness knows, signed by its key.
        key = self.logs.get(cp.origin)
        if key is None:
            return Answer(HTTPStatus.NOT_FOUND, f"unknown log {cp.origin!r}\n".encode())
        try:
            verify_note(note, key)
        except EvidenceError as e:
            return Answer(HTTPStatus.FORBIDDEN, f"{e.message}\n".encode())
        with self._lock:
            # 3. The client must know the witness's latest size (else: a rollback, or stale).
            size, root = self._latest_tree(cp.origin)
            if req.old_size != size:
                return Answer(HTTPStatus.CONFLICT, encode_size(size), SIZE_CONTENT_TYPE)
            if req.old_size > cp.size:
                return Answer(
                    HTTPStatus.BAD_REQUEST, b"old size is larger than the checkpoint's size\n"
                )
            # 4. The new tree extends the one cosigned before (else: a fork).
            try:
                verify_consistency(size, cp.size, root, cp.root_hash, req.proof)
            except ProofError as e:
                return Answer(HTTPStatus.UNPROCESSABLE_ENTITY, f"{e.message}\n".encode())
            # 5. Cosign and remember.
            timestamp = int(self.clock().timestamp())
            line = self.signer.cosign(note.text, timestamp)
            cosigned = add_cosignature(req.checkpoint, line)
            self._store(cp, cosigned)
        log.info("cosigned %s size %d", cp.origin, cp.size)
        return Answer(HTTPStatus.OK, line.to_line().encode("utf-8"))

    def _store(self, cp: Checkpoint, data: bytes) -> None:
        directory = self.state / origin_dir(cp.origin)
        (directory / "checkpoints").mkdir(parents=True, exist_ok=True)
        for path in (directory / "checkpoints" / str(cp.size), directory / "checkpoint"):
            tmp = path.with_name(f".{path.name}.tmp")
            with tmp.open("wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)


def _handler(witness: Witness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "das-evidence-witness"

        def _answer(self, answer: Answer) -> None:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def do_POST(self) -> None:
            if urllib.parse.urlsplit(self.path).path != ADD_CHECKPOINT_PATH:
                self._answer(Answer(HTTPStatus.NOT_FOUND, b"not found\n"))
                return
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._answer(Answer(HTTPStatus.LENGTH_REQUIRED, b"Content-Length required\n"))
                return
            if not 0 <= length <= MAX_REQUEST_BYTES:
                self._answer(Answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"too large\n"))
                return
            self._answer(witness.add_checkpoint(self.rfile.read(length)))

        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith(CHECKPOINT_PATH):
                origin = urllib.parse.unquote(path[len(CHECKPOINT_PATH) :])
                data = witness.latest(origin)
                if data is not None:
                    self._answer(Answer(HTTPStatus.OK, data))
                    return
            self._answer(Answer(HTTPStatus.NOT_FOUND, b"not found\n"))

        def log_message(self, format: str, *args: object) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return Handler


def make_server(witness: Witness, listen: str) -> ThreadingHTTPServer:
    """An HTTP server for ``witness`` on ``host:port`` (port 0: any free port)."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or not host:
        raise ConfigError(f"--listen {listen!r} is not host:port", fix="e.g. 127.0.0.1:8089")
    try:
        return ThreadingHTTPServer((host.strip("[]"), int(port_text)), _handler(witness))
    except OSError as e:
        raise ConfigError(f"cannot listen on {listen}: {e.strerror or e}") from e
