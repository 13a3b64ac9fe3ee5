"""How a check's JSON values read in the report's tables: human cells, never raw JSON.

A finding is a JSON object (``CheckResult.findings``); the JSON report keeps it as
it is. The HTML and Markdown reports show it as a table row of :class:`Cell`:

- a time (RFC 3339) as ``2026-11-21 15:36:00 UTC``, the exact value kept beside it;
- a number right-aligned, a bool as yes/no, ``None`` as a dash;
- a short list inline (``PHONE, SSN``); a long one as a count (``40 event IDs``)
  whose items expand under it;
- an object as ``key: value`` pairs; an object naming a log entry (``{"entry": 8,
  "path": ...}``) as a link to that entry.

Each row also gets the log entries behind it (:func:`row_entries`), shown as links.
Nothing here reads evidence or the clock: the same values give the same cells.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from das_evidence.reports.model import EvidenceRef
from das_evidence.timefmt import parse_signed

INLINE_ITEMS = 8  # a list of at most this many short items is written out in its cell
INLINE_CHARS = 64  # ... when they fit in this many characters, ", "-joined
EVIDENCE_KEY = "evidence"  # a finding's own evidence: {"entry", "path"} or a list of them
ENTRY_KEYS = ("entry", "last_entry")  # other keys whose integer value is a log entry
DASH = "—"
EVIDENCE_HEADER = "Log entries"

# Words a header spells in capitals (or otherwise) rather than capitalised.
_WORDS = {
    "id": "ID",
    "ids": "IDs",
    "ip": "IP",
    "ips": "IPs",
    "mfa": "MFA",
    "phi": "PHI",
    "pii": "PII",
    "dbt": "dbt",
    "sha256": "SHA-256",
    "url": "URL",
    "utc": "UTC",
}
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def entry_href(index: int) -> str:
    """The signed statement of one log entry, relative to the root of a pack."""
    return f"entries/{index:012d}.dsse.json"


def header(key: str) -> str:
    """``client_ips`` -> ``Client IPs``; ``as_of`` -> ``As of``."""
    words = [_WORDS.get(w.lower(), w.lower()) for w in key.split("_") if w]
    if not words:
        return key
    first = words[0]
    words[0] = first if first in _WORDS.values() else first[:1].upper() + first[1:]
    return " ".join(words)


def _noun(key: str) -> str:
    """What a list under ``key`` holds, for its count: ``event_ids`` -> ``event IDs``."""
    words = [_WORDS.get(w.lower(), w.lower()) for w in key.split("_") if w]
    return " ".join(words) if words and key.endswith("s") else "items"


def human_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Link:
    text: str
    href: str
    title: str = ""


@dataclass(frozen=True)
class Cell:
    """One table cell: ``text``, and what the renderers draw around it.

    ``items`` is a long list, summarised by ``text`` and shown expandable; ``runs``
    are entry links, a run of consecutive entries as its first and last (``0–6``);
    ``time`` is the exact RFC 3339 value of a time, ``text`` its date and time.
    """

    text: str
    items: tuple[str, ...] = ()
    runs: tuple[tuple[Link, ...], ...] = ()
    numeric: bool = False
    time: str = ""
    noun: bool = True  # entry links say "entry" / "entries" before the numbers

    @property
    def links(self) -> tuple[Link, ...]:
        return tuple(link for run in self.runs for link in run)

    @property
    def words(self) -> list[str]:
        """``text`` split where a line may break (a date and its time stay whole)."""
        return self.text.split(" ", 1) if self.time else [self.text]


def text_of(value: Any) -> str:
    """Any JSON value as one line a person reads."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e15 else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return human_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        t = parse_signed(value) if _RFC3339.match(value) else None
        return human_time(t) if t is not None else value
    if isinstance(value, Mapping):
        if _entry_of(value) is not None:
            return _ref_text(value)
        return "; ".join(f"{k}: {text_of(v)}" for k, v in value.items()) or DASH
    if isinstance(value, list | tuple):
        return ", ".join(text_of(v) for v in value) or "none"
    return str(value)


def _entry_of(value: Any) -> int | None:
    if isinstance(value, Mapping):
        e = value.get("entry")
        if isinstance(e, int) and not isinstance(e, bool):
            return e
    return None


def _ref_text(value: Mapping[str, Any]) -> str:
    rest = {k: v for k, v in value.items() if k not in ("entry", "path")}
    extra = f" ({text_of(rest)})" if rest else ""
    return f"entry {value['entry']}{extra}"


def entries_cell(entries: Mapping[int, Sequence[str]], *, noun: bool = True) -> Cell:
    """Links to log entries, consecutive ones as a range: ``entries 0–6, 14``.

    ``entries`` maps each entry to the files of it the row rests on (a link's title);
    without ``noun`` the text is only the numbers, for a column that says what they are.
    """
    if not entries:
        return Cell(DASH)
    ordered = sorted(entries)
    runs: list[list[int]] = []
    for e in ordered:
        if runs and e == runs[-1][-1] + 1:
            runs[-1].append(e)
        else:
            runs.append([e])

    def link(e: int) -> Link:
        return Link(str(e), entry_href(e), "\n".join(entries[e]))

    text = ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)
    if noun:
        text = ("entry " if len(ordered) == 1 else "entries ") + text
    return Cell(
        text,
        noun=noun,
        runs=tuple((link(r[0]),) if len(r) == 1 else (link(r[0]), link(r[-1])) for r in runs),
    )


