"""Deterministic Parquet: the same rows always give the same bytes.

Writer settings are fixed, no wall-clock metadata is written, and rows are
re-chunked into row groups of exactly :data:`ROW_GROUP_ROWS` rows, so the
batch boundaries a server happens to send do not change the file. Batches are
streamed: at most one row group is held in memory, and the bytes are hashed as
they are written (:attr:`DeterministicParquetWriter.sha256`), so a file is never
read back to be digested. :class:`ParquetParts` splits one stream of rows into
files of a bounded size, cut between row groups.

pyarrow's errors (and the OSErrors of the spool file) are wrapped here into
:class:`~das_evidence.errors.CollectorError` naming the file, for the
collectors that write Parquet and the runner that reads archived Parquet back.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from das_evidence.errors import CollectorError

ROW_GROUP_ROWS = 65_536

_WRITER_OPTIONS = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
}

#: What pyarrow raises for bytes or rows it cannot handle, and for the file beneath.
PARQUET_ERRORS = (pa.ArrowException, OSError)


def _write_failed(path: Path, e: Exception) -> CollectorError:
    return CollectorError(
        f"cannot write {path} as Parquet: {type(e).__name__}: {e}",
        fix="check the spool directory (TMPDIR) has space; if it has, report this",
    )


class _HashingFile:
    """The file beneath the writer: every byte written is also hashed and counted."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._file.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._file.close()


class DeterministicParquetWriter:
    """Stream record batches of one pinned schema into a Parquet file.

    After :meth:`close`, :attr:`sha256` and :attr:`size` are those of the bytes written.
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._sha256: str | None = None
        try:
            self._file = _HashingFile(path)
        except OSError as e:
            raise _write_failed(path, e) from e
        try:
            self._writer = pq.ParquetWriter(self._file, schema, **_WRITER_OPTIONS)
        except PARQUET_ERRORS as e:
            self._file.close()
            raise _write_failed(path, e) from e

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the file, once closed."""
        if self._sha256 is None:
            raise RuntimeError(f"{self.path} is still being written")
        return self._sha256

    @property
    def size(self) -> int:
        """Bytes written so far (the file's size, once closed)."""
        return self._file.size

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        try:
            self._pending.append(batch)
            self._pending_rows += batch.num_rows
            while self._pending_rows >= ROW_GROUP_ROWS:
                table = pa.Table.from_batches(self._pending, schema=self.schema)
                self._writer.write_table(
                    table.slice(0, ROW_GROUP_ROWS), row_group_size=ROW_GROUP_ROWS
                )
                rest = table.slice(ROW_GROUP_ROWS)
                self._pending = rest.combine_chunks().to_batches() if rest.num_rows else []
                self._pending_rows = rest.num_rows
                self.rows += ROW_GROUP_ROWS
        except PARQUET_ERRORS as e:
            raise _write_failed(self.path, e) from e

    def close(self) -> int:
        """Flush the last row group and close; returns the number of rows written."""
        try:
            if self._pending_rows:
                table = pa.Table.from_batches(self._pending, schema=self.schema)
                self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
                self.rows += self._pending_rows
                self._pending, self._pending_rows = [], 0
            self._writer.close()
            self._file.close()
        except PARQUET_ERRORS as e:
            self._file.close()
            raise _write_failed(self.path, e) from e
        self._sha256 = self._file.digest.hexdigest()
        return self.rows

    def __enter__(self) -> DeterministicParquetWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            # The error already on its way out says more than one from closing.
            with contextlib.suppress(*PARQUET_ERRORS):
                self._writer.close()
            with contextlib.suppress(OSError):
                self._file.close()


#: Room left in a part for its footer (the row groups' metadata) when deciding to cut.
FOOTER_ALLOWANCE = 1 << 20


@dataclass(frozen=True)
class ParquetPart:
    """One file written by :class:`ParquetParts`: its path, rows, size and SHA-256."""

    path: Path
    rows: int
    size: int
    sha256: str


