"""Fast, honest source errors through the CLI: `evidence collect`, `run` and `doctor` against
a Snowflake that refuses the connection, a host that accepts it and never answers (what a
firewall or a wrong PrivateLink endpoint does) and a name that does not resolve.

Each must finish in time (collect and run within 30 s with exit 3, doctor within 15 s
with its exit 1), name the diagnosis, print no traceback and none of the connector's
own log lines. The time bounds are the issue's requirement, so they are asserted here
rather than measured in benchmarks/; the margins are wide (the probe gives up after
6 s, a run takes about 10 s on a loaded machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from das_evidence.demo.run import write_demo_config
from das_evidence.manifests.keyring import write_key_pair
from tests.integration.conftest import ORIGIN, START, T0, Env
from tests.loopback_servers import blackhole, closed_port

pytestmark = pytest.mark.integration

LIMITS = {"collect": 30.0, "run": 30.0, "doctor": 15.0}
EXIT = {"collect": 3, "run": 3, "doctor": 1}
# What the connector prints or logs on its own when it cannot connect.
NOISE = ("Traceback", '"logger": "snowflake', "snowflake.connector", "Retrying (Retry(")


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str
    seconds: float


def _cli(directory: Path, *args: str, proxy: str | None = None) -> Ran:
    env = dict(os.environ, EVIDENCE_NOW=T0.strftime("%Y-%m-%dT%H:%M:%SZ"))
    env.pop("EVIDENCE_CONFIG", None)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        env.pop(name, None)
        env.pop(name.lower(), None)
    if proxy is not None:
        env["http_proxy"] = proxy
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "das_evidence.cli.main", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


@contextmanager
def _target(kind: str) -> Iterator[tuple[str, int, str]]:
    """(host, port, diagnosis word) of an unreachable Snowflake."""
    if kind == "refused":
        yield "127.0.0.1", closed_port(), "(refused)"
    elif kind == "blackhole":
        with blackhole() as port:
            yield "127.0.0.1", port, "(timeout)"
    else:
        yield "nonexistent.invalid", 443, "(DNS)"


@pytest.mark.parametrize("command", ["collect", "run", "doctor"])
@pytest.mark.parametrize("kind", ["refused", "blackhole", "dns"])
def test_an_unreachable_snowflake_is_diagnosed_in_time(
    tmp_path: Path, kind: str, command: str
) -> None:
    write_key_pair(tmp_path / "keys", ORIGIN)
    with _target(kind) as (host, port, word):
        config = write_demo_config(tmp_path, port=port, start=START, origin=ORIGIN)
        config.write_text(config.read_text().replace('host = "127.0.0.1"', f'host = "{host}"'))
        ran = _cli(tmp_path, command, "-c", str(config))
    shown = ran.out + ran.err
    assert ran.code == EXIT[command], shown
    assert ran.seconds <= LIMITS[command], f"{command} took {ran.seconds:.1f} s"
    assert word in shown, shown
    for noise in NOISE:
        assert noise not in shown, shown
    if command == "run":
        [line] = ran.out.splitlines()
        summary = json.loads(line)
        assert summary["exit_code"] == 3
        assert all(word in s["error"] for s in summary["streams"] if s.get("error"))
    if command == "doctor":
        [reach] = [line for line in ran.out.splitlines() if "snowflake reachable" in line]
        assert reach.startswith("FAIL") and word in reach


@pytest.mark.parametrize(
    ("command", "proxy", "word"),
    [
        ("collect", "refused", "(refused)"),
        ("collect", "blackhole", "(timeout)"),
        ("run", "blackhole", "(timeout)"),
        ("doctor", "blackhole", "(timeout)"),
    ],
)
def test_behind_a_proxy_the_login_is_bounded_and_diagnosed(
    tmp_path: Path, command: str, proxy: str, word: str
) -> None:
    """No probe behind a proxy: the login's own bound (login_timeout, here 10 s for
    collect and run; the doctor waits at most 8 s) and the proxy's diagnosis."""
    write_key_pair(tmp_path / "keys", ORIGIN)
    with blackhole() as snowflake, _target(proxy) as (_, proxy_port, _):
        config = write_demo_config(tmp_path, port=snowflake, start=START, origin=ORIGIN)
        if command != "doctor":
            config.write_text(config.read_text().replace("[store]", "login_timeout = 10\n[store]"))
        ran = _cli(tmp_path, command, "-c", str(config), proxy=f"http://127.0.0.1:{proxy_port}")
    shown = ran.out + ran.err
    assert ran.code == EXIT[command], shown
    assert ran.seconds <= LIMITS[command], f"{command} took {ran.seconds:.1f} s"
    assert word in shown and "proxy" in shown, shown
    for noise in NOISE:
        assert noise not in shown, shown


def test_doctor_passes_on_the_working_demo_config(env: Env) -> None:
    (env.dir / "archive").mkdir()
    ran = env.cli("doctor", "-c", str(env.config))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    assert not [line for line in lines if line.startswith(("FAIL", "WARN"))], ran.stdout
    assert any(line.startswith("ok    snowflake login") for line in lines)
    assert "0 failed" in lines[-1] and lines[-1].endswith(
        "exit 0: every check passed (warnings and skipped checks allowed)"
    )
    data = json.loads(env.cli("doctor", "--json").stdout)
    assert data["ok"] is True and data["counts"]["fail"] == 0
    assert sum(1 for c in data["checks"] if c["name"].startswith("view ")) == 18
