"""Fast, honest connection errors: the probe before the connector, the diagnosis of what
the connector raises, the bounded login, and no configured secret in any message.

Everything runs against misbehaving servers on 127.0.0.1 (tests/loopback_servers.py);
the DNS case uses ``nonexistent.invalid`` (RFC 6761: never resolves). fakesnow does
not check passwords or roles, so authentication is diagnosed here from the
connector's own error objects, built as the connector builds them.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from snowflake.connector import errors as sf_errors

from das_evidence.collectors.snowflake.connection import (
    PROBE_TIMEOUT_S,
    Endpoint,
    SnowflakeSession,
    diagnose,
    endpoint_of,
    probe,
    proxied,
    proxy_of,
    scrub,
    secret_values,
)
from das_evidence.errors import CONNECT_REASONS, CollectorError, SourceConnectError
from tests.loopback_servers import HOST, blackhole, closed_port, garbage, sends, tls_server
from tests.webhook_receiver import receiving

PASSWORD = "CANARY-7f3a-hunter2"


def _reason(ep: Endpoint, timeout: float = 3.0) -> tuple[SourceConnectError, float]:
    started = time.monotonic()
    with pytest.raises(SourceConnectError) as e:
        probe(ep, timeout)
    return e.value, time.monotonic() - started


def _args(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "account": "ACME",
        "user": "EVIDENCE_COLLECTOR",
        "password": PASSWORD,
        "host": HOST,
        "port": port,
        "protocol": "http",
        "login_timeout": 3,
        **extra,
    }


# --- the probe ------------------------------------------------------------------------


def test_a_closed_port_is_refused_at_once() -> None:
    e, took = _reason(Endpoint(HOST, closed_port(), "http"))
    assert e.reason == "refused"
    assert "(refused)" in e.message and "connection refused" in e.message
    assert e.fix and "port" in e.fix
    assert took < 2


def test_a_name_that_does_not_resolve_is_dns() -> None:
    e, _ = _reason(Endpoint("nonexistent.invalid", 443, "https"), timeout=5)
    assert e.reason == "DNS"
    assert "(DNS)" in e.message and "nonexistent.invalid" in e.message
    assert e.fix and "account" in e.fix


def test_a_resolver_that_never_answers_is_dns_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def hangs(*args: Any, **kwargs: Any) -> Any:
        time.sleep(30)

    monkeypatch.setattr(socket, "getaddrinfo", hangs)
    e, took = _reason(Endpoint("acme.snowflakecomputing.com", 443, "https"), timeout=1)
    assert e.reason == "DNS" and "did not answer" in e.message
    assert took < 2


@pytest.mark.parametrize("protocol", ["http", "https"])
def test_a_host_that_accepts_and_never_answers_is_a_timeout(protocol: str) -> None:
    with blackhole() as port:
        e, took = _reason(Endpoint(HOST, port, protocol), timeout=1.5)
    assert e.reason == "timeout"
    assert "(timeout)" in e.message and "accepted the TCP connection" in e.message
    assert 1.4 < took < 3


def test_garbage_to_a_tls_client_is_tls() -> None:
    with garbage() as port:
        e, _ = _reason(Endpoint(HOST, port, "https"))
    assert e.reason == "TLS" and "(TLS)" in e.message
    assert e.fix and "protocol" in e.fix


def test_https_against_a_plain_http_server_is_tls() -> None:
    with receiving() as rec:
        e, _ = _reason(Endpoint(HOST, rec.port, "https"))
    assert e.reason == "TLS"
    assert "does not speak TLS" in e.message


def test_plain_http_against_a_tls_server_is_tls() -> None:
    # A TLS alert record: what a TLS server answers to a plain-text request.
    with sends(b"\x15\x03\x01\x00\x02\x02\x46") as port:
        e, _ = _reason(Endpoint(HOST, port, "http"))
    assert e.reason == "TLS"
    assert "speaks TLS" in e.message and e.fix and 'protocol = "https"' in e.fix


def test_garbage_to_an_http_client_is_other() -> None:
    with garbage() as port:
        e, _ = _reason(Endpoint(HOST, port, "http"))
    assert e.reason == "other" and "not HTTP" in e.message


def test_a_server_that_answers_passes() -> None:
    with receiving() as rec:
        assert probe(Endpoint(HOST, rec.port, "http"), 3) < 3
    with tls_server() as port:
        # The probe checks that TLS answers; the connector verifies the certificate.
        assert probe(Endpoint(HOST, port, "https"), 3) < 3


# --- where the connector connects ---------------------------------------------------------


def test_the_endpoint_is_worked_out_as_the_connector_does() -> None:
    assert endpoint_of({"account": "myorg-acme"}) == Endpoint(
        "myorg-acme.snowflakecomputing.com", 443, "https"
    )
    assert endpoint_of({"account": "xy12345", "region": "eu-central-1"}) == Endpoint(
        "xy12345.eu-central-1.snowflakecomputing.com", 443, "https"
    )
    assert endpoint_of(_args(8080)) == Endpoint(HOST, 8080, "http")
    assert str(endpoint_of(_args(8080))) == "http://127.0.0.1:8080"
    # connections.toml decides the host: nothing to probe.
    assert endpoint_of({"connection_name": "prod"}) is None


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_a_proxy_skips_the_direct_probe(no_proxy_env: pytest.MonkeyPatch) -> None:
    ep = Endpoint("acme.snowflakecomputing.com", 443, "https")
    assert not proxied({}, ep) and proxy_of({}, ep) is None
    assert proxy_of({"proxy_host": "proxy.internal", "proxy_port": 3128}, ep) == Endpoint(
        "proxy.internal", 3128, "http", "the proxy"
    )
    no_proxy_env.setenv("https_proxy", "http://user:pw@proxy.internal:3128")
    proxy = proxy_of({}, ep)
    assert proxy == Endpoint("proxy.internal", 3128, "http", "the proxy")
    assert "pw" not in str(proxy)  # a proxy URL's user-info is a credential
    no_proxy_env.setenv("no_proxy", ".snowflakecomputing.com")
    assert not proxied({}, ep)


def test_through_a_proxy_that_refuses_the_proxy_is_diagnosed(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    with blackhole() as snowflake:  # never reached: the proxy is in the way
        no_proxy_env.setenv("http_proxy", f"http://127.0.0.1:{closed_port()}")
        with pytest.raises(SourceConnectError) as e:
            SnowflakeSession(_args(snowflake))
    assert e.value.reason == "refused"
    assert e.value.message.startswith("cannot connect to the proxy at http://127.0.0.1:")
    assert e.value.fix and "HTTPS_PROXY" in e.value.fix


def test_through_a_proxy_that_never_answers_the_login_gives_up_in_time(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    with blackhole() as proxy:
        no_proxy_env.setenv("http_proxy", f"http://127.0.0.1:{proxy}")
        started = time.monotonic()
        with pytest.raises(SourceConnectError) as e:
            SnowflakeSession(_args(closed_port(), login_timeout=2))
        took = time.monotonic() - started
    assert e.value.reason == "timeout" and "through the proxy" in e.value.message
    assert took < 8


# --- the session: probe first, login bounded ------------------------------------------


def test_a_session_probes_first_and_gives_up_within_the_probe_timeout() -> None:
    with blackhole() as port:
        started = time.monotonic()
        with pytest.raises(SourceConnectError) as e:
            SnowflakeSession(_args(port, login_timeout=2))
        took = time.monotonic() - started
    assert e.value.reason == "timeout"
    assert PASSWORD not in str(e.value)
    assert took < 4


def test_without_the_probe_the_login_still_gives_up_after_login_timeout() -> None:
    # Without the bound, the connector waits 60 s for the login request's answer.
    with blackhole() as port:
        started = time.monotonic()
        with pytest.raises(SourceConnectError) as e:
            SnowflakeSession(_args(port, login_timeout=2), preflight=False)
        took = time.monotonic() - started
    assert e.value.reason in ("timeout", "other")
    assert "(timeout)" in e.value.message or "(other)" in e.value.message
    assert took < 10


def test_the_probe_never_waits_longer_than_its_cap() -> None:
    assert PROBE_TIMEOUT_S <= 8


# --- what the connector raises, diagnosed ---------------------------------------------


def _connector_error(cls: type[sf_errors.Error], errno: int, msg: str) -> sf_errors.Error:
    return cls(msg=msg, errno=errno, sqlstate="08001")


@pytest.mark.parametrize(
    ("error", "reason", "fix_has"),
    [
        (
            _connector_error(
                sf_errors.DatabaseError, 390100, "Incorrect username or password was specified."
            ),
            "authentication",
            "password",
        ),
        (
            _connector_error(sf_errors.DatabaseError, 390144, "JWT token is invalid."),
            "authentication",
            "RSA_PUBLIC_KEY must be the public half of private_key_file",
        ),
        (
            _connector_error(sf_errors.DatabaseError, 390101, "User temporarily locked."),
            "authentication",
            "private_key_file (and private_key_file_pwd)",
        ),
        (
            _connector_error(
                sf_errors.DatabaseError,
                390189,
                "Role 'EVIDENCE_COLLECTOR_ROLE' specified in the connect string is not granted "
                "to this user.",
            ),
            "authentication",
            "GRANT ROLE EVIDENCE_COLLECTOR_ROLE TO USER EVIDENCE_COLLECTOR",
        ),
        (
            _connector_error(
                sf_errors.NonRetryableTlsError,
                250003,
                "Hit non-retryable SSL error, ... CERTIFICATE_VERIFY_FAILED",
            ),
            "TLS",
            "protocol",
        ),
        (
            sf_errors.ForbiddenError(msg="HTTP 403: Forbidden", errno=290403),
            "authentication",
            "network policy",
        ),
        (
            _connector_error(sf_errors.ProgrammingError, 2043, "Object does not exist."),
            "other",
            "host",
        ),
    ],
)
def test_connector_errors_are_diagnosed(error: sf_errors.Error, reason: str, fix_has: str) -> None:
    args = _args(443, role="EVIDENCE_COLLECTOR_ROLE")
    e = diagnose(error, target="https://acme.snowflakecomputing.com:443", args=args)
    assert e.reason == reason
    assert f"({reason})" in e.message
    assert e.fix and fix_has in e.fix
    assert e.exit_code == 3


def test_could_not_connect_is_a_timeout_only_after_login_timeout() -> None:
    error = _connector_error(
        sf_errors.OperationalError,
        250001,
        "Could not connect to Snowflake backend after 1 attempt(s).Aborting",
    )
    args = _args(443, login_timeout=20)
    assert diagnose(error, target="x", args=args, elapsed=20.3).reason == "timeout"
    assert diagnose(error, target="x", args=args, elapsed=1.1).reason == "other"


def test_socket_errors_are_diagnosed() -> None:
    args = _args(443)
    assert diagnose(ConnectionRefusedError(111, "refused"), target="x", args=args).reason == (
        "refused"
    )
    assert diagnose(TimeoutError("timed out"), target="x", args=args).reason == "timeout"
    gai = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert diagnose(gai, target="x", args=args).reason == "DNS"


def test_a_secret_the_source_echoes_is_scrubbed() -> None:
    args = _args(443, token="tok-CANARY-7f3a", private_key_file="/keys/sf.p8")
    echoed = _connector_error(
        sf_errors.DatabaseError,
        390100,
        f"Incorrect username or password was specified: {PASSWORD} (token tok-CANARY-7f3a)",
    )
    e = diagnose(echoed, target="x", args=args)
    assert "CANARY" not in str(e) and "[redacted]" in e.message
    # A key file's path is named like a secret but is not one: messages keep it.
    assert secret_values(args) == sorted([PASSWORD, "tok-CANARY-7f3a"], key=len, reverse=True)
    assert scrub("read /keys/sf.p8", secret_values(args)) == "read /keys/sf.p8"


def test_every_reason_has_a_diagnosis_word() -> None:
    assert CONNECT_REASONS == ("refused", "DNS", "TLS", "timeout", "authentication", "other")
    with pytest.raises(ValueError):
        SourceConnectError("x", reason="unlucky")
    assert issubclass(SourceConnectError, CollectorError)


def test_a_host_name_that_cannot_be_encoded_is_dns_at_once() -> None:
    e, took = _reason(Endpoint("a" * 64 + ".example", 443, "https"), timeout=3)
    assert e.reason == "DNS" and "not a valid host name" in e.message
    assert took < 1


def test_after_the_login_queries_get_the_connectors_own_socket_timeout_again() -> None:
    """The login's reads are bounded by login_timeout; a query's long poll needs the
    connector's default back (connection.py resets a private attribute: a connector
    upgrade that renames it fails here, not in production)."""
    from das_evidence.demo.server import FakeSnowflake

    with FakeSnowflake() as fake:
        args = fake.connection_args()
        args["login_timeout"] = 5
        with SnowflakeSession(args) as session:
            assert session._conn.socket_timeout is None
            assert session.columns("SNOWFLAKE.ACCOUNT_USAGE.LOGIN_HISTORY")
        args["socket_timeout"] = 90  # configured: kept as configured
        with SnowflakeSession(args) as session:
            assert session._conn.socket_timeout == 90
