"""A real ``moto_server`` on 127.0.0.1 for integration tests, with its request log.

moto is lenient where S3 is strict (it lets compliance retention be shortened,
ignores wrong checksums, ...): tests use it as the attacker, never as proof
that S3 would refuse something.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time

from das_evidence.demo.moto import CREDENTIALS, MotoServer, free_port, moto_server

__all__ = ["CREDENTIALS", "MotoServer", "TcpProxy", "TruncatingProxy", "free_port", "moto_server"]


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


def _read_until(sock: socket.socket, buf: bytearray, marker: bytes) -> int:
    """Receive into ``buf`` until it holds ``marker``; its end offset, or -1 on EOF."""
    while (at := buf.find(marker)) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            return -1
        buf += chunk
    return at + len(marker)


def _read_exactly(sock: socket.socket, buf: bytearray, n: int) -> bool:
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        buf += chunk
    return True


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


class TruncatingProxy:
    """A loopback HTTP proxy that cuts a seeded share of object GETs mid-body.

    For a GET whose path contains ``cut_paths_with``, with probability
    ``rate`` (from ``random.Random(seed)``), it sends the status line, the
    headers (their Content-Length untouched) and half of the body, then closes
    the connection: the dropped connection a reader meets. Everything else is
    relayed whole. One upstream connection per request; requests must carry
    their bodies by Content-Length (botocore's GET and HEAD do). It stops by
    itself ``lifetime`` seconds after ``start`` or at ``stop``.
    """

    def __init__(
        self,
        target_port: int,
        *,
        cut_paths_with: bytes,
        rate: float = 0.2,
        seed: int = 0,
        lifetime: float = 25.0,
    ) -> None:
        self.target_port = target_port
        self.cut_paths_with = cut_paths_with
        self.rate = rate
        self.lifetime = lifetime
        self.port = free_port()
        self.cut_count = 0
        self.get_count = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._deadline = 0.0
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TruncatingProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        self._deadline = time.monotonic() + self.lifetime
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _accept(self) -> None:
        assert self._listener is not None
        with self._listener:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                try:
                    client, _ = self._listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                client.settimeout(5)
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _cut(self, head: bytes) -> bool:
        request_line = head.split(b"\r\n", 1)[0]
        method, path = request_line.split(b" ")[:2]
        if method != b"GET" or self.cut_paths_with not in path:
            return False
        with self._lock:
            self.get_count += 1
            cut = self._random.random() < self.rate
            self.cut_count += cut
        return cut

    def _serve(self, client: socket.socket) -> None:
        buf = bytearray()
        with contextlib.suppress(OSError), client:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                end = _read_until(client, buf, b"\r\n\r\n")
                if end < 0:
                    return
                size = end + _content_length(bytes(buf[:end]))
                if not _read_exactly(client, buf, size):
                    return
                request, buf = bytes(buf[:size]), buf[size:]
                head = request[:end]
                cut = self._cut(head)
                with socket.create_connection(("127.0.0.1", self.target_port), timeout=5) as up:
                    up.sendall(request)
                    answer = bytearray()
                    header_end = _read_until(up, answer, b"\r\n\r\n")
                    if header_end < 0:
                        return
                    no_body = head.startswith(b"HEAD ") or answer[9:12] in (b"204", b"304")
                    length = 0 if no_body else _content_length(bytes(answer[:header_end]))
                    if not _read_exactly(up, answer, header_end + length):
                        return
                if cut:
                    client.sendall(bytes(answer[: header_end + length // 2]))
                    client.shutdown(socket.SHUT_RDWR)
                    return
                client.sendall(bytes(answer[: header_end + length]))
