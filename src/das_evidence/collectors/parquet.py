"""Deterministic Parquet: the same rows always give the same bytes.

Writer settings are fixed, no wall-clock metadata is written, and rows are
re-chunked into row groups of exactly :data:`ROW_GROUP_ROWS` rows, so the
batch boundaries a server happens to send do not change the file. Batches are
streamed: at most one row group is held in memory.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 65_536

_WRITER_OPTIONS = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
}


class DeterministicParquetWriter:
    """Stream record batches of one pinned schema into a Parquet file."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._writer = pq.ParquetWriter(str(path), schema, **_WRITER_OPTIONS)

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        while self._pending_rows >= ROW_GROUP_ROWS:
            table = pa.Table.from_batches(self._pending, schema=self.schema)
            self._writer.write_table(table.slice(0, ROW_GROUP_ROWS), row_group_size=ROW_GROUP_ROWS)
            rest = table.slice(ROW_GROUP_ROWS)
            self._pending = rest.combine_chunks().to_batches() if rest.num_rows else []
            self._pending_rows = rest.num_rows
            self.rows += ROW_GROUP_ROWS

    def close(self) -> int:
        """Flush the last row group and close; returns the number of rows written."""
        if self._pending_rows:
            table = pa.Table.from_batches(self._pending, schema=self.schema)
            self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            self.rows += self._pending_rows
            self._pending, self._pending_rows = [], 0
        self._writer.close()
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
            self._writer.close()


def parquet_rows(path: Path) -> int:
    """Row count from a Parquet footer, without reading the data."""
    return int(pq.ParquetFile(str(path)).metadata.num_rows)
