"""A loopback HTTP receiver for webhook tests: it records every request and answers
with scripted statuses (202 when none is left)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    host: str
    port: int
    statuses: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    @property
    def bodies(self) -> list[bytes]:
        return [q["body"] for q in self.requests]


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A :class:`Receiver` on 127.0.0.1 and a free port, for the duration of the block."""
    rec = Receiver("127.0.0.1", 0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            rec.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status = rec.statuses.pop(0) if rec.statuses else 202
            self.send_response(status)
            if status in (301, 302, 307, 308):
                self.send_header("Location", f"http://127.0.0.1:{rec.port}/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def do_GET(self) -> None:
            rec.requests.append({"path": self.path, "headers": dict(self.headers), "body": b""})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
