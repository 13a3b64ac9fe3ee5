"""A fake Snowflake on loopback: fakesnow's HTTP server with ``SNOWFLAKE.ACCOUNT_USAGE`` seeded.

In-process, for the demo and tests::

    with FakeSnowflake() as fake:
        seed_account_usage(fake.duck, end=now)
        conn = snowflake.connector.connect(**fake.connection_args())

Out of process, for integration tests that drive the CLI::

    python -m das_evidence.demo.server --port 0 --days 7

seeds, serves, prints ``READY <port>`` on stdout and runs until SIGTERM/SIGINT.

SHOW/DESCRIBE commands fakesnow lacks are answered from seeded tables
(:mod:`das_evidence.demo.fake_show`), and ``COPY INTO @stage`` unloads write real
Parquet to an S3 stage (:mod:`das_evidence.demo.fake_unload`), both hooked where
fakesnow reads the statement text.

fakesnow keeps its sessions and in-memory DuckDB in module globals, so only one
FakeSnowflake can run per process. This module never imports
``snowflake.connector`` itself (fakesnow does, internally).
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
import time
import warnings
from datetime import UTC, datetime
from types import FrameType, TracebackType
from typing import Any, ClassVar, Self

import duckdb

from das_evidence.demo import fake_show, fake_unload
from das_evidence.demo.account_usage import DATABASE, SCHEMA, create_tables
from das_evidence.demo.seed import seed_account_usage

HOST = "127.0.0.1"
_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 10.0


def _quiet_logging() -> None:
    """Keep fakesnow's per-request INFO lines and DuckDB's Arrow warning out of the output."""
    for name in ("fakesnow", "fakesnow.server", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings(
        "ignore", message="Arrow output on a DB-API result", category=UserWarning
    )


def _remove_stage_dir_at_exit() -> None:
    """fakesnow makes a ``fakesnow_bucket_*`` directory in $TMPDIR when it is imported
    (for stages the demo never uses) and never removes it; remove it when we exit."""
    import atexit
    import shutil

    from fakesnow.transforms import stage

    path = getattr(stage, "LOCAL_BUCKET_PATH", None)
    if isinstance(path, str) and path not in _REMOVE_AT_EXIT:
        _REMOVE_AT_EXIT.add(path)
        atexit.register(shutil.rmtree, path, ignore_errors=True)


_REMOVE_AT_EXIT: set[str] = set()


def _keep_null_timestamps() -> None:
    """fakesnow sends a NULL timestamp as 1970-01-01; real Snowflake sends NULL.

    Its struct encoding drops the validity of the timestamp column. Re-attach it
    (idempotently) so DELETED_ON, EXPIRES_AT and the like stay NULL over HTTP.
    """
    import fakesnow.arrow as fa
    import pyarrow as pa

    original = fa.timestamp_to_sf_struct
    if getattr(original, "_keeps_nulls", False):
        return

    def with_nulls(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        struct = original(ts)
        if ts.null_count == 0:
            return struct
        return pa.StructArray.from_arrays(
            [struct.field(i) for i in range(struct.type.num_fields)],
            fields=list(struct.type),
            mask=ts.is_null(),
        )

    with_nulls._keeps_nulls = True  # type: ignore[attr-defined]
    fa.timestamp_to_sf_struct = with_nulls


def _answer_show_commands() -> None:
    """Answer the SHOW/DESCRIBE commands of :mod:`fake_show` and the ``COPY INTO @stage``
    unloads of :mod:`fake_unload` (idempotently).

    fakesnow's query endpoint parses the statement text (``fakesnow.server.parse_one``,
    which rejects DESCRIBE USER) and then runs it (``FakeSnowflakeCursor.execute``); both
    get the rewritten SELECT for exactly those commands, every other statement is untouched.
    An unload runs its SELECT on the same cursor first, writes the Parquet to the stage,
    and is answered by a SELECT of its DETAILED_OUTPUT rows.
    The parse only classifies the statement, so it is given the rewritten text without a
    database connection at hand; execute rewrites with the cursor's connection, which is
    where a refusal (a missing table) is raised.
    """
    import fakesnow.cursor
    import fakesnow.server as fss
    from fakesnow.cursor import FakeSnowflakeCursor

    execute = FakeSnowflakeCursor.execute
    if getattr(execute, "_answers_show", False):
        return
    server_globals = vars(fss)  # the name query_request looks up at request time
    parse_one = server_globals["parse_one"]

    def parse(sql: str, *args: Any, **kwargs: Any) -> Any:
        if any(c.pattern.match(sql) for c in fake_show.COMMANDS) or fake_unload.matches(sql):
            sql = "SELECT 1"
        return parse_one(sql, *args, **kwargs)

    def run_select(cursor: Any, sql: str) -> Any:
        execute(cursor, sql)
        return cursor._arrow_table  # fakesnow's result of the last statement

    def answering(self: Any, command: str, *args: Any, **kwargs: Any) -> Any:
        if isinstance(command, str):
            answer: str | fake_show.Refusal | None
            if fake_unload.matches(command):
                answer = fake_unload.unload(command, lambda sql: run_select(self, sql))
            else:
                answer = fake_show.rewrite(self._duck_conn, command)
            if isinstance(answer, fake_show.Refusal):
                # The connector's error, as fakesnow raises it (this module imports no
                # connector module itself).
                error: Any = vars(fakesnow.cursor)["snowflake"].connector.errors
                raise error.ProgrammingError(
                    msg=answer.msg, errno=answer.errno, sqlstate=answer.sqlstate
                )
            command = answer or command
        return execute(self, command, *args, **kwargs)

    answering._answers_show = True  # type: ignore[attr-defined]
    server_globals["parse_one"] = parse
    FakeSnowflakeCursor.execute = answering  # type: ignore[method-assign]


class FakeSnowflake:
    """fakesnow's Starlette app under uvicorn on 127.0.0.1, in a daemon thread.

    On enter: a fresh in-memory fakesnow instance, the (empty) ACCOUNT_USAGE tables,
    and a server listening on ``port`` (a free one if ``None`` or 0). On exit the server
    stops and the DuckDB database is closed.
    """

    _active: ClassVar[FakeSnowflake | None] = None
    _active_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, port: int | None = None) -> None:
        self._requested_port = port or 0
        self._port: int | None = None
        self._duck: duckdb.DuckDBPyConnection | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._port is None:
            raise RuntimeError("FakeSnowflake is not running")
        return self._port

    @property
    def duck(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection behind every session: seed it, or alter the tables."""
        if self._duck is None:
            raise RuntimeError("FakeSnowflake is not running")
        return self._duck

    def connection_args(
        self,
        account: str = "ACME_PROD",
        *,
        user: str = "EVIDENCE_COLLECTOR",
        password: str = "fake-password",  # noqa: S107 - the fake accepts any password
    ) -> dict[str, Any]:
        """Keyword arguments for ``snowflake.connector.connect`` that reach this server."""
        return {
            "user": user,
            "password": password,
            "account": account,
            "host": HOST,
            "port": self.port,
            "protocol": "http",
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            "timezone": "UTC",
        }

    def start(self) -> Self:
        """Create the fakesnow instance and tables, then serve; returns once listening."""
        with FakeSnowflake._active_lock:
            if FakeSnowflake._active is not None:
                raise RuntimeError("a FakeSnowflake is already running in this process")
            FakeSnowflake._active = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        import fakesnow.server as fss
        import uvicorn
        from fakesnow.instance import FakeSnow

        _quiet_logging()
        _keep_null_timestamps()
        _answer_show_commands()
        _remove_stage_dir_at_exit()
        # A fresh instance per FakeSnowflake: login_request reads the module global at request
        # time, so every session of this server shares this database.
        instance = FakeSnow()
        fss.shared_fs = instance
        fss.sessions.clear()
        # Going through fakesnow creates the database with its information-schema bookkeeping.
        instance.connect(DATABASE, SCHEMA).close()
        self._duck = instance.duck_conn
        # Sessions run on cursors of this connection: none may draw a progress bar on stdout.
        self._duck.execute("SET enable_progress_bar = false")  # cursors inherit it
        create_tables(self._duck)
        fake_show.create_show_tables(self._duck)

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self._requested_port))
        self._socket = sock
        self._port = int(sock.getsockname()[1])

        config = uvicorn.Config(
            fss.app,
            host=HOST,
            port=self._port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        self._server = server
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="fake-snowflake", daemon=True
        )
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"fake Snowflake server on port {self._port} failed to start")
            if time.monotonic() > deadline:
                raise RuntimeError(f"fake Snowflake server on port {self._port} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and release the database. Safe to call more than once."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=_STOP_TIMEOUT_S)
        if self._socket is not None:
            self._socket.close()
        if self._duck is not None:
            self._duck.close()
        self._server = self._thread = self._socket = self._duck = None
        self._port = None
        with FakeSnowflake._active_lock:
            if FakeSnowflake._active is self:
                FakeSnowflake._active = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _parse_end(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    end = datetime.fromisoformat(text)
    return end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)


def main(argv: list[str] | None = None) -> int:
    """Seed, serve, print ``READY <port>``, and run until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m das_evidence.demo.server",
        description="Serve a fake Snowflake with seeded SNOWFLAKE.ACCOUNT_USAGE views.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument("--days", type=int, default=7, help="days of history to seed")
    parser.add_argument("--end", help="end of the seeded window, ISO 8601 (default: now, UTC)")
    parser.add_argument("--access-rows-per-day", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    with FakeSnowflake(args.port) as fake:
        seed_account_usage(
            fake.duck,
            end=_parse_end(args.end),
            days=args.days,
            access_rows_per_day=args.access_rows_per_day,
            seed=args.seed,
        )
        sys.stdout.write(f"READY {fake.port}\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