class ParquetParts:
    """Stream record batches into deterministic Parquet parts of at most ``max_bytes``.

    Rows are fed to a :class:`DeterministicParquetWriter` up to each row-group
    boundary; after a row group is written, the part is closed when the next one
    (estimated as the largest so far) and a footer would take it past
    ``max_bytes``, and the following rows go to a new part. A part holds at
    least one row group, so only a single row group larger than ``max_bytes``
    makes a larger file. Rows that fit in one part give the bytes a single
    :class:`DeterministicParquetWriter` gives; no rows give one zero-row part.
    ``path_for(n)`` names the n-th part (from 1) in the spool.
    """

    def __init__(self, path_for: Callable[[int], Path], schema: pa.Schema, max_bytes: int) -> None:
        self.schema = schema
        self.parts: list[ParquetPart] = []
        self._path_for = path_for
        self._max_bytes = max_bytes
        self._writer: DeterministicParquetWriter | None = None
        self._in_group = 0
        self._largest_group = 0
        self._size = 0

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts) + (self._writer.rows if self._writer else 0)

    def _open(self) -> DeterministicParquetWriter:
        if self._writer is None:
            self._writer = DeterministicParquetWriter(
                self._path_for(len(self.parts) + 1), self.schema
            )
            self._size = 0
        return self._writer

    def _row_group_written(self, writer: DeterministicParquetWriter) -> None:
        size = writer.size
        self._largest_group = max(self._largest_group, size - self._size)
        self._size = size
        if size + self._largest_group + FOOTER_ALLOWANCE > self._max_bytes:
            self._close_part()

    def _close_part(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        rows = writer.close()  # hashed as written: the part is never read back
        self.parts.append(ParquetPart(writer.path, rows, writer.size, writer.sha256))

    def write(self, batch: pa.RecordBatch) -> None:
        offset = 0
        while offset < batch.num_rows:
            take = min(batch.num_rows - offset, ROW_GROUP_ROWS - self._in_group)
            writer = self._open()
            writer.write(batch.slice(offset, take))
            offset += take
            self._in_group += take
            if self._in_group == ROW_GROUP_ROWS:
                self._in_group = 0
                self._row_group_written(writer)

    def close(self) -> list[ParquetPart]:
        """Close the last part; every part written, in order (one, of zero rows, if none)."""
        if self._writer is not None or not self.parts:
            self._open()
            self._close_part()
        return self.parts

    def discard(self) -> None:
        """Remove every part written so far (after an error)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(CollectorError):
                writer.close()
            writer.path.unlink(missing_ok=True)
        for part in self.parts:
            part.path.unlink(missing_ok=True)


def parquet_rows(path: Path) -> int:
    """Row count from a Parquet footer, without reading the data."""
    try:
        return int(pq.ParquetFile(str(path)).metadata.num_rows)
    except PARQUET_ERRORS as e:
        raise CollectorError(f"cannot read {path} as Parquet: {type(e).__name__}: {e}") from e


def read_parquet(data: bytes, name: str, columns: Sequence[str] | None = None) -> pa.Table:
    """Archived Parquet bytes as a table; ``name`` is the file's archive path, for the message."""
    try:
        return pq.read_table(io.BytesIO(data), columns=list(columns) if columns else None)
    except PARQUET_ERRORS as e:
        raise CollectorError(
            f"archived file {name} cannot be read as Parquet: {type(e).__name__}: {e}",
            fix="run `evidence verify` on the archive",
        ) from e


def read_rows(path: Path, rows: pa.Array) -> pa.Table:
    """The rows of the Parquet file ``path`` at the (0-based) indices ``rows``, in that
    order, reading only the row groups that hold them: memory follows the rows asked for
    and one row group, not the file."""
    import pyarrow.compute as pc

    try:
        f = pq.ParquetFile(str(path))
        wanted = pc.cast(rows, pa.int64())
        parts: list[pa.Table] = []
        positions: list[pa.Array] = []
        start = 0
        for group in range(f.metadata.num_row_groups):
            count = f.metadata.row_group(group).num_rows
            inside = pc.and_(pc.greater_equal(wanted, start), pc.less(wanted, start + count))
            where = pc.indices_nonzero(inside)
            if len(where):
                local = pc.subtract(pc.take(wanted, where), start)
                parts.append(f.read_row_group(group).take(local))
                positions.append(where)
            start += count
        if len(wanted) and sum(len(p) for p in positions) != len(wanted):
            raise pa.ArrowInvalid(f"row index out of range (the file has {start} rows)")
        if not parts:
            return f.schema_arrow.empty_table()
        table = pa.concat_tables(parts)
        # Back to the order asked for: position i of ``table`` holds ``rows[order[i]]``.
        order = pa.chunked_array(positions).combine_chunks()
        return table.take(pc.sort_indices(order))
    except PARQUET_ERRORS as e:
        raise CollectorError(f"cannot read {path} as Parquet: {type(e).__name__}: {e}") from e


def read_parquet_rows(data: bytes, name: str) -> int:
    """Row count of archived Parquet bytes, from the footer."""
    try:
        return int(pq.ParquetFile(io.BytesIO(data)).metadata.num_rows)
    except PARQUET_ERRORS as e:
        raise CollectorError(
            f"archived file {name} cannot be read as Parquet: {type(e).__name__}: {e}",
            fix="run `evidence verify` on the archive",
        ) from e
