"""The one module that imports ``snowflake.connector``.

Everything Snowflake-specific about talking to a server lives here: finding
out whether the server answers at all (:func:`probe`), opening a UTC session,
probing a view's columns, running a bounded query and streaming its result as
Arrow batches. Connector exceptions are wrapped into
:class:`~das_evidence.errors.CollectorError` before they leave; a failed
connection or login is a :class:`~das_evidence.errors.SourceConnectError`
whose ``reason`` tells refused, DNS, TLS, timeout and authentication apart,
and whose text holds none of the configured secrets.

Why a probe before the connector: the connector waits up to 60 s for each
login request's answer whatever ``login_timeout`` says (that only stops
retries), cannot tell a refused port from a name that does not resolve (both
are "Could not connect to Snowflake backend"), and a host that accepts the TCP
connection and never answers (a firewall, a wrong PrivateLink endpoint) kept a
run waiting for minutes. The probe resolves the name, connects, and completes
a TLS handshake (or, for ``protocol = "http"``, gets an HTTP status line),
within ``min(login_timeout, PROBE_TIMEOUT_S)``. It is skipped when a proxy
carries the connection (``proxy_host``, or ``HTTPS_PROXY``/``HTTP_PROXY``) or
``connection_name`` decides the host; the login's own socket reads are then
bounded by ``login_timeout`` (see :class:`SnowflakeSession`).

SHOW and DESCRIBE results come back in Snowflake's JSON row format, which
``fetch_arrow_batches`` does not read: :meth:`SnowflakeSession.show` fetches the rows and
builds an Arrow table from ``cursor.description`` (see :func:`show_table`).

fakesnow (the local server used by the demo and tests) lacks some statements:
the session time zone is therefore passed as the ``timezone`` connection
argument instead of ``ALTER SESSION SET TIMEZONE``, and the account is taken
from configuration instead of ``CURRENT_ACCOUNT()``.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

import pyarrow as pa

from das_evidence.collectors.snowflake.views import grant_for
from das_evidence.errors import CollectorError, ConfigError, SourceConnectError
from das_evidence.validators import is_secret_name

# The connector imports boto3 and botocore whenever they are installed (0.6 s), for its
# AWS platform detection, AWS workload identity and a TLS hook on botocore. Evidence
# collection uses none of these; the product imports boto3 only for an S3 store or KMS,
# and then before the connector (the store is opened first), so the connector still
# gets it. Otherwise they are hidden while the connector is imported.
# (``authenticator = "WORKLOAD_IDENTITY"`` needs them: ``LazySession`` imports them first.)
_AWS_SDK = ("boto3", "botocore")
_HIDDEN = [name for name in _AWS_SDK if name not in sys.modules]
for _name in _HIDDEN:
    sys.modules[_name] = None  # type: ignore[assignment]  # an import raises ImportError
try:
    import snowflake.connector
    from snowflake.connector import errors as sf_errors
    from snowflake.connector.constants import FIELD_ID_TO_NAME
    from snowflake.connector.util_text import construct_hostname
finally:
    for _name in _HIDDEN:
        if sys.modules.get(_name, False) is None:
            del sys.modules[_name]

log = logging.getLogger(__name__)

# Telemetry would try to reach Snowflake's servers; evidence collection sends nothing extra.
_SESSION_PARAMETERS = {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False, "TIMEZONE": "UTC"}

#: The longest the probe waits for DNS, the TCP connection and the first answer together
#: (or ``login_timeout``, if that is shorter).
PROBE_TIMEOUT_S = 6.0
_CONNECTOR_ERRNO_CONNECT = 250001  # ER_FAILED_TO_CONNECT_TO_DB: "Could not connect ..."
_CONNECTOR_ERRNO_TLS = 250003  # non-retryable TLS error
_ROLE_NOT_GRANTED = 390189
_REDACTED = "[redacted]"

_NETWORK_FIX = (
    "check host/account, port and protocol in [snowflake] and the network path "
    "(firewall, proxy, PrivateLink DNS); the next run retries"
)
_AUTH_FIX = (
    "check user and password, private_key_file (and private_key_file_pwd), "
    "token with authenticator = 'oauth', or connection_name in [snowflake]"
)
# Snowflake's login error codes whose fix is more specific than _AUTH_FIX.
_AUTH_FIXES = {
    390100: "check user and password (EVIDENCE_SNOWFLAKE__PASSWORD) in [snowflake]; "
    "a service user logs in with private_key_file instead",
    390144: "the user's RSA_PUBLIC_KEY must be the public half of private_key_file: "
    "DESC USER <user>, then ALTER USER <user> SET RSA_PUBLIC_KEY = '...' "
    "(docs/OPERATIONS.md, section 1)",
}
_FORBIDDEN_FIX = (
    "Snowflake refused this address: a network policy (add the collector's egress IP), "
    "or PrivateLink-only access (use the privatelink host); also check account"
)


@dataclass(frozen=True)
class QueryResult:
    """A running query: its Snowflake query id and its rows as a stream of Arrow batches."""

    query_id: str
    batches: Iterator[pa.RecordBatch]


# --- SHOW / DESCRIBE results as Arrow ---------------------------------------------------

#: The connector's result type codes (``snowflake.connector.constants.FIELD_TYPES``) read as
#: timestamps and booleans; every other type (numbers, text, dates, VARIANT) is archived as
#: text, as SHOW output is meant to be read: ``str()`` of the value the connector returns.
_TIMESTAMP_TYPES = frozenset({"TIMESTAMP", "TIMESTAMP_LTZ", "TIMESTAMP_TZ", "TIMESTAMP_NTZ"})
_BOOLEAN_TYPES = frozenset({"BOOLEAN"})


def _type_name(type_code: Any) -> str:
    return str(FIELD_ID_TO_NAME.get(type_code, "TEXT"))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    return str(value)


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamp, got {value!r}")
    # TIMESTAMP_NTZ comes back naive; the session's time zone is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def show_table(description: Sequence[Any], rows: Sequence[Sequence[Any]]) -> pa.Table:
    """A SHOW/DESCRIBE result as an Arrow table: column names as returned (lowercase for
    SHOW), TIMESTAMP_* as UTC microseconds, BOOLEAN as bool, everything else as text."""
    fields: list[pa.Field] = []
    arrays: list[pa.Array] = []
    for i, column in enumerate(description):
        name = str(column[0])
        kind = _type_name(column[1])
        values = [row[i] for row in rows]
        if kind in _TIMESTAMP_TYPES:
            arrow_type = pa.timestamp("us", tz="UTC")
            data: list[Any] = [_utc(v) for v in values]
        elif kind in _BOOLEAN_TYPES:
            arrow_type = pa.bool_()
            data = [None if v is None else bool(v) for v in values]
        else:
            arrow_type = pa.string()
            data = [_text(v) for v in values]
        fields.append(pa.field(name, arrow_type))
        arrays.append(pa.array(data, arrow_type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


# --- where the connector connects, and whether anything answers there ---------------


@dataclass(frozen=True)
class Endpoint:
    """The server the connector talks to, worked out as the connector does."""

    host: str
    port: int
    protocol: str
    #: What is there, for messages: "Snowflake", or "the proxy".
    name: str = "Snowflake"

    def __str__(self) -> str:
        return f"{self.protocol}://{self.host}:{self.port}"


def endpoint_of(args: Mapping[str, Any]) -> Endpoint | None:
    """Where ``snowflake.connector.connect(**args)`` will connect; None when
    ``connection_name`` (connections.toml) decides the host, or nothing names one."""
    host = args.get("host")
    if not host:
        if args.get("connection_name") or not args.get("account"):
            return None
        host = construct_hostname(args.get("region"), str(args["account"]))
    protocol = str(args.get("protocol") or "https")
    return Endpoint(str(host), int(args.get("port") or 443), protocol)


def proxy_of(args: Mapping[str, Any], ep: Endpoint) -> Endpoint | None:
    """The proxy that carries the connection to ``ep`` (``proxy_host``/``proxy_port``, or
    ``HTTPS_PROXY``/``HTTP_PROXY`` unless ``NO_PROXY`` names the host), or None. Only its
    host and port: a proxy URL's user-info is a credential."""
    if args.get("proxy_host"):
        given = int(args.get("proxy_port") or 80)
        return Endpoint(str(args["proxy_host"]), given, "http", "the proxy")
    proxies = urllib.request.getproxies()
    url = proxies.get(ep.protocol) or proxies.get("all")
    if not url or urllib.request.proxy_bypass(ep.host):
        return None
    try:
        parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        port = parts.port
    except ValueError:
        return Endpoint("(unparseable proxy URL)", 0, "http", "the proxy")
    scheme = parts.scheme if parts.scheme in ("http", "https") else "http"
    default_port = 443 if scheme == "https" else 80
    return Endpoint(parts.hostname or "?", port or default_port, scheme, "the proxy")


