"""Result values as JSON, CSV and table text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import polars as pl

from das_evidence.query.output import cell, csv_text, json_rows, printable


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "t": [datetime(2026, 11, 20, 1, 2, 3, 450000, tzinfo=UTC), None],
            "d": [date(2026, 11, 20), None],
            "l": [[1, 2], None],
            "s": [{"a": "x", "b": None}, None],
            "b": [True, None],
            "text": ['say "hi", then\nleave', None],
        }
    )


def test_json_rows_keep_nested_values_and_write_rfc3339() -> None:
    assert json_rows(_frame()) == [
        {
            "t": "2026-11-20T01:02:03.450000Z",
            "d": "2026-11-20",
            "l": [1, 2],
            "s": {"a": "x", "b": None},
            "b": True,
            "text": 'say "hi", then\nleave',
        },
        {"t": None, "d": None, "l": None, "s": None, "b": None, "text": None},
    ]


def test_csv_round_trips_quotes_and_new_lines_and_writes_nested_values_as_json() -> None:
    rows = list(csv.reader(io.StringIO(csv_text(_frame()), newline="")))
    assert rows == [
        ["t", "d", "l", "s", "b", "text"],
        ["2026-11-20T01:02:03.450000Z", "2026-11-20", "[1, 2]", '{"a": "x", "b": null}', "true",
         'say "hi", then\nleave'],
        ["", "", "", "", "", ""],
    ]  # fmt: skip


def test_cells_and_printable_text() -> None:
    assert cell(None) is None and cell(False) == "false"
    assert printable("a\x1b[31mb\u202ec\x00\nd\te") == "a\\x1b[31mb\\u202ec\\x00\nd\te"
    assert printable("Zoë 名前") == "Zoë 名前"
