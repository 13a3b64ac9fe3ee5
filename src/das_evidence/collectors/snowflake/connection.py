"""The one module that imports ``snowflake.connector``.

Everything Snowflake-specific about talking to a server lives here: opening a
UTC session, probing a view's columns, running a bounded query and streaming
its result as Arrow batches. Connector exceptions are wrapped into
:class:`~das_evidence.errors.CollectorError` before they leave.

fakesnow (the local server used by the demo and tests) lacks some statements:
the session time zone is therefore passed as the ``timezone`` connection
argument instead of ``ALTER SESSION SET TIMEZONE``, and the account is taken
from configuration instead of ``CURRENT_ACCOUNT()``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import snowflake.connector
from snowflake.connector import errors as sf_errors

from das_evidence.errors import CollectorError, ConfigError

log = logging.getLogger(__name__)

# Telemetry would try to reach Snowflake's servers; evidence collection sends nothing extra.
_SESSION_PARAMETERS = {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False, "TIMEZONE": "UTC"}


@dataclass(frozen=True)
class QueryResult:
    """A running query: its Snowflake query id and its rows as a stream of Arrow batches."""

    query_id: str
    batches: Iterator[pa.RecordBatch]


class SnowflakeSession:
    """An open connection to one Snowflake account."""

    def __init__(self, connector_args: dict[str, Any]) -> None:
        args = dict(connector_args)
        args["timezone"] = "UTC"
        params = dict(_SESSION_PARAMETERS)
        params.update(args.pop("session_parameters", None) or {})
        args["session_parameters"] = params
        target = args.get("host") or args.get("account") or args.get("connection_name")
        try:
            self._conn = snowflake.connector.connect(**args)
        except (sf_errors.ProgrammingError, sf_errors.DatabaseError) as e:
            # A wrong credential: the source cannot be reached as configured (exit 3).
            raise CollectorError(
                f"Snowflake refused the login to {target}: {e.msg}",
                fix="check user and password, private_key_file (and private_key_file_pwd), "
                "token with authenticator = 'oauth', or connection_name in [snowflake]",
            ) from None
        except sf_errors.Error as e:
            raise CollectorError(
                f"cannot connect to Snowflake at {target}: {getattr(e, 'msg', e)}",
                fix="check host/account and the network; the next run retries",
            ) from None
        except OSError as e:
            if e.filename:
                # A private_key_file or connections.toml the connector could not read.
                raise ConfigError(
                    f"cannot read {e.filename} for the Snowflake connection to {target}: "
                    f"{e.strerror or e}",
                    fix="check private_key_file (or connection_name and connections.toml) "
                    "in [snowflake]",
                ) from None
            raise CollectorError(
                f"cannot connect to Snowflake at {target}: {e.strerror or e}",
                fix="check host/account and the network; the next run retries",
            ) from None
        except (TypeError, ValueError) as e:
            if "password" in str(e).lower() or "decrypt" in str(e).lower():
                # A wrong private-key passphrase is a wrong credential (exit 3).
                raise CollectorError(
                    f"cannot use the Snowflake private key: {e}",
                    fix="check private_key_file_pwd (EVIDENCE_SNOWFLAKE__PRIVATE_KEY_FILE_PWD)",
                ) from None
            raise ConfigError(
                f"invalid Snowflake connection settings: {e}",
                fix="check the keys in [snowflake] against the connector's arguments",
            ) from None

    def close(self) -> None:
        try:
            self._conn.close()
        except sf_errors.Error:
            log.debug("ignoring error on close", exc_info=True)

    def __enter__(self) -> SnowflakeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _cursor(self) -> Any:
        try:
            return self._conn.cursor()
        except sf_errors.Error as e:
            raise CollectorError(
                f"the Snowflake session is unusable: {getattr(e, 'msg', e)}",
                fix="the next run reconnects",
            ) from None

    def columns(self, view: str) -> list[str]:
        """The column names of ``view`` as the server reports them (a zero-row probe)."""
        cur = self._cursor()
        try:
            cur.execute(f"SELECT * FROM {view} LIMIT 0")
            return [str(d.name).upper() for d in cur.description]
        except sf_errors.Error as e:
            raise CollectorError(
                f"cannot read view {view}: {getattr(e, 'msg', e)}",
                fix="grant the collector role IMPORTED PRIVILEGES on database SNOWFLAKE",
            ) from None
        finally:
            cur.close()

    def query_arrow(self, sql: str, params: Sequence[Any]) -> QueryResult:
        """Run ``sql`` with bound ``params`` and stream the result as Arrow batches."""
        cur = self._cursor()
        try:
            cur.execute(sql, tuple(params))
        except sf_errors.Error as e:
            cur.close()
            raise CollectorError(f"query failed: {getattr(e, 'msg', e)}\n  sql: {sql}") from None
        query_id = str(cur.sfqid)

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for table in cur.fetch_arrow_batches():
                    yield from table.to_batches()
            except sf_errors.Error as e:
                raise CollectorError(
                    f"reading the result of query {query_id} failed: {getattr(e, 'msg', e)}"
                ) from None
            except pa.ArrowException as e:
                raise CollectorError(
                    f"the result of query {query_id} cannot be read as Arrow: {e}",
                    fix="the view returned a type the connector cannot convert; report this",
                ) from e
            finally:
                cur.close()

        return QueryResult(query_id, batches())

    def count(self, sql: str, params: Sequence[Any]) -> int:
        cur = self._cursor()
        try:
            cur.execute(sql, tuple(params))
            row = cur.fetchone()
        except sf_errors.Error as e:
            raise CollectorError(f"query failed: {getattr(e, 'msg', e)}\n  sql: {sql}") from None
        finally:
            cur.close()
        return int(row[0]) if row else 0
