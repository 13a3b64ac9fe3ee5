"""Status, alerts and secrets: `evidence status` turns stale, alerts reach a local
receiver, and no canary secret appears in a log line, summary, alert or archive byte."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.conftest import T0, Env

PASSWORD = "CANARY-PASSWORD-7d3f9a"
PASSPHRASE = "CANARY-PASSPHRASE-41be0c"
TOKEN = "CANARY-OAUTH-TOKEN-9e2210"


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _configure(env: Env, receiver: Receiver) -> None:
    text = env.config.read_text().replace('password = "demo-only"', f'password = "{PASSWORD}"')
    text = text.replace("[snowflake]\n", f'[snowflake]\ntoken = "{TOKEN}"\n', 1)
    text += (
        '\n[status]\nlast_run_file = "state/last-run.json"\n'
        f'\n[[alerts.webhooks]]\nkind = "generic"\nurl = "{receiver.url}"\n'
        f'\n[[alerts.webhooks]]\nkind = "slack"\nurl = "{receiver.url}"\n'
    )
    env.config.write_text(text)
    env.extra_env["EVIDENCE_SNOWFLAKE__PRIVATE_KEY_FILE_PWD"] = PASSPHRASE


def test_status_turns_stale_and_alerts_carry_no_secret(env: Env, receiver: Receiver) -> None:
    _configure(env, receiver)
    outputs: list[str] = []

    first = env.cli("run")
    outputs += [first.stdout, first.stderr]
    assert first.returncode == 0, first.stderr
    fresh = env.cli("status", "--json", now=T0 + timedelta(hours=2))
    outputs += [fresh.stdout, fresh.stderr]
    assert fresh.returncode == 0, fresh.stdout
    assert receiver.bodies == []  # nothing to alert about

    late = T0 + timedelta(days=2)
    stale = env.cli("status", "--json", now=late)
    outputs += [stale.stdout, stale.stderr]
    assert stale.returncode == 1
    assert json.loads(stale.stdout)["stale"]
    prom = env.cli("status", "--prometheus", now=late)
    outputs += [prom.stdout]
    assert 'evidence_stream_stale{stream="snowflake/ACME_PROD/access_history"} 1' in prom.stdout

    # The next run cannot reach Snowflake: a failure alert and a stale alert go out.
    text = env.config.read_text()
    env.config.write_text(text.replace(f"port = {env.fake.port}", "port = 9"))
    failed = env.cli("run", now=late)
    outputs += [failed.stdout, failed.stderr]
    assert failed.returncode == 3
    assert len(receiver.bodies) >= 2
    kinds = {json.loads(b).get("kind") for b in receiver.bodies if b.startswith(b"{")}
    assert {"failure", "stale"} <= kinds or any(b"stale" in b for b in receiver.bodies)

    haystacks = [o.encode() for o in outputs] + receiver.bodies
    haystacks += [p.read_bytes() for p in env.archive.rglob("*") if p.is_file()]
    haystacks += [p.read_bytes() for p in (env.dir / "state").rglob("*") if p.is_file()]
    for canary in (PASSWORD, PASSPHRASE, TOKEN):
        for hay in haystacks:
            assert canary.encode() not in hay


def test_a_wrong_key_passphrase_is_a_clear_message_and_exit_3(env: Env, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.p8").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    text = env.config.read_text().replace('password = "demo-only"\n', "")
    text = text.replace(
        "[snowflake]\n", f'[snowflake]\nprivate_key_file = "{tmp_path / "rsa.p8"}"\n'
    )
    env.config.write_text(text)
    env.extra_env["EVIDENCE_SNOWFLAKE__PRIVATE_KEY_FILE_PWD"] = "not-the-passphrase"
    r = env.cli("run")
    assert r.returncode == 3
    summary = json.loads(r.stdout)
    assert any("private key" in str(s["error"]) for s in summary["streams"]), summary
    assert "not-the-passphrase" not in r.stdout + r.stderr
    assert PASSPHRASE not in r.stdout + r.stderr


def test_retention_risk_is_reported_with_days_left(env: Env) -> None:
    far = T0 + timedelta(days=350)
    r = env.cli("run", "--only", "policy_state", now=far)
    summary = json.loads(r.stdout)
    days = summary["retention_days_left"]
    assert days and all(0 <= d <= 30 for d in days.values()), days