def proxied(args: Mapping[str, Any], ep: Endpoint) -> bool:
    """True when a proxy carries the connection, so a direct probe would tell nothing."""
    return proxy_of(args, ep) is not None


def secret_values(args: Mapping[str, Any]) -> list[str]:
    """The configured secrets among ``args`` (longest first), to scrub from messages."""
    found = {
        str(v)
        for k, v in args.items()
        # private_key_file is a path, named like a secret but shown in messages on purpose.
        if isinstance(v, str) and v and is_secret_name(str(k)) and k != "private_key_file"
    }
    return sorted(found, key=len, reverse=True)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every configured secret value replaced by ``[redacted]``."""
    for value in secrets:
        text = text.replace(value, _REDACTED)
    return text


def _fail(ep: Endpoint | str, reason: str, detail: str, fix: str) -> SourceConnectError:
    what = ep.name if isinstance(ep, Endpoint) else "Snowflake"
    return SourceConnectError(
        f"cannot connect to {what} at {ep} ({reason}): {detail}", reason=reason, fix=fix
    )


def _resolve(ep: Endpoint, timeout: float) -> list[tuple[Any, ...]]:
    """getaddrinfo, bounded: it has no timeout of its own, so it runs in a daemon thread."""
    result: list[Any] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            result.append(socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_STREAM))
        except Exception as e:  # also UnicodeError: a label IDNA cannot encode
            result.append(e)
        done.set()

    threading.Thread(target=lookup, name="evidence-dns", daemon=True).start()
    if not done.wait(timeout):
        raise _fail(
            ep,
            "DNS",
            f"the resolver did not answer for {ep.host} within {timeout:g} s",
            "check the DNS resolver (/etc/resolv.conf, the cluster's DNS) and host/account",
        )
    answer = result[0]
    if isinstance(answer, socket.gaierror):
        if answer.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            what = "the name does not resolve"
        else:
            what = f"the name could not be resolved ({answer.strerror or answer})"
        raise _fail(
            ep,
            "DNS",
            f"{what}: {ep.host}",
            "check account (the account identifier, e.g. orgname-accountname) or host "
            "in [snowflake]; for PrivateLink, the private DNS zone",
        )
    if isinstance(answer, OSError):
        raise _fail(ep, "DNS", f"cannot resolve {ep.host}: {answer}", _NETWORK_FIX)
    if isinstance(answer, Exception):
        raise _fail(
            ep,
            "DNS",
            f"{ep.host!r} is not a valid host name ({answer})",
            "check account and host in [snowflake]",
        )
    return list(answer)


def _connect(
    ep: Endpoint, addrs: list[tuple[Any, ...]], deadline: float, timeout: float
) -> socket.socket:
    """A TCP connection to the first address that takes one, before ``deadline``."""
    last: OSError | None = None
    for family, kind, proto, _, address in addrs:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock = socket.socket(family, kind, proto)
        sock.settimeout(remaining)
        try:
            sock.connect(address)
            return sock
        except OSError as e:
            sock.close()
            last = e
    if isinstance(last, ConnectionRefusedError):
        raise _fail(
            ep,
            "refused",
            f"nothing accepts connections on port {ep.port} (connection refused)",
            "check host/account and port in [snowflake]; a firewall that rejects "
            "connections looks the same",
        )
    if last is None or isinstance(last, TimeoutError):
        raise _fail(
            ep,
            "timeout",
            f"no answer to the TCP connection within {timeout:g} s (packets dropped: "
            "a firewall, a wrong host or PrivateLink endpoint)",
            _NETWORK_FIX,
        )
    if last.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        raise _fail(ep, "other", f"no route to the host ({last.strerror})", _NETWORK_FIX)
    raise _fail(ep, "other", f"the TCP connection failed: {last.strerror or last}", _NETWORK_FIX)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _handshake(ep: Endpoint, sock: socket.socket, timeout: float) -> None:
    # Liveness only: the connector itself verifies the certificate (and its revocation)
    # with its own trust store; a probe that verified differently could refuse a server
    # the connector accepts.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock.settimeout(timeout)
    try:
        tls = ctx.wrap_socket(sock, server_hostname=None if _is_ip(ep.host) else ep.host)
        tls.close()
    except TimeoutError:
        raise _fail(
            ep,
            "timeout",
            "the host accepted the TCP connection but did not complete the TLS handshake "
            f"within {timeout:g} s (a firewall or a wrong PrivateLink endpoint)",
            _NETWORK_FIX,
        ) from None
    except ssl.SSLError as e:
        detail = f"the TLS handshake failed ({e.reason or e})"
        if e.reason == "WRONG_VERSION_NUMBER":
            detail += ": the server does not speak TLS on this port"
        raise _fail(
            ep,
            "TLS",
            detail,
            'check port and protocol in [snowflake] (protocol = "http" is only for a '
            "local test server)",
        ) from None
    except OSError as e:
        raise _fail(
            ep,
            "TLS",
            f"the connection broke during the TLS handshake: {e.strerror or e}",
            'check protocol ("https") and port in [snowflake]',
        ) from None


def _http_answer(ep: Endpoint, sock: socket.socket, timeout: float) -> None:
    request = (
        f"HEAD / HTTP/1.1\r\nHost: {ep.host}:{ep.port}\r\nUser-Agent: das-evidence\r\n"
        "Connection: close\r\n\r\n"
    )
    sock.settimeout(timeout)
    try:
        sock.sendall(request.encode("ascii"))
        first = sock.recv(64)
    except TimeoutError:
        raise _fail(
            ep,
            "timeout",
            "the host accepted the TCP connection but sent no answer within "
            f"{timeout:g} s (a firewall or a wrong PrivateLink endpoint)",
            _NETWORK_FIX,
        ) from None
    except OSError as e:
        raise _fail(
            ep, "other", f"the connection broke before an answer: {e.strerror or e}", _NETWORK_FIX
        ) from None
    if first.startswith(b"HTTP/"):
        return
    if not first:
        detail = "the server closed the connection without an answer"
    elif first[:1] == b"\x15":  # a TLS alert record: the server expects TLS
        raise _fail(
            ep,
            "TLS",
            "the server speaks TLS, not plain HTTP",
            'set protocol = "https" (or remove protocol) in [snowflake]',
        )
    else:
        detail = "the server answered something that is not HTTP"
    raise _fail(ep, "other", detail, "check host, port and protocol in [snowflake]")


def probe(ep: Endpoint, timeout: float = PROBE_TIMEOUT_S) -> float:
    """Resolve, connect and get a first answer (TLS handshake, or an HTTP status line)
    from ``ep`` within ``timeout`` seconds in all; the seconds it took.

    Raises :class:`SourceConnectError` with the diagnosis. Sends no credential.
    """
    started = time.monotonic()
    deadline = started + timeout
    addrs = _resolve(ep, timeout)
    sock = _connect(ep, addrs, deadline, timeout)
    try:
        remaining = max(deadline - time.monotonic(), 0.1)
        if ep.protocol == "https":
            _handshake(ep, sock, remaining)
        else:
            _http_answer(ep, sock, remaining)
    finally:
        sock.close()
    return time.monotonic() - started


# --- what a failed login means --------------------------------------------------------


def diagnose(
    e: BaseException,
    *,
    target: str,
    args: Mapping[str, Any],
    elapsed: float = 0.0,
) -> SourceConnectError:
    """The diagnosis of an exception the connector raised while logging in."""
    secrets = secret_values(args)
    msg = scrub(str(getattr(e, "msg", None) or e), secrets)
    code = getattr(e, "errno", None)
    role, user = args.get("role"), args.get("user") or "the configured user"
    if isinstance(e, sf_errors.Error):
        if code == _CONNECTOR_ERRNO_TLS or isinstance(
            e, sf_errors.NonRetryableTlsError | sf_errors.RevocationCheckError
        ):
            return _fail(
                target,
                "TLS",
                msg,
                "check host/account and protocol in [snowflake]; a proxy that intercepts "
                "TLS must be trusted by the connector (its CA bundle)",
            )
        if code == _ROLE_NOT_GRANTED:
            return SourceConnectError(
                f"Snowflake at {target} refused the login of {user} (authentication): {msg}",
                reason="authentication",
                fix=f"GRANT ROLE {role} TO USER {user}; or set role in [snowflake] to a role "
                "the user has"
                if role
                else "set role in [snowflake] to a role the user has",
            )
        forbidden = isinstance(e, sf_errors.ForbiddenError)
        if forbidden or (isinstance(code, int) and 390000 <= code < 391000):
            fix = _FORBIDDEN_FIX if forbidden else _AUTH_FIXES.get(code or 0, _AUTH_FIX)
            return SourceConnectError(
                f"Snowflake at {target} refused the login of {user} (authentication): {msg}",
                reason="authentication",
                fix=fix,
            )
        if code == _CONNECTOR_ERRNO_CONNECT:
            login_timeout = int(args.get("login_timeout") or 0)
            if login_timeout and elapsed >= 0.8 * login_timeout:
                return _fail(
                    target,
                    "timeout",
                    f"no answer to the login within login_timeout = {login_timeout} s",
                    _NETWORK_FIX,
                )
            return _fail(target, "other", msg, _NETWORK_FIX + "; --verbose shows each attempt")
        return _fail(target, "other", msg, _NETWORK_FIX)
    if isinstance(e, TimeoutError):
        return _fail(target, "timeout", msg or "timed out", _NETWORK_FIX)
    if isinstance(e, ConnectionRefusedError):
        return _fail(target, "refused", msg, _NETWORK_FIX)
    if isinstance(e, ssl.SSLError):
        return _fail(target, "TLS", msg, _NETWORK_FIX)
    if isinstance(e, socket.gaierror):
        return _fail(target, "DNS", msg, _NETWORK_FIX)
    return _fail(target, "other", msg, _NETWORK_FIX)


# --- the session ----------------------------------------------------------------------


def _through_proxy(e: SourceConnectError, proxy: Endpoint, limit: float) -> SourceConnectError:
    """A connection through a proxy failed: the proxy's own diagnosis, if it is the proxy."""
    fix = (
        "check the proxy: proxy_host and proxy_port in [snowflake], or HTTPS_PROXY / "
        "HTTP_PROXY and NO_PROXY"
    )
    if e.reason == "other":  # failed at once: is the proxy there at all?
        try:
            probe(proxy, limit)
        except SourceConnectError as p:
            return SourceConnectError(p.message, reason=p.reason, fix=fix)
    message = f"{e.message} (through the proxy at {proxy})"
    return SourceConnectError(message, reason=e.reason, fix=e.fix)


