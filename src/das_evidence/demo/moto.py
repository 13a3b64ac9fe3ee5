"""A local S3 for `evidence demo --store s3` and the integration tests: ``moto_server``.

moto is lenient where S3 is strict (it lets compliance retention be
shortened, ignores wrong checksums, ...): it shows the product working, and in
tests it plays the attacker; it is never proof that S3 would refuse something.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from das_evidence.aws import make_client

# Werkzeug's access log; lines for error statuses are wrapped in ANSI colour codes.
_REQUEST = re.compile(
    r'"(?:\x1b\[[0-9;]*m)*(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP/1\.1(?:\x1b\[0m)?" (\d{3})'
)
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


_SERIAL_SERVER = """
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.moto_server.threaded_moto_server import MotoRequestHandler
app = DomainDispatcherApplication(create_backend_app)
run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=False, request_handler=MotoRequestHandler)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """``moto_server`` in a subprocess on 127.0.0.1; ``requests()`` parses its access log."""

    def __init__(self, log_path: Path, port: int | None = None, *, serial: bool = False) -> None:
        """``serial``: one request at a time. moto checks If-None-Match / If-Match and
        then writes, without a lock, so under its threaded server two conditional
        writes can both succeed; S3 makes them atomic. Serving one request at a
        time gives concurrency tests S3's guarantee instead of moto's race."""
        self.port = port or free_port()
        self.log_path = log_path
        self.serial = serial
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
        command = [exe, "-H", "127.0.0.1", "-p", str(self.port)]
        if self.serial:
            command = [sys.executable, "-c", _SERIAL_SERVER, str(self.port)]
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            command,
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
        for name, value in CREDENTIALS.items():
            os.environ.setdefault(name, value)
        return make_client(service, endpoint_url=self.endpoint, region="us-east-1")

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

    def production_like_bucket(self, retention_days: int) -> str:
        """A locked bucket with SSE-KMS and all public-access blocks, as `store check` wants.

        No TLS-only policy: this server speaks plain HTTP, and moto enforces the deny.
        """
        bucket = self.locked_bucket(retention_days)
        s3 = self.client()
        key_id = self.client("kms").create_key()["KeyMetadata"]["KeyId"]
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key_id,
                        }
                    }
                ]
            },
        )
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
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
