"""The archive's append-only log over an evidence store (ARCHIVE-FORMAT sections 1 to 4).

:class:`ArchiveLog` reads the log's state from the store itself (entries and
the newest checkpoint), so a container keeps no state of its own between runs.
Appending follows one order, so that a crash at any point is completed by the
next run without a gap or a duplicate:

1. evidence files (put-once: a retry with the same bytes is a no-op);
2. the entry, ``log/entries/<index>.dsse.json`` (put-once);
3. the checkpoint: ``log/checkpoints/<size>`` (put-once), then ``log/checkpoint``.

A batch of appends (one collect run) may repeat 1 and 2 for every entry and do
3 once at its end (``append(..., seal=False)`` then :meth:`ArchiveLog.seal`):
two requests per run instead of two per entry. Entries past the newest
checkpoint (a crash between 2 and 3, or mid-batch) are sealed by the next
writer before anything else is appended, as the tail of a batch is.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol, overload

from das_evidence.errors import (
    CheckpointConflict,
    FormatError,
    LogRaceError,
    PutOnceError,
    StoreError,
)
from das_evidence.evidence_store.interface import (
    CHECKPOINT_KEY,
    ENTRIES_PREFIX,
    EvidenceStore,
    checkpoint_key,
    entry_key,
)
from das_evidence.manifests.checkpoint import Checkpoint, sign_checkpoint
from das_evidence.manifests.dsse import Envelope, sign_envelope
from das_evidence.manifests.merkle import CompactRange, leaf_hash, root_hash
from das_evidence.manifests.note import SignedNote
from das_evidence.manifests.signers import NoteSigner, Signer
from das_evidence.manifests.statement import Statement, Subject, build_statement
from das_evidence.manifests.tally import Tally, add_entry
from das_evidence.streams import is_accounting
from das_evidence.timefmt import parse_signed, rfc3339

log = logging.getLogger(__name__)


PREDICATE_TYPE = "https://das-evidence.dev/predicates/collection/v1"
ZERO_HASH = "0" * 64
_UNREAD = object()
_ENTRY_NAME = re.compile(r"^log/entries/(\d{12})\.dsse\.json$")


class LogEntry:
    """One entry of the log: its index, statement bytes, leaf hash and statement.

    The statement of an entry taken from a verified log (:class:`KnownLog`) is parsed
    only when first asked for: a nightly run touches a handful of them, not all."""

    __slots__ = ("_statement", "index", "leaf", "statement_bytes")

    def __init__(
        self,
        index: int,
        statement_bytes: bytes,
        statement: Statement | None = None,
        leaf: bytes | None = None,
    ) -> None:
        self.index = index
        self.statement_bytes = statement_bytes
        self.leaf = leaf_hash(statement_bytes) if leaf is None else leaf
        self._statement = statement

    @property
    def statement(self) -> Statement:
        if self._statement is None:
            # Only a verified log's entries are left unparsed: those exact bytes passed the
            # strict parse when they were first verified.
            self._statement = Statement.from_verified_bytes(self.statement_bytes)
        return self._statement

    @property
    def predicate(self) -> Mapping[str, Any]:
        return self.statement.predicate


class StatementSource(Protocol):
    """Where the statements of a :class:`KnownLog` come from, each authenticated against
    the signed checkpoint it was kept for (raises :class:`FormatError` when one is not)."""

    def statement(self, index: int) -> bytes: ...

    def leaf(self, index: int) -> bytes: ...

    def all(self) -> Sequence[bytes]: ...


class MemoryStatements:
    """Statements held in memory (parsed or hashed by whoever built them)."""

    def __init__(self, statements: Sequence[bytes], leaves: Sequence[bytes] | None = None) -> None:
        self.statements = statements
        self.leaves = [leaf_hash(s) for s in statements] if leaves is None else leaves

    def statement(self, index: int) -> bytes:
        return self.statements[index]

    def leaf(self, index: int) -> bytes:
        return self.leaves[index]

    def all(self) -> Sequence[bytes]:
        return self.statements


_PARTITION = "/date="


def _partition(key: str) -> str | None:
    """The ``date=YYYY-MM-DD`` partition a key lies in (its first), or None."""
    at = key.find(_PARTITION)
    if at < 0:
        return None
    day = key[at + len(_PARTITION) : at + len(_PARTITION) + 10]
    return day if len(day) == 10 else None


#: A sweep cursor further behind the newest one than this is a stream no longer collected
#: (disabled, or removed from the config): it does not hold the named files back.
NAMES_HORIZON = timedelta(days=120)


def names_since(swept: Mapping[str, str]) -> str | None:
    """The earliest partition a stream's sweep cursor is at (the orphan sweep lists only
    keys after its cursor, so it never asks about a file in an earlier one), or None with
    no cursor (or one outside a partition). Cursors more than :data:`NAMES_HORIZON` behind
    the newest are left out: a stream disabled for good would otherwise keep every file
    named since in the summary. Its sweep, if it is collected again, reads the older names
    from the statements once (a look-up outside the held partitions)."""
    days = [_partition(cursor) for cursor in swept.values()]
    if not days or any(d is None for d in days):
        return None
    try:
        newest = max(date.fromisoformat(d) for d in days if d is not None)
    except ValueError:
        return None  # not a day: every name is held
    cutoff = (newest - NAMES_HORIZON).isoformat()
    return min(d for d in days if d is not None and d >= cutoff)


class _Loaded:
    """The names of a known log's entries, read once when first needed (shared by the
    copies of a :class:`Names`)."""

    def __init__(self, load: Callable[[], Mapping[str, int]]) -> None:
        self.load = load
        self.value: Mapping[str, int] | None = None

    def get(self) -> Mapping[str, int]:
        if self.value is None:
            self.value = self.load()
        return self.value


class Names(Mapping[str, int]):
    """The entry naming each evidence file, of which only the recent ones are held.

    Held: every file in a ``date=`` partition at or after ``since`` (all of them when
    ``since`` is None) and every file named since the rest were read. Looking up a file
    in such a partition never reads more: it is held, or no entry names it. A file in an
    earlier partition, or in none, makes the rest be read (``load``: the names of the
    known log's entries, from their statements) once. So the nightly orphan sweep, which
    asks only about the files after each stream's cursor, costs what the recent files
    cost, however old the archive (the verified log keeps only the held names:
    :meth:`held`)."""

    def __init__(
        self,
        held: Mapping[str, int] | None = None,
        since: str | None = None,
        rest: _Loaded | Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self._held: dict[str, int] = dict(held or {})
        self.since = since if rest is not None else None
        self._rest = rest if isinstance(rest, _Loaded) or rest is None else _Loaded(rest)

    @property
    def complete(self) -> bool:
        """Whether every name is held (nothing left to read)."""
        return self.since is None or self._rest is None

    def _covers(self, key: str) -> bool:
        """Whether the held names answer for ``key``: held, or named by no entry."""
        if self.complete:
            return True
        assert self.since is not None
        day = _partition(key)
        return day is not None and day >= self.since

    def _all(self) -> Mapping[str, int]:
        if self.complete:
            return self._held
        assert self._rest is not None
        return {**self._rest.get(), **self._held}

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self._held:
            return True
        return not self._covers(key) and key in self._all()

    def __getitem__(self, key: str) -> int:
        held = self._held.get(key)
        if held is not None:
            return held
        if self._covers(key):
            raise KeyError(key)
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def add(self, key: str, index: int) -> None:
        """``key`` is named by entry ``index`` (a newer one than any before)."""
        self._held[key] = index

    def copy(self, load: Callable[[], Mapping[str, int]] | None = None) -> Names:
        """A copy that shares what is read (or that reads with ``load`` instead)."""
        rest = self._rest if load is None or self._rest is None else _Loaded(load)
        return Names(self._held, self.since, rest)

    def held(self, since: str | None) -> tuple[dict[str, int], str | None]:
        """What a summary keeps to answer as this does for the files in partitions at or
        after ``since`` (all with None): those names and the partition they start at,
        which is never earlier than the one this holds from unless it has read the rest."""
        if since is None:
            return dict(self._all()), None
        names = self._held
        if not self.complete:
            assert self._rest is not None and self.since is not None
            if self._rest.value is None:
                since = max(since, self.since)  # the names before it are not held
            else:
                names = dict(self._all())
        kept = {k: i for k, i in names.items() if (d := _partition(k)) is not None and d >= since}
        return kept, since


def names_of(statements: Sequence[bytes]) -> dict[str, int]:
    """The entry naming each file, from verified statements (the last one wins)."""
    names: dict[str, int] = {}
    for index, payload in enumerate(statements):
        for subject in Statement.from_verified_bytes(payload).subjects:
            names[subject.name] = index
    return names


@dataclass(frozen=True)
class KnownLog:
    """The first entries of a log as verified before (the run's verified log,
    :mod:`das_evidence.schedules.state`) and what a nightly run needs of them without
    reading every statement: the compact range of their leaves (:class:`CompactRange`:
    the root of any later tree from the later leaves alone), the last leaf (the next
    entry's chain link), each stream's head, the file each path is named by, the files
    that accounting entries name and the latest retention an entry signed. A statement
    is read from ``source`` only when asked for.

    Build it with :meth:`from_statements` (parses them all) or :meth:`with_summary`
    (from a :meth:`summary` kept beside them, which the caller has authenticated)."""

    size: int
    compact: tuple[bytes, ...]
    last_leaf: bytes | None
    heads: Mapping[str, int]
    names: Names
    accounted: frozenset[str]
    retain_until: datetime | None
    source: StatementSource
    #: Each stream's orphan-sweep cursor: every key under its prefix that sorts at or
    #: before it is named by one of these entries (:meth:`ArchiveLog.sweep_to`).
    swept: Mapping[str, str] = field(default_factory=dict)
    #: What status reports of each stream (:mod:`das_evidence.manifests.tally`).
    tallies: Mapping[str, Tally] = field(default_factory=dict)

    @property
    def statements(self) -> Sequence[bytes]:
        """Every statement (reads them all)."""
        return self.source.all()

    @property
    def leaves(self) -> Sequence[bytes]:
        """Every leaf hash (reads and hashes every statement)."""
        source = self.source
        if isinstance(source, MemoryStatements):
            return source.leaves
        return [leaf_hash(s) for s in source.all()]

    def compact_range(self) -> CompactRange:
        return CompactRange(self.size, self.compact)

    def statement(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise IndexError(index)
        return self.source.statement(index)

    @classmethod
    def from_statements(
        cls, statements: Sequence[bytes], leaves: Sequence[bytes] | None = None
    ) -> KnownLog:
        """Parse every statement (verified before: :meth:`Statement.from_verified_bytes`)."""
        state = _Derived()
        source = MemoryStatements(statements, leaves)
        for index, payload in enumerate(statements):
            state.add(LogEntry(index, payload, None, source.leaves[index]))
        return state.known(len(statements), CompactRange.of(source.leaves), source)

    @classmethod
    def with_summary(
        cls,
        statements: Sequence[bytes],
        leaves: Sequence[bytes],
        summary: Mapping[str, Any],
    ) -> KnownLog:
        """From :meth:`summary` (authenticated by the caller) over these statements; raises
        :class:`FormatError` when it is not one for them."""
        return cls.from_summary(
            summary,
            CompactRange.of(leaves),
            leaves[-1] if leaves else None,
            MemoryStatements(statements, leaves),
        )

    @classmethod
    def from_summary(
        cls,
        summary: Mapping[str, Any],
        compact: CompactRange,
        last_leaf: bytes | None,
        source: StatementSource,
    ) -> KnownLog:
        """From :meth:`summary` (authenticated by the caller) for a log of
        ``compact.size`` entries whose statements ``source`` reads; raises
        :class:`FormatError` when it is not one for them."""
        size = compact.size
        if "tallies" not in summary:
            raise FormatError(
                "it was written by an earlier version, without status tallies (read whole "
                "once, and kept with them)"
            )
        try:
            tallies = {
                str(k): Tally.from_json(v, size) for k, v in dict(summary["tallies"]).items()
            }
            heads, names = dict(summary["heads"]), dict(summary["names"])
            since = summary.get("names_since")
            accounted = frozenset(summary["accounted"])
            retain = summary["retain_until"]
            swept = dict(summary.get("swept", {}))
            ok = (
                all(isinstance(k, str) and isinstance(v, str) for k, v in swept.items())
                and summary["size"] == size
                and all(isinstance(k, str) and type(v) is int for k, v in heads.items())
                and all(isinstance(k, str) and type(v) is int for k, v in names.items())
                and all(0 <= v < size for v in (*heads.values(), *names.values()))
                and (since is None or (isinstance(since, str) and len(since) == 10))
                and all(isinstance(a, str) for a in accounted)
                and (retain is None or parse_signed(retain) is not None)
                and (last_leaf is None) == (size == 0)
            )
        except (KeyError, TypeError, ValueError, FormatError):
            ok = False
        if not ok:
            raise FormatError("the verified log's summary does not describe its entries")
        return cls(
            size,
            tuple(compact.hashes),
            last_leaf,
            heads,
            # The files in partitions before ``since`` are read from the statements
            # only if a look-up needs them.
            Names(names, since, (lambda: names_of(source.all()[:size])) if since else None),
            accounted,
            parse_signed(retain),
            source,
            swept,
            tallies,
        )

    def summary(self) -> dict[str, Any]:
        """Everything but the statements and leaves, as JSON: of the named files, those
        in the partitions the orphan sweep can still ask about (:meth:`Names.held`)."""
        names, since = self.names.held(names_since(self.swept))
        return {
            "size": self.size,
            "heads": dict(sorted(self.heads.items())),
            "names": dict(sorted(names.items())),
            "names_since": since,
            "accounted": sorted(self.accounted),
            "retain_until": None if self.retain_until is None else rfc3339(self.retain_until),
            "swept": dict(sorted(self.swept.items())),
            "tallies": {k: t.to_json() for k, t in sorted(self.tallies.items())},
        }


class _LogStatements:
    """The statements of an :class:`ArchiveLog`'s entries (its known ones read when asked)."""

    def __init__(self, archive: ArchiveLog) -> None:
        self.entries = archive.entries

    def statement(self, index: int) -> bytes:
        return self.entries[index].statement_bytes

    def leaf(self, index: int) -> bytes:
        return self.entries[index].leaf

    def all(self) -> Sequence[bytes]:
        return [e.statement_bytes for e in self.entries]


class _Derived:
    """Heads, names, accounted files and latest signed retention, kept as entries are added."""

    def __init__(
        self,
        known: KnownLog | None = None,
        load: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        """``load``: reads the older names of ``known``'s entries, instead of its own."""
        self.heads: dict[str, int] = dict(known.heads) if known else {}
        self.names: Names = known.names.copy(load) if known else Names()
        self.accounted: set[str] = set(known.accounted) if known else set()
        self.retain_until: datetime | None = known.retain_until if known else None
        self.swept: dict[str, str] = dict(known.swept) if known else {}
        self.tallies: dict[str, Tally] = (
            {k: t.copy() for k, t in known.tallies.items()} if known else {}
        )

    def add(self, entry: LogEntry) -> None:
        p = entry.predicate
        for subject in entry.statement.subjects:
            self.names.add(subject.name, entry.index)
        stream = p.get("stream")
        if is_accounting(p):
            self.accounted.update(s.name for s in entry.statement.subjects)
        elif isinstance(stream, str) and "amends" not in p:
            self.heads[stream] = entry.index
        add_entry(self.tallies, entry.index, p)
        retain = _signed_retention(entry)
        if retain is not None and (self.retain_until is None or retain > self.retain_until):
            self.retain_until = retain

    def known(self, size: int, compact: CompactRange, source: StatementSource) -> KnownLog:
        return KnownLog(
            size,
            tuple(compact.hashes),
            source.leaf(size - 1) if size else None,
            dict(self.heads),
            self.names.copy(),
            frozenset(self.accounted),
            self.retain_until,
            source,
            dict(self.swept),
            {k: t.copy() for k, t in self.tallies.items()},
        )


class _Entries(Sequence[LogEntry]):
    """An :class:`ArchiveLog`'s entries: those of its known log made (and their statements
    read) only when asked for, the later ones in memory."""

    def __init__(self, base: KnownLog | None, damaged: Callable[[FormatError], None]) -> None:
        self.damaged = damaged
        self.base = base
        self.base_size = base.size if base else 0
        self.known: dict[int, LogEntry] = {}
        self.new: list[LogEntry] = []

    def __len__(self) -> int:
        return self.base_size + len(self.new)

    def _entry(self, i: int) -> LogEntry:
        if i >= self.base_size:
            return self.new[i - self.base_size]
        entry = self.known.get(i)
        if entry is None:
            assert self.base is not None
            try:
                entry = LogEntry(i, self.base.statement(i), None, self.base.source.leaf(i))
            except FormatError as e:
                self.damaged(e)  # the whole log read from the store instead, in place
                return self._entry(i)
            self.known[i] = entry
        return entry

    @overload
    def __getitem__(self, i: int) -> LogEntry: ...

    @overload
    def __getitem__(self, i: slice) -> list[LogEntry]: ...

    def __getitem__(self, i: int | slice) -> LogEntry | list[LogEntry]:
        n = len(self)
        if isinstance(i, slice):
            return [self._entry(j) for j in range(*i.indices(n))]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self._entry(i)

    def __iter__(self) -> Iterator[LogEntry]:
        if self.base is not None and len(self.known) < self.base_size:
            try:
                self.base.source.all()  # one pass over the kept statements, not one per entry
            except FormatError as e:
                self.damaged(e)
        for i in range(len(self)):
            yield self._entry(i)


@dataclass(frozen=True)
class EvidenceFile:
    """A file already in the store, as it will be named in a statement."""

    path: str
    sha256: str
    size: int
    media_type: str
    rows: int | None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "media_type": self.media_type,
        }
        if self.rows is not None:
            out["rows"] = self.rows
        return out


def _checkpoint_text_size(data: bytes) -> int:
    """The tree size of a signed checkpoint, without verifying it (the writer's own bytes)."""
    note = SignedNote.from_bytes(data)
    return Checkpoint.from_text(note.text).size


class ArchiveLog:
    """The log of one archive: read its state, append entries, seal checkpoints."""

    def __init__(
        self, store: EvidenceStore, origin: str, known: KnownLog | Sequence[bytes] = ()
    ) -> None:
        """Read the log from ``store``; ``known``: its first entries as verified before
        (the run's verified log, :mod:`das_evidence.schedules.state`), taken instead of
        reading those entries again; their statements are parsed only when asked for. Only
        the entries after them are listed and read."""
        self.store = store
        self.origin = origin
        self._sealed: int | object | None = _UNREAD
        self._token: str | None = None  # of log/checkpoint as last read or written here
        # The first entry appended here and not sealed yet (a batch), or None.
        self._batch: int | None = None
        self._batch_retain: datetime | None = None
        if isinstance(known, KnownLog):
            base: KnownLog | None = known
        else:
            base = KnownLog.from_statements(known) if known else None
        self._base = base
        #: Why the known log was given up for a read of the whole log, if it was.
        self.damaged: str | None = None
        self.entries = _Entries(base, self._read_whole)
        # Each stream's newest window entry (its head), the entry naming each file, the
        # files accounting entries name, the latest signed retention: kept as entries
        # are added; so are the compact range of the leaves and the last leaf.
        # The known log's older names are read through its entries, so that one that
        # does not authenticate makes this log read the whole log, as for a head.
        self._derived = _Derived(base, self._base_names)
        self._compact = base.compact_range() if base else CompactRange()
        self._last_leaf = base.last_leaf if base else None
        self._load(start=self.size)

    def _add(self, entry: LogEntry) -> None:
        self.entries.new.append(entry)
        self._derived.add(entry)
        self._compact.append(entry.leaf)
        self._last_leaf = entry.leaf

    def known(self, size: int | None = None) -> KnownLog:
        """The first ``size`` entries (all by default) as a :class:`KnownLog`; its
        statements are read from this log's (the known ones only when asked for)."""
        n = self.size if size is None else size
        if n == self.size:
            return self._derived.known(n, self._compact, _LogStatements(self))
        entries = list(self.entries)[:n]  # the known statements in one pass
        statements, leaves = [e.statement_bytes for e in entries], [e.leaf for e in entries]
        return KnownLog.from_statements(statements, leaves)

    def _base_names(self) -> Mapping[str, int]:
        """The entry naming each file, of the known log's entries (a :class:`Names`
        reads them only when a look-up needs them); of every entry once the known log
        was given up for the whole log."""
        entries = self.entries
        if entries.base is not None:
            try:
                statements = entries.base.source.all()
            except FormatError as e:
                self._read_whole(e)
            else:
                return names_of(statements[: entries.base_size])
        return dict(self._derived.names)

    def _read_whole(self, error: FormatError) -> None:
        """A statement of the known log did not authenticate: read the whole log from the
        store instead (as without a known log), keeping this log's batch."""
        log.warning("reading the whole log: %s", error.message)
        self.damaged = error.message
        self._base = None
        entries = self.entries
        entries.base, entries.base_size, entries.known, entries.new = None, 0, {}, []
        self._derived = _Derived()
        self._compact = CompactRange()
        self._last_leaf = None
        self._load(start=0)

    @property
    def base(self) -> KnownLog | None:
        """The known log this one was read from (its first entries), or None."""
        return self._base

    def reload(self) -> None:
        """Re-read entries another writer may have appended since this log was loaded."""
        self._load(start=self.size)
        self._sealed = _UNREAD
        self._token = None

    def _load(self, start: int = 0) -> None:
        after = entry_key(start - 1) if start else ""
        keys = list(self.store.list(ENTRIES_PREFIX, start_after=after))
        for expected, key in enumerate(keys, start):
            m = _ENTRY_NAME.match(key)
            if not m or int(m.group(1)) != expected:
                raise FormatError(
                    f"the log in {self.store.uri} is not contiguous at {key} "
                    f"(expected {entry_key(expected)})",
                    fix="run `evidence verify` on the archive; do not append to a damaged log",
                )
            envelope = Envelope.from_bytes(self.store.get(key))
            statement = Statement.from_bytes(envelope.payload)
            if statement.predicate.get("log", {}).get("origin") != self.origin:
                raise FormatError(
                    f"{key} belongs to log origin "
                    f"{statement.predicate.get('log', {}).get('origin')!r}, not {self.origin!r}",
                    fix="point store.uri at this log's own archive, or set log.origin to match",
                )
            self._add(LogEntry(expected, envelope.payload, statement, leaf_hash(envelope.payload)))

    @property
    def size(self) -> int:
        return len(self.entries)

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` entries (all by default): from the compact ranges
        kept, in O(log n), unless ``size`` is below the known log's."""
        n = self.size if size is None else size
        if n == self.size:
            return self._compact.root()
        base = self._base
        if base is not None and base.size <= n <= self.size:
            new = self.entries.new[: n - base.size]
            return base.compact_range().extended_root([e.leaf for e in new])
        if base is not None and n < base.size:
            return root_hash(list(base.leaves)[:n])  # reads the known statements whole
        return root_hash([e.leaf for e in self.entries[:n]])

    def stream_end(self, stream: str) -> datetime | None:
        """End of the last window archived for ``stream`` (amendments and entries that
        account for orphan files do not move it)."""
        from das_evidence.timefmt import parse_rfc3339

        head = self.head(stream)
        return None if head is None else parse_rfc3339(head.predicate["window"]["end"])

    def heads(self) -> dict[str, LogEntry]:
        """The newest window entry of every stream."""
        return {stream: self.entries[i] for stream, i in self._derived.heads.items()}

    def head_indexes(self) -> dict[str, int]:
        """The index of every stream's newest window entry (:meth:`heads` without
        reading them)."""
        return dict(self._derived.heads)

    def head(self, stream: str) -> LogEntry | None:
        """The newest window entry of ``stream`` (not an amendment or accounting entry)."""
        index = self._derived.heads.get(stream)
        return None if index is None else self.entries[index]

    def referenced_paths(self) -> AbstractSet[str]:
        """Every file an entry names."""
        return self._derived.names.keys()

    def tallies(self) -> dict[str, Tally]:
        """What status reports of each stream, as of every entry (kept as entries are
        added: no entry is read)."""
        return {k: t.copy() for k, t in self._derived.tallies.items()}

    def swept(self, stream: str) -> str | None:
        """The orphan sweep's cursor of ``stream``, or None (sweep its whole prefix)."""
        return self._derived.swept.get(stream)

    def sweep_to(self, stream: str, cursor: str) -> None:
        """Record that every key under ``stream``'s prefix sorting at or before ``cursor``
        is named by an entry of this log (kept in the verified log's signed summary)."""
        self._derived.swept[stream] = cursor

    def accounted_paths(self) -> AbstractSet[str]:
        """The files that entries accounting for orphans name."""
        return self._derived.accounted

    def checkpoint_size(self) -> int | None:
        """The size ``log/checkpoint`` covers: read once, then kept as this log writes it."""
        if self._sealed is _UNREAD:
            self.found_checkpoint(self.store.get_checkpoint())
        return self._sealed  # type: ignore[return-value]

    def found_checkpoint(self, current: tuple[bytes, str] | None) -> ArchiveLog:
        """Take ``current`` (``get_checkpoint()`` as the caller read it) as this log's
        ``log/checkpoint`` instead of reading it again. Safe when stale: it is replaced
        only if unchanged since (compare-and-swap on its ETag)."""
        if current is None:
            self._sealed, self._token = None, None
        else:
            self._sealed = _checkpoint_text_size(current[0])
            self._token = current[1]
        return self

    def seal(self, note_signer: NoteSigner, retain_until: datetime | None = None) -> bool:
        """Make ``log/checkpoint`` cover every entry. Returns True if anything was written.

        ``log/checkpoint`` is replaced with a compare-and-swap, so a slower writer
        can never put back a smaller checkpoint over a newer one. Without
        ``retain_until`` (sealing what a crashed run left), ``log/checkpoints/N``
        is locked as long as the newest entry's evidence, as its entry signed.
        """
        if self._batch_retain is not None:
            retain_until = max(self._batch_retain, retain_until or self._batch_retain)
        if self.store.locks and self.entries:
            # As long as every entry it seals: writers whose clocks differ sign
            # different retentions, and the newest entry's need not be the longest.
            signed = self._derived.retain_until
            retain_until = max(
                [*([signed] if signed else []), *([retain_until] if retain_until else [])],
                default=None,
            )
        for _ in range(20):
            current = self.checkpoint_size()
            if current is None and self.size == 0:
                return False
            if current is not None and current >= self.size:
                if current > self.size:
                    self.reload()  # another writer went further: catch up
                    if current > self.size:
                        raise FormatError(
                            f"{CHECKPOINT_KEY} in {self.store.uri} covers {current} entries "
                            f"but only {self.size} exist",
                            fix="entries are missing: run `evidence verify` and restore them",
                        )
                self._batch, self._batch_retain = None, None  # another writer sealed it
                return False
            data = self._checkpoint_for_size(note_signer, retain_until)
            try:
                self._token = self.store.replace_checkpoint(data, if_match=self._token)
            except CheckpointConflict:
                self._sealed = _UNREAD  # re-read what the other writer wrote
                continue
            self._sealed = self.size
            self._batch, self._batch_retain = None, None
            log.debug("sealed %s at size %d", self.origin, self.size)
            return True
        raise StoreError(
            f"could not replace {CHECKPOINT_KEY} in {self.store.uri}: too many concurrent writers",
            fix="run collect again",
        )

    def _checkpoint_for_size(self, note_signer: NoteSigner, retain_until: datetime | None) -> bytes:
        cp = Checkpoint(self.origin, self.size, self.root())
        data = sign_checkpoint(cp, note_signer)
        key = checkpoint_key(self.size)
        try:
            self.store.put_once(key, data, retain_until=retain_until)
        except PutOnceError:
            # Another or an interrupted run wrote a checkpoint for this size (signatures
            # that are not deterministic differ): keep it if it is for the same tree.
            existing = self.store.get(key)
            existing_cp = Checkpoint.from_text(SignedNote.from_bytes(existing).text)
            if existing_cp != cp:
                raise
            data = existing
        return data

    def append(
        self,
        *,
        stream: str,
        files: Sequence[EvidenceFile],
        predicate: Mapping[str, Any],
        signer: Signer,
        note_signer: NoteSigner,
        retain_until: datetime | None = None,
        seal: bool = True,
    ) -> LogEntry:
        """Write the entry for ``files`` (already in the store) and seal a checkpoint;
        with ``seal=False`` the caller seals once after a batch of appends (an
        unsealed tail left by a crash is sealed by the next writer).

        Raises :class:`LogRaceError` when another writer has appended since this log
        was read: the caller planned its window on an old view and must plan again.
        """
        known = self.size
        if self._batch is None and self.checkpoint_size() != self.size:
            self.seal(note_signer)  # a tail not written here: a crashed writer's
        if self.size != known:
            raise LogRaceError(f"{self.store.uri} grew from {known} to {self.size} entries")
        index = self.size
        full = dict(predicate)
        full["stream"] = stream
        full["files"] = [f.to_json() for f in files]
        full["log"] = {
            "origin": self.origin,
            "index": index,
            "prev_leaf_hash": self._last_leaf.hex() if self._last_leaf else ZERO_HASH,
        }
        statement_bytes = build_statement(
            [Subject(f.path, f.sha256) for f in files], PREDICATE_TYPE, full
        )
        envelope = sign_envelope(statement_bytes, signer)
        try:
            self.store.put_once(entry_key(index), envelope.to_bytes(), retain_until=retain_until)
        except PutOnceError:
            raise LogRaceError(
                f"another writer appended entry {index} to {self.store.uri} first",
                fix="run collect again (it continues from the other writer's entries)",
            ) from None
        entry = LogEntry(
            index,
            statement_bytes,
            Statement.from_bytes(statement_bytes),
            leaf_hash(statement_bytes),
        )
        self._add(entry)
        if seal:
            self.seal(note_signer, retain_until)
            return entry
        if self._batch is None:
            self._batch = index
        if retain_until is not None:
            # The batch's checkpoint is locked as long as its longest entry.
            self._batch_retain = max(retain_until, self._batch_retain or retain_until)
        return entry


def _signed_retention(entry: LogEntry) -> datetime | None:
    """The latest retain-until an entry signed for its stored objects, or None."""
    storage = entry.predicate.get("storage")
    objects = storage.get("objects") if isinstance(storage, Mapping) else None
    untils = [
        t
        for o in (objects if isinstance(objects, list) else [])
        if isinstance(o, Mapping) and (t := parse_signed(o.get("retain_until"))) is not None
    ]
    return max(untils, default=None)