def _login(args: dict[str, Any], target: str) -> Any:
    """``snowflake.connector.connect(**args)``, its failures diagnosed."""
    started = time.monotonic()
    try:
        return snowflake.connector.connect(**args)
    except sf_errors.Error as e:
        raise diagnose(e, target=target, args=args, elapsed=time.monotonic() - started) from None
    except OSError as e:
        if e.filename:
            # A private_key_file or connections.toml the connector could not read.
            raise ConfigError(
                f"cannot read {e.filename} for the Snowflake connection to {target}: "
                f"{e.strerror or e}",
                fix="check private_key_file (or connection_name and connections.toml) "
                "in [snowflake]",
            ) from None
        raise diagnose(e, target=target, args=args, elapsed=time.monotonic() - started) from None
    except (TypeError, ValueError) as e:
        detail = scrub(str(e), secret_values(args))
        if "password" in detail.lower() or "decrypt" in detail.lower():
            # A wrong private-key passphrase is a wrong credential (exit 3).
            raise SourceConnectError(
                f"cannot use the Snowflake private key (authentication): {detail}",
                reason="authentication",
                fix="check private_key_file_pwd (EVIDENCE_SNOWFLAKE__PRIVATE_KEY_FILE_PWD)",
            ) from None
        raise ConfigError(
            f"invalid Snowflake connection settings: {detail}",
            fix="check the keys in [snowflake] against the connector's arguments",
        ) from None


