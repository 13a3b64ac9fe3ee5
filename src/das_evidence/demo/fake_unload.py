"""``COPY INTO @stage`` for the fake Snowflake: real Parquet written to an S3 stage.

fakesnow has no external stages and no unload. This module answers exactly the
statement the server-side unload collector sends
(``collectors.snowflake.unload.UnloadCollector.copy_sql``)::

    COPY INTO @<stage>/<path> FROM (<SELECT ...>)
      FILE_FORMAT = (TYPE = PARQUET) HEADER = TRUE OVERWRITE = FALSE
      MAX_FILE_SIZE = <bytes> DETAILED_OUTPUT = TRUE

by running the SELECT on the fake (through fakesnow, so its Snowflake SQL is
translated as for any query), writing the result as Parquet files of at most about
``MAX_FILE_SIZE`` bytes under the stage's URL (an ``s3://`` prefix, on moto in the
tests and the demo), and answering with the rows Snowflake documents for
``DETAILED_OUTPUT = TRUE``: ``FILE_NAME`` (the path under the stage), ``FILE_SIZE``
and ``ROW_COUNT``, one per file (none when the SELECT returns no row).

A stage exists once :func:`register_stage` names it (``CREATE STAGE ... URL =``
with a storage integration, on a real account). A stage not registered fails as
Snowflake fails a role without USAGE on it: ``002003 Stage '...' does not exist or
not authorized``; so does a registered stage after :func:`deny`. As on Snowflake
with ``OVERWRITE = FALSE``, a path that already holds files is refused.

What the fake does not reproduce (a real account must confirm it): the Parquet
types Snowflake writes (its NUMBER, TIMESTAMP_LTZ and VARIANT encodings; here,
DuckDB's types through pyarrow), its file naming, and how closely files keep to
MAX_FILE_SIZE.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from das_evidence.aws import make_client
from das_evidence.demo.fake_show import Refusal

_COPY: Final = re.compile(
    r"^\s*COPY\s+INTO\s+@(?P<stage>[^\s/]+)(?:/(?P<path>\S*))?\s+"
    r"FROM\s+\((?P<select>.*?)\)\s+(?P<options>FILE_FORMAT\s*=.*?)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_MAX_FILE_SIZE: Final = re.compile(r"\bMAX_FILE_SIZE\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Stage:
    """An external stage: its ``s3://bucket/prefix/`` URL and the S3 endpoint to reach it."""

    url: str
    endpoint_url: str | None = None


_STAGES: dict[str, Stage] = {}
_lock = threading.Lock()


def _normal(name: str) -> str:
    """A stage name as Snowflake resolves it: unquoted parts upper-cased, no ``@``."""
    parts = re.findall(r'"(?:[^"]|"")+"|[^.]+', name.removeprefix("@"))
    return ".".join(p[1:-1].replace('""', '"') if p.startswith('"') else p.upper() for p in parts)


def register_stage(name: str, url: str, *, endpoint_url: str | None = None) -> None:
    """Create the external stage ``name`` (``DB.SCHEMA.STAGE``) on ``url`` (``s3://b/p/``)."""
    with _lock:
        _STAGES[_normal(name)] = Stage(url if url.endswith("/") else url + "/", endpoint_url)


def deny(name: str) -> None:
    """Play a role without USAGE on the stage ``name`` (or a stage that does not exist)."""
    with _lock:
        _STAGES.pop(_normal(name), None)


def matches(command: str) -> bool:
    """Whether ``command`` is a ``COPY INTO @stage ... FROM (SELECT ...)`` this module answers."""
    return _COPY.match(command) is not None


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _parquet_files(table: pa.Table, max_file_size: int) -> list[tuple[bytes, int]]:
    """``table`` as Parquet files of about ``max_file_size`` bytes at most, with row counts."""
    if table.num_rows == 0:
        return []
    per_row = max(1, table.nbytes // table.num_rows)
    rows_per_file = max(1, max_file_size // per_row)
    files = []
    for start in range(0, table.num_rows, rows_per_file):
        part = table.slice(start, rows_per_file)
        sink = io.BytesIO()
        pq.write_table(part, sink, compression="snappy")
        files.append((sink.getvalue(), part.num_rows))
    return files


def unload(command: str, run_select: Callable[[str], pa.Table]) -> str | Refusal:
    """Write the result of the COPY's SELECT to the stage; the SELECT (for fakesnow to run)
    that returns the DETAILED_OUTPUT rows, or the :class:`Refusal` Snowflake would give."""
    match = _COPY.match(command)
    if match is None:
        raise ValueError("not a COPY INTO @stage statement")
    name = _normal(match.group("stage"))
    with _lock:
        stage = _STAGES.get(name)
    if stage is None:
        return Refusal(
            f"SQL compilation error:\nStage '{name}' does not exist or not authorized.",
            2003,
            "02000",
        )
    path = match.group("path") or ""
    size_match = _MAX_FILE_SIZE.search(match.group("options"))
    max_file_size = int(size_match.group(1)) if size_match else 16 * 1024**2
    bucket, _, prefix = stage.url.removeprefix("s3://").partition("/")
    s3 = make_client("s3", endpoint_url=stage.endpoint_url)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + path, MaxKeys=1)
    if listed.get("KeyCount", 0):
        return Refusal(
            f"Files already existing at the unload destination: @{name}/{path}. "
            "Use overwrite option to force unloading.",
            3008,
            "22000",
        )
    table = run_select(match.group("select"))
    rows = []
    for i, (body, count) in enumerate(_parquet_files(table, max_file_size)):
        file_name = f"{path}data_0_0_{i}.snappy.parquet"
        s3.put_object(Bucket=bucket, Key=prefix + file_name, Body=body)
        rows.append(f"({_literal(file_name)}, {len(body)}, {count})")
    if not rows:
        return (
            "SELECT 'none' AS FILE_NAME, 0 AS FILE_SIZE, 0 AS ROW_COUNT "
            "FROM (SELECT 1) AS t WHERE 1 = 0"
        )
    return (
        f"SELECT column1 AS FILE_NAME, column2 AS FILE_SIZE, column3 AS ROW_COUNT "
        f"FROM (VALUES {', '.join(rows)})"
    )
