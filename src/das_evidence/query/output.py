"""A query result as JSON rows, CSV or table cells: one conversion of values for all three.

Times are RFC 3339 UTC (``timefmt.rfc3339``), dates ISO 8601, lists and structs
JSON text in CSV and table cells (JSON output keeps them as arrays and
objects), bytes hex, NULL ``null`` in JSON and empty in CSV. Table cells are
also made :func:`printable`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from das_evidence.timefmt import rfc3339


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: str, int, float, bool, None, list or dict."""
    if isinstance(value, datetime):
        return rfc3339(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def cell(value: Any) -> str | None:
    """One value as text for CSV and the table; None for NULL."""
    value = plain(value)
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def printable(text: str) -> str:
    """``text`` safe for a terminal: control and format characters (escape sequences, bidi
    overrides) shown as ``\\xNN`` / ``\\uNNNN``, new lines and tabs kept. Evidence holds text
    that others wrote (query text, user names); a table must not let it drive the terminal."""
    return "".join(
        ch
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf")
        else (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        for ch in text
    )


def json_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The rows as a list of objects, columns in result order."""
    return [{k: plain(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def csv_text(frame: pl.DataFrame) -> str:
    """RFC 4180 CSV with a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(frame.columns)
    for row in frame.iter_rows():
        writer.writerow(["" if (c := cell(v)) is None else c for v in row])
    return out.getvalue()