def cell(key: str, value: Any) -> Cell:
    """The cell of ``value`` in the column ``key``."""
    if key in ENTRY_KEYS and isinstance(value, int) and not isinstance(value, bool):
        return entries_cell({value: []})
    if isinstance(value, bool) or value is None:
        return Cell(text_of(value))
    if isinstance(value, int | float):
        return Cell(text_of(value), numeric=True)
    if isinstance(value, str):
        t = parse_signed(value) if _RFC3339.match(value) else None
        if t is not None:
            return Cell(human_time(t), time=value)
        return Cell(value)
    if isinstance(value, Mapping):
        if _entry_of(value) is not None:
            return entries_cell(_refs_in(value))
        pairs = [f"{k}: {text_of(v)}" for k, v in value.items()]
        return _listed(pairs, _noun(key) if key.endswith("s") else "fields")
    if isinstance(value, list | tuple):
        if value and all(_entry_of(v) is not None for v in value):
            return entries_cell(_refs_in(value))
        return _listed([text_of(v) for v in value], _noun(key))
    return Cell(str(value))


def _listed(items: list[str], noun: str) -> Cell:
    if not items:
        return Cell("none")
    if len(items) <= INLINE_ITEMS and sum(len(i) + 2 for i in items) <= INLINE_CHARS + 2:
        return Cell(", ".join(items))
    return Cell(f"{len(items)} {noun}", items=tuple(items))


def _refs_in(value: Any) -> dict[int, list[str]]:
    """Entry -> files named by every ``{"entry", "path"}`` object in ``value``."""
    out: dict[int, list[str]] = {}
    for v in value if isinstance(value, list | tuple) else [value]:
        e = _entry_of(v)
        if e is None:
            continue
        paths = out.setdefault(e, [])
        path = v.get("path")
        if isinstance(path, str) and path not in paths:
            paths.append(path)
    return out


def row_entries(row: Mapping[str, Any], check_refs: Sequence[EvidenceRef]) -> dict[int, list[str]]:
    """The log entries one finding rests on, each with its files.

    In order of preference: the row's own ``evidence``; entries it names elsewhere
    (``last_entry``, ``seen_in: [{"entry": ...}]``); the check's evidence files under
    the row's ``stream``; the check's evidence when it all comes from one entry.
    Empty when none of these says which entries a row rests on.
    """
    own = row.get(EVIDENCE_KEY)
    if own is not None:
        found = _refs_in(own)
        if found:
            return found
    named: dict[int, list[str]] = {}
    for key, value in row.items():
        if key in ENTRY_KEYS and isinstance(value, int) and not isinstance(value, bool):
            named.setdefault(value, [])
        elif isinstance(value, Mapping | list | tuple):
            for e in _refs_in(value):
                named.setdefault(e, [])
    if named:
        for e, paths in named.items():
            paths.extend(r.path for r in check_refs if r.entry == e)
        return named
    stream = row.get("stream")
    if isinstance(stream, str) and stream:
        prefix = f"evidence/{stream}/"
        under = _by_entry(r for r in check_refs if r.path.startswith(prefix))
        if under:
            return under
    everything = _by_entry(check_refs)
    return everything if len(everything) == 1 else {}


def _by_entry(refs: Iterable[EvidenceRef]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for r in refs:
        out.setdefault(r.entry, []).append(r.path)
    return out


@dataclass(frozen=True)
class Table:
    """Rows of cells under human headers; ``keys`` are the JSON keys of the columns."""

    keys: tuple[str, ...]
    headers: tuple[str, ...]
    numeric: tuple[bool, ...]
    rows: tuple[tuple[Cell, ...], ...]
    #: Columns with one value in every row, shown once above the table: (header, cell).
    common: tuple[tuple[str, Cell], ...] = ()


def table(
    rows: Sequence[Mapping[str, Any]],
    *,
    check_refs: Sequence[EvidenceRef] = (),
    with_entries: bool = True,
) -> Table:
    """Findings (or any list of JSON objects) as a table of human cells.

    Columns in the order the rows first name them. A row's own ``evidence`` is not a
    column of its own: with ``with_entries``, a last column "Log entries" links every row
    to the log entries it rests on (:func:`row_entries`), unless no row has any or
    every such row links to them in a column of its own (``last_entry``, ``seen_in``).
    """
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys and not (with_entries and k == EVIDENCE_KEY))
    body = [[cell(k, r.get(k)) for k in keys] for r in rows]
    headers = [header(k) for k in keys]
    if with_entries:
        entries = [row_entries(r, check_refs) for r in rows]
        if any(
            found and not any(c.links for c in cs) for cs, found in zip(body, entries, strict=True)
        ):
            keys.append(EVIDENCE_KEY)
            headers.append(EVIDENCE_HEADER)
            for cells, found in zip(body, entries, strict=True):
                cells.append(entries_cell(found, noun=False))
    # A column that says the same in every row (one dbt invocation's project, id and
    # time) is said once, above the table, leaving the width to what differs.
    common: list[tuple[str, Cell]] = []
    if len(body) > 1:
        same = [
            i
            for i, key in enumerate(keys)
            if key != EVIDENCE_KEY
            and not body[0][i].links
            and not body[0][i].items
            and body[0][i].text != DASH
            and all(r[i] == body[0][i] for r in body)
        ]
        common = [(headers[i], body[0][i]) for i in same]
        keep = [i for i in range(len(keys)) if i not in same]
        keys = [keys[i] for i in keep]
        headers = [headers[i] for i in keep]
        body = [[r[i] for i in keep] for r in body]
    numeric = tuple(
        bool(body) and all(r[i].numeric or r[i].text == DASH for r in body)
        for i in range(len(keys))
    )
    return Table(tuple(keys), tuple(headers), numeric, tuple(tuple(r) for r in body), tuple(common))
