"""Misbehaving servers on 127.0.0.1 for connection-failure tests, each in a daemon thread
with a bounded lifetime: nothing outlives its test by more than ``LIFETIME_S``.

- :func:`blackhole`: accepts every TCP connection and never sends a byte, as a
  firewall that lets SYNs through, or a wrong PrivateLink endpoint, does.
- :func:`garbage`: accepts and sends bytes that are neither TLS nor HTTP.
- :func:`closed_port`: a port nothing listens on (connection refused).
- :func:`tls_server`: completes TLS handshakes with a fresh self-signed certificate.
"""

from __future__ import annotations

import datetime
import select
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

HOST = "127.0.0.1"
LIFETIME_S = 120.0


def closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago: connecting is refused."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(on_accept: Callable[[socket.socket], None]) -> Iterator[int]:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, 0))
    listener.listen(64)
    port = int(listener.getsockname()[1])
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        deadline = time.monotonic() + LIFETIME_S
        while not stop.is_set() and time.monotonic() < deadline:
            ready, _, _ = select.select([listener], [], [], 0.1)
            if not ready:
                continue
            conn, _ = listener.accept()
            held.append(conn)  # held open, so the client sees no close either
            with suppress(OSError):
                on_accept(conn)
        for conn in held:
            conn.close()
        listener.close()

    thread = threading.Thread(target=serve, name="loopback-server", daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(5)


@contextmanager
def blackhole() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with _serving(lambda conn: None) as port:
        yield port


@contextmanager
def garbage() -> Iterator[int]:
    """A port that answers every connection with bytes that are neither TLS nor HTTP."""
    with _serving(lambda conn: conn.sendall(b"\x00garbage, not a protocol\r\n" * 40)) as port:
        yield port


@contextmanager
def sends(data: bytes) -> Iterator[int]:
    """A port that answers every connection with ``data``."""
    with _serving(lambda conn: conn.sendall(data)) as port:
        yield port


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def tls_server() -> Iterator[int]:
    """A port that completes a TLS handshake (self-signed certificate), then says nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = _self_signed(Path(tmp))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)

        def handshake(conn: socket.socket) -> None:
            conn.settimeout(5)
            with suppress(ssl.SSLError, OSError):
                ctx.wrap_socket(conn, server_side=True)

        with _serving(handshake) as port:
            yield port
