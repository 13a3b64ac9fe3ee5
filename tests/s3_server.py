"""A real ``moto_server`` on 127.0.0.1 for integration tests, with its request log.

moto is lenient where S3 is strict (it lets compliance retention be shortened,
ignores wrong checksums, ...): tests use it as the attacker, never as proof
that S3 would refuse something.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from das_evidence.demo.moto import CREDENTIALS, MotoServer, free_port, moto_server

__all__ = ["CREDENTIALS", "MotoServer", "TcpProxy", "free_port", "moto_server"]


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