class SnowflakeSession:
    """An open connection to one Snowflake account.

    Opening it probes the server first (:func:`probe`; ``preflight=False`` skips
    that, for a caller that just probed), then logs in with the connector. The
    connector's own waits are bounded: each login request's answer by
    ``login_timeout`` (the connector would wait 60 s per request otherwise),
    queries by the connector's defaults again once logged in, whose long polls
    need 45 s and more. Warnings the connector raises while connecting are logged
    at DEBUG, not printed.
    """

    def __init__(self, connector_args: dict[str, Any], *, preflight: bool = True) -> None:
        args = dict(connector_args)
        args["timezone"] = "UTC"
        params = dict(_SESSION_PARAMETERS)
        params.update(args.pop("session_parameters", None) or {})
        args["session_parameters"] = params
        self._role: str | None = args.get("role")
        self._secrets = secret_values(args)
        ep = endpoint_of(args)
        target = str(ep or args.get("account") or args.get("connection_name") or "?")
        login_timeout = int(args.get("login_timeout") or 0)
        proxy = None if ep is None else proxy_of(args, ep)
        limit = min(login_timeout, PROBE_TIMEOUT_S) if login_timeout else PROBE_TIMEOUT_S
        if preflight and ep is not None and proxy is None:
            probe(ep, limit)
        bound_login = login_timeout > 0 and args.get("socket_timeout") is None
        if bound_login:
            args["socket_timeout"] = login_timeout
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                self._conn = _login(args, target)
            except SourceConnectError as e:
                if proxy is None or e.reason not in ("other", "timeout"):
                    raise
                raise _through_proxy(e, proxy, limit) from None
            finally:
                for w in caught:
                    log.debug("snowflake connector warning: %s", w.message)
        if bound_login:
            # Back to the connector's default socket timeout for queries (a private
            # attribute: the connector has no setter, and reads it per request).
            self._conn._socket_timeout = None

    def close(self) -> None:
        try:
            self._conn.close()
        except sf_errors.Error:
            log.debug("ignoring error on close", exc_info=True)

    def __enter__(self) -> SnowflakeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _msg(self, e: BaseException) -> str:
        """The connector's message, without any configured secret."""
        return scrub(str(getattr(e, "msg", None) or e), self._secrets)

    def _cursor(self) -> Any:
        try:
            return self._conn.cursor()
        except sf_errors.Error as e:
            raise CollectorError(
                f"the Snowflake session is unusable: {self._msg(e)}",
                fix="the next run reconnects",
            ) from None

    def identity(self) -> tuple[str, str]:
        """The session's user and role, as the server reports them."""
        cur = self._cursor()
        try:
            cur.execute("SELECT CURRENT_USER(), CURRENT_ROLE()")
            row = cur.fetchone()
        except sf_errors.Error as e:
            raise CollectorError(
                f"cannot read the session's user and role: {self._msg(e)}"
            ) from None
        finally:
            cur.close()
        return (str(row[0]), str(row[1])) if row else ("?", "?")

    def columns(self, view: str) -> list[str]:
        """The column names of ``view`` as the server reports them (a zero-row probe)."""
        cur = self._cursor()
        try:
            cur.execute(f"SELECT * FROM {view} LIMIT 0")
            return [str(d.name).upper() for d in cur.description]
        except sf_errors.Error as e:
            msg = self._msg(e)
            if "warehouse" in msg.lower():
                fix = (
                    "set warehouse in [snowflake], and GRANT USAGE ON WAREHOUSE <warehouse> "
                    f"TO ROLE {self._role or '<role>'}"
                )
            else:
                fix = grant_for(view, self._role)
            raise CollectorError(f"cannot read view {view}: {msg}", fix=fix) from None
        finally:
            cur.close()

    def query_arrow(self, sql: str, params: Sequence[Any]) -> QueryResult:
        """Run ``sql`` with bound ``params`` and stream the result as Arrow batches."""
        cur = self._cursor()
        try:
            cur.execute(sql, tuple(params))
        except sf_errors.Error as e:
            cur.close()
            raise CollectorError(f"query failed: {self._msg(e)}\n  sql: {sql}") from None
        query_id = str(cur.sfqid)

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for table in cur.fetch_arrow_batches():
                    yield from table.to_batches()
            except sf_errors.Error as e:
                raise CollectorError(
                    f"reading the result of query {query_id} failed: {self._msg(e)}"
                ) from None
            except pa.ArrowException as e:
                raise CollectorError(
                    f"the result of query {query_id} cannot be read as Arrow: {e}",
                    fix="the view returned a type the connector cannot convert; report this",
                ) from e
            finally:
                cur.close()

        return QueryResult(query_id, batches())

    def show(self, command: str, *, needs: str) -> tuple[pa.Table, str]:
        """Run a SHOW/DESCRIBE ``command``; its result (see :func:`show_table`) and query id.

        ``needs`` names the privilege the command requires; a failure raises
        :class:`CollectorError` naming it.
        """
        cur = self._cursor()
        try:
            cur.execute(command)
            rows = cur.fetchall()
            description = [(d.name, d.type_code) for d in cur.description or ()]
            query_id = str(cur.sfqid)
        except sf_errors.Error as e:
            raise CollectorError(
                f"cannot run {command}: {self._msg(e)} (the role needs {needs})",
                fix=f"grant the collector's role {self._role or '<role>'} {needs}",
            ) from None
        finally:
            cur.close()
        try:
            return show_table(description, rows), query_id
        except (TypeError, pa.ArrowException) as e:
            raise CollectorError(
                f"the result of {command} (query {query_id}) cannot be archived: {e}",
                fix="the command returned a type the connector cannot convert; report this",
            ) from None

    def count(self, sql: str, params: Sequence[Any]) -> int:
        cur = self._cursor()
        try:
            cur.execute(sql, tuple(params))
            row = cur.fetchone()
        except sf_errors.Error as e:
            raise CollectorError(f"query failed: {self._msg(e)}\n  sql: {sql}") from None
        finally:
            cur.close()
        return int(row[0]) if row else 0
