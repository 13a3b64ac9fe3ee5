"""Who reads the evidence files while ``evidence verify`` checks the entries.

Reading an evidence file (:func:`das_evidence.verify.archive._read_file`: hash it,
count its Parquet footer's rows) is independent of the entries, so it runs beside
their checks, in batches of files (:func:`read_batch`). Two kinds of readers:

- **threads** (:class:`ThreadReaders`), for any store: hashlib releases the GIL while
  it hashes a chunk, but the rest of each file's work (open, fstat, the footer) holds
  it, and so does checking an entry (parsing JSON); on a log of many small files the
  two sides then take turns more than they run side by side.
- **processes** (:class:`ProcessReaders`), for a directory store in a process that runs
  no other thread (:func:`can_fork`): workers forked from this process, each with its
  own GIL. Forking copies what is already loaded (no start-up, no imports) and shares
  nothing afterwards but the batches and their results; a process with other Python
  threads is not forked (a lock one of them holds would stay held in the child), and a
  store that holds connections (S3) is read on threads. Native threads are not seen
  here; the libraries a worker uses (OpenSSL, pyarrow's footer reader) start none for
  it and reset their own pools in a forked child.

A :class:`BatchQueue` hands the batches to the readers one at a time each, as each
finishes one, so that the calling thread, done with the entries, takes the rest from the
other end: no batch waits in a reader's queue while a core is free. A batch's result is
the same either way: each key with what :func:`read_batch` gives for it. A
:class:`~das_evidence.errors.StoreError` in a worker (a file that cannot be read)
reaches the caller as itself, fix included, as it would from a thread.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

from das_evidence.errors import FormatError, NotRegularFileError, StoreError

#: What reading an evidence file gives: (sha256, size) or None if it is gone, and the
#: rows its Parquet footer states (or why it states none), None if it is not Parquet.
FileRead = tuple[tuple[str, int] | None, int | str | None]
#: A batch read: each key with what it gives, or why it cannot be read (a V1 problem).
BatchRead = list[tuple[str, FileRead | str]]


def read_batch(read: Callable[[str], FileRead], keys: Sequence[str]) -> BatchRead:
    """Each of ``keys`` read: what it gives, or why it cannot be read (a V1 problem)."""
    out: BatchRead = []
    for key in keys:
        try:
            out.append((key, read(key)))
        except (NotRegularFileError, FormatError) as e:
            out.append((key, e.message))
    return out


def can_fork() -> bool:
    """True where readers may be forked: Linux (fork is the platform's own way to start
    a process), from a process running no other thread."""
    return (
        sys.platform == "linux"
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
    )


class Readers:
    """Reads batches of evidence files somewhere else than the calling thread; a
    batch's future gives its result through :func:`unwrapped`."""

    def submit(self, keys: list[str]) -> Future[BatchRead | _Raised]:
        raise NotImplementedError

    def shutdown(self, wait: bool = False) -> None:
        """Drop the batches not started; with ``wait``, also wait for the readers to
        end (the workers' CPU then counts in this process's ``RUSAGE_CHILDREN``)."""
        raise NotImplementedError


class ThreadReaders(Readers):
    def __init__(self, read: Callable[[str], FileRead], workers: int) -> None:
        self._read = read
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="verify-hash")

    def submit(self, keys: list[str]) -> Future[BatchRead | _Raised]:
        return self._pool.submit(read_batch, self._read, keys)

    def shutdown(self, wait: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)


@dataclass(frozen=True)
class _Raised:
    """A StoreError from a worker, to raise again in the caller (pickling an
    EvidenceError keeps its message but loses its ``fix``)."""

    kind: type[StoreError]
    message: str
    fix: str | None


#: In a worker process: the reader it was forked with.
_worker_read: Callable[[str], FileRead] | None = None


def _start_worker(read: Callable[[str], FileRead]) -> None:
    global _worker_read
    _worker_read = read
    # Ctrl-C is the parent's to handle (it stops the workers): not a traceback from each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_batch(keys: list[str]) -> BatchRead | _Raised:
    assert _worker_read is not None
    try:
        return read_batch(_worker_read, keys)
    except StoreError as e:
        return _Raised(type(e), e.message, e.fix)


def unwrapped(got: BatchRead | _Raised) -> BatchRead:
    """A batch's result, or the StoreError a worker met raised again here."""
    if isinstance(got, _Raised):
        raise got.kind(got.message, fix=got.fix)
    return got


class ProcessReaders(Readers):
    """Forked worker processes; ``read`` is not pickled (the workers are copies of this
    process), only each batch's keys and its results."""

    def __init__(self, read: Callable[[str], FileRead], workers: int) -> None:
        self._pool: Executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start_worker,
            initargs=(read,),
        )

    def submit(self, keys: list[str]) -> Future[BatchRead | _Raised]:
        return self._pool.submit(_worker_batch, keys)

    def shutdown(self, wait: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)


class BatchQueue:
    """Batches of files shared between ``readers`` and the calling thread: each reader
    is handed the next batch from the front when it finishes one (never more than one
    ahead), the caller takes batches from the back (:meth:`take`) once it has nothing
    else to do. Batches keep their numbers, so results can be put back in order."""

    def __init__(self, readers: Readers, batches: Sequence[list[str]], workers: int) -> None:
        self._readers = readers
        self._lock = threading.Lock()
        self._waiting = deque(enumerate(batches))
        #: Batch number -> its reader's future.
        self.handed: dict[int, Future[BatchRead | _Raised]] = {}
        self._closed = False
        for _ in range(workers):
            self._hand_next()

    def _hand_next(self, _: object = None) -> None:
        with self._lock:
            if self._closed or not self._waiting:
                return
            number, batch = self._waiting.popleft()
            future = self._readers.submit(batch)
            self.handed[number] = future
        future.add_done_callback(self._hand_next)  # runs now if it is done already

    def take(self) -> tuple[int, list[str]] | None:
        """The last batch no reader was handed, or None when none is left."""
        with self._lock:
            return self._waiting.pop() if self._waiting else None

    def close(self, wait: bool = False) -> None:
        """Hand out nothing more, drop what the readers have not started, let them go
        (``wait``: until they have ended)."""
        with self._lock:
            self._closed = True
            self._waiting.clear()
        for future in self.handed.values():
            future.cancel()
        self._readers.shutdown(wait)
