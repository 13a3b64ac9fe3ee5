"""A real ``moto_server`` on 127.0.0.1 for integration tests, with its request log.

moto is lenient where S3 is strict (it lets compliance retention be shortened,
ignores wrong checksums, ...): tests use it as the attacker, never as proof
that S3 would refuse something.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

_REQUEST = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP/1\.1" (\d{3})')
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """``moto_server`` in a subprocess; ``requests()`` parses its access log."""

    def __init__(self, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, **CREDENTIALS),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self._proc.poll() is not None:
                    tail = self.log_path.read_text()[-2000:]
                    raise RuntimeError(f"moto_server exited: {tail}") from None
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def client(self, service: str = "s3") -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request logged so far."""
        text = self.log_path.read_text(errors="replace")
        return [(m, p, int(s)) for m, p, s in _REQUEST.findall(text)]

    def locked_bucket(self, retention_days: int = 1, name: str | None = None) -> str:
        """A new bucket with versioning, Object Lock and a default COMPLIANCE retention."""
        bucket = name or f"evidence-{uuid.uuid4().hex[:12]}"
        s3 = self.client()
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": retention_days}},
            },
        )
        return bucket


@contextmanager
def moto_server(log_path: Path) -> Iterator[MotoServer]:
    server = MotoServer(log_path).start()
    try:
        yield server
    finally:
        server.stop()


class TcpProxy:
    """A loopback TCP proxy that can be cut and restored, to take S3 away mid-run.

    Killing moto itself would lose its in-memory buckets, which real S3 never
    does; cutting the path to it is the outage a collector actually meets.
    """

    def __init__(self, target_port: int, cut_on: bytes | None = None) -> None:
        """``cut_on``: cut everything when a request containing these bytes passes."""
        self.target_port = target_port
        self.cut_on = cut_on
        self.tripped = threading.Event()
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b, watch in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(a, b, watch), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        try:
            while data := src.recv(65536):
                if watch and self.cut_on is not None and self.cut_on in data:
                    self.cut_on = None
                    self.tripped.set()
                    self.cut()
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.close()
            self._conns.clear()

    def restore(self) -> None:
        self.start()
