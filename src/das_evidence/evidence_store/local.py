"""A local directory as an evidence store.

Put-once is really once: bytes go to a temporary file in ``.staging/`` which
is fsynced, made read-only and then hard-linked to its final name. ``link``
refuses to overwrite, so two writers can never both win and a crash never
leaves a half-written file under a real key; the directory is fsynced after.
Leftover staging files from a crash are ignored by ``list`` and removed on the
next write.

Reads never follow a symlink and never open a FIFO, device or socket
(:class:`NotRegularFileError`): the file is opened with ``O_NOFOLLOW`` and
``O_NONBLOCK`` and must be a regular file by ``fstat`` before a byte is read.

Every OSError (a read-only mount, a file where a directory should be, a
missing parent, a full disk) becomes a :class:`StoreError` naming the path.
A new archive directory is created, but never its parent: a missing parent is
more often a volume that is not mounted than a directory to make.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from das_evidence.errors import (
    CheckpointConflict,
    NotRegularFileError,
    PutOnceError,
    StoreError,
)
from das_evidence.evidence_store.interface import (
    ANY,
    CHECKPOINT_KEY,
    EvidenceStore,
    ObjectInfo,
    PutResult,
    sha256_file,
    validate_key,
)

STAGING = ".staging"
_STALE_SECONDS = 3600
_WRITABLE_FIX = (
    "make the archive directory writable by the user that runs evidence "
    "(a read-only mount or volume?), or point store.uri at one that is"
)


def _why(e: OSError, path: Path) -> str:
    """The OS's reason, and the file it concerned when that is not ``path``."""
    reason = e.strerror or str(e)
    if e.filename is not None and Path(str(e.filename)) != path:
        return f"{reason} ({e.filename})"
    return reason


_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
#: Bytes read at a time when hashing a file: reused, one buffer per thread (a fresh
#: buffer per read is fresh memory, page-faulted in each time).
HASH_CHUNK = 256 << 10
_buffers = threading.local()


def hash_descriptor(fd: int, tail: int = 0) -> tuple[str, int, bytes]:
    """SHA-256 (hex) and size of what ``fd`` reads to its end, and its last ``tail`` bytes.

    Reads into one buffer per thread (hashlib releases the GIL while it hashes a
    chunk); the tail comes from that buffer when the last read holds it, else from
    one ``pread``.
    """
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = _buffers.view = memoryview(bytearray(HASH_CHUNK))
    digest, size, last = hashlib.sha256(), 0, 0
    while n := os.readv(fd, [view]):
        digest.update(view[:n])
        size += n
        last = n
    if not tail:
        return digest.hexdigest(), size, b""
    want = min(tail, size)
    if want <= last:
        return digest.hexdigest(), size, bytes(view[last - want : last])
    return digest.hexdigest(), size, os.pread(fd, want, size - want)


#: A signed checkpoint note is a few hundred bytes, with cosignatures a few more.
MAX_CHECKPOINT_BYTES = 1 << 20


def open_regular(path: str | Path, key: str) -> int:
    """A descriptor of ``path`` opened for reading, refused unless it is a regular file.

    ``FileNotFoundError`` and other OSErrors pass to the caller.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NotRegularFileError(
                f"{key} is a symbolic link, not a file; not followed"
            ) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = (
                "a directory"
                if stat.S_ISDIR(mode)
                else "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket or special file"
            )
            raise NotRegularFileError(f"{key} is {kind}, not a file; not read")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore(EvidenceStore):
    """An archive in a directory on a local or mounted file system."""

    def __init__(self, root: Path, *, create: bool = False) -> None:
        self.root = root
        self.uri = root.as_uri() if root.is_absolute() else str(root)
        self._staging = root / STAGING
        try:
            if root.is_dir():
                return
            exists = root.exists()
        except OSError as e:  # e.g. no permission to look inside the parent
            raise self._fail("open archive directory", root, e) from e
        if exists:
            raise StoreError(
                f"archive path {root} is not a directory",
                fix="point store.uri at a directory (an archive is a directory, not a file)",
            )
        if not create:
            raise StoreError(
                f"archive directory {root} does not exist",
                fix="check the path, or run `evidence collect` to create a new archive",
            )
        self._create()

    def _create(self) -> None:
        parent = self.root.absolute().parent
        if not parent.is_dir():
            what = "is not a directory" if parent.exists() else "does not exist"
            raise StoreError(
                f"cannot create archive directory {self.root}: its parent {parent} {what}",
                fix=f"create {parent} (or mount the volume there) first; evidence creates "
                "only the archive directory itself",
            )
        try:
            self.root.mkdir()
        except FileExistsError:
            pass  # a concurrent run made it
        except OSError as e:
            raise StoreError(
                f"cannot create archive directory {self.root}: {_why(e, self.root)}",
                fix=f"make {parent} writable by the user that runs evidence, "
                "or point store.uri elsewhere",
            ) from e

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def _fspath(self, key: str) -> str:
        """:meth:`_path` as a string, without a ``Path`` (thousands per verification)."""
        return os.path.join(str(self.root), *validate_key(key).split("/"))

    def _stage(self, source: bytes | Path) -> tuple[Path, str, int]:
        tmp = self._staging / f"{secrets.token_hex(8)}.tmp"
        try:
            self._staging.mkdir(exist_ok=True)
            self._sweep_staging()
            if isinstance(source, Path):
                with source.open("rb") as src, tmp.open("xb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                    dst.flush()
                    os.fsync(dst.fileno())
                digest, size = sha256_file(tmp)
            else:
                with tmp.open("xb") as dst:
                    dst.write(source)
                    dst.flush()
                    os.fsync(dst.fileno())
                digest, size = hashlib.sha256(source).hexdigest(), len(source)
            os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        except OSError as e:
            self._discard(tmp)
            raise self._fail("write to", self._staging, e) from e
        return tmp, digest, size

    def _fail(self, action: str, path: Path, e: OSError) -> StoreError:
        return StoreError(f"cannot {action} {path}: {_why(e, path)}", fix=_WRITABLE_FIX)

    @staticmethod
    def _discard(tmp: Path) -> None:
        with contextlib.suppress(OSError):  # a staging leftover; the next write sweeps it
            tmp.unlink(missing_ok=True)

    def _sweep_staging(self) -> None:
        # Only old files: a concurrent writer may own a fresh one.
        cutoff = time.time() - _STALE_SECONDS
        for leftover in self._staging.glob("*.tmp"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except OSError:
                pass

    def put_once(
        self, key: str, source: bytes | Path, *, retain_until: datetime | None = None
    ) -> PutResult:
        # A directory cannot lock a file beyond read-only permissions; retain_until
        # is for stores that can (S3 Object Lock).
        final = self._path(key)
        tmp, digest, size = self._stage(source)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.link(tmp, final)
        except FileExistsError:
            existing = self.head(key)
            if existing is not None and existing.sha256 == digest:
                return PutResult(existing, created=False)
            raise PutOnceError(
                f"{key} already exists in {self.root} with different bytes; "
                "a write-once key is never overwritten",
                fix="an interrupted or concurrent run; run `evidence verify` on the archive",
            ) from None
        except OSError as e:
            raise self._fail("write", final, e) from e
        finally:
            self._discard(tmp)
        self._sync(final.parent)
        return PutResult(ObjectInfo(key, size, digest), created=True)

    def _sync(self, directory: Path) -> None:
        try:
            _fsync_dir(directory)
        except OSError as e:
            raise self._fail("sync", directory, e) from e

    def get_checkpoint(self) -> tuple[bytes, str] | None:
        """``log/checkpoint`` and its digest (the compare-and-swap token); a regular file
        only, and at most :data:`MAX_CHECKPOINT_BYTES` (a note is a few hundred bytes)."""
        path = self._path(CHECKPOINT_KEY)
        try:
            fd = open_regular(path, CHECKPOINT_KEY)
            with os.fdopen(fd, "rb") as f:
                data = f.read(MAX_CHECKPOINT_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise self._fail("read", path, e) from e
        if len(data) > MAX_CHECKPOINT_BYTES:
            raise NotRegularFileError(
                f"{CHECKPOINT_KEY} in {self.root} is larger than {MAX_CHECKPOINT_BYTES} bytes: "
                "not a checkpoint",
                fix="run `evidence verify` on the archive",
            )
        return data, hashlib.sha256(data).hexdigest()

    @contextmanager
    def lock(self, timeout: float = 600.0) -> Iterator[None]:
        """An exclusive flock on ``.lock``: concurrent collects wait their turn.

        The lock file is removed on release, so a run leaves nothing behind. A
        waiter may have opened the file just before that; having got the flock
        it checks that ``.lock`` is still the file it locked, and opens it anew
        if not.
        """
        path = self.root / ".lock"
        deadline = time.monotonic() + timeout
        fd = self._acquire(path, deadline, timeout)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):  # a leftover .lock is harmless: no one holds it
                path.unlink()
            os.close(fd)  # closing releases the lock

    def _acquire(self, path: Path, deadline: float, timeout: float) -> int:
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise self._fail("lock", path, e) from e
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise StoreError(
                                f"another run has held the lock on {self.root} for {timeout:.0f} s",
                                fix="wait for it to finish, or check for a hung process",
                            ) from None
                        time.sleep(0.2)
                    except OSError as e:
                        raise self._fail("lock", path, e) from e
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(path))
                except FileNotFoundError:
                    same = False  # the holder removed it as it let go
                except OSError as e:
                    raise self._fail("lock", path, e) from e
                if same:
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    def replace_checkpoint(self, data: bytes, *, if_match: str | object | None = ANY) -> str:
        final = self._path(CHECKPOINT_KEY)
        if if_match is not ANY:
            current = self.get_checkpoint()
            token = current[1] if current else None
            if token != if_match:
                raise CheckpointConflict(f"{CHECKPOINT_KEY} in {self.root} changed under us")
        tmp, digest, _ = self._stage(data)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        except OSError as e:
            self._discard(tmp)
            raise self._fail("write", final, e) from e
        self._sync(final.parent)
        return digest

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            fd = open_regular(path, key)
            with os.fdopen(fd, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise StoreError(f"{key} is missing from {self.root}") from None
        except OSError as e:
            raise self._fail("read", path, e) from e

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return os.fdopen(open_regular(path, key), "rb")
        except FileNotFoundError:
            raise StoreError(f"{key} is missing from {self.root}") from None
        except OSError as e:
            raise self._fail("read", path, e) from e

    def get_tail(self, key: str, max_bytes: int) -> tuple[bytes, int]:
        path = self._fspath(key)  # a string and one pread: every entry is read here
        try:
            fd = open_regular(path, key)
            try:
                size = os.fstat(fd).st_size
                # Not read(max_bytes): asked for 64 MiB (an entry's bound), read()
                # allocates that much first, for a file of a few KB.
                want = min(max(max_bytes, 0), size)
                data = os.pread(fd, want, size - want)
                while len(data) < want:  # a short read (not from a regular file on Linux)
                    more = os.pread(fd, want - len(data), size - want + len(data))
                    if not more:
                        break
                    data += more
                return data, size
            finally:
                os.close(fd)
        except FileNotFoundError:
            raise StoreError(f"{key} is missing from {self.root}") from None
        except OSError as e:
            raise self._fail("read", Path(path), e) from e

    def head(self, key: str) -> ObjectInfo | None:
        found = self._read_hashed(key, 0)
        return None if found is None else found[0]

    def head_tail(self, key: str, max_bytes: int) -> tuple[ObjectInfo, bytes] | None:
        """:meth:`head` and :meth:`get_tail` from one read of the file."""
        return self._read_hashed(key, max_bytes)

    def _read_hashed(self, key: str, max_bytes: int) -> tuple[ObjectInfo, bytes] | None:
        path = self._fspath(key)
        try:
            fd = open_regular(path, key)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise self._fail("read", Path(path), e) from e
        try:
            digest, size, tail = hash_descriptor(fd, max_bytes)
        except OSError as e:
            raise self._fail("read", Path(path), e) from e
        finally:
            os.close(fd)
        return ObjectInfo(key, size, digest), tail

    def exists(self, key: str) -> bool:
        try:
            return stat.S_ISREG(os.lstat(self._path(key)).st_mode)
        except OSError:
            return False

    def list(self, prefix: str = "", *, start_after: str = "") -> Iterator[str]:
        keys: list[str] = []

        def unreadable(e: OSError) -> None:
            # os.walk skips what it cannot read; an archive listing must not.
            raise self._fail("list", Path(e.filename or self.root), e) from e

        # Walk only the directory the prefix lies in (every key under it shares that
        # directory), not the whole archive: a listing's cost follows what it lists.
        # A directory reached through a symlink or a dot part is walked from the root, as
        # before (os.walk does not descend into symlinked directories).
        root = str(self.root)
        parts = prefix.split("/")[:-1]
        top = os.path.join(root, *parts)
        if any(p in ("", ".", "..") for p in parts) or os.path.realpath(top) != os.path.join(
            os.path.realpath(root), *parts
        ):
            top = root
        elif top != root and not os.path.isdir(top):
            return
        for dirpath, dirnames, filenames in os.walk(top, onerror=unreadable):
            # Keys as strings, not Path objects: a listing of thousands of entries.
            rel = dirpath[len(root) + 1 :].replace(os.sep, "/") if dirpath != root else ""
            if rel.split("/", 1)[0] == STAGING:
                dirnames.clear()
                continue
            base = f"{rel}/" if rel else ""
            if start_after:
                # A directory whose every key sorts before start_after is not walked (a
                # sweep from its cursor lists only the partitions after it).
                dirnames[:] = [d for d in dirnames if not _all_before(f"{base}{d}/", start_after)]
            for name in filenames:
                if not rel and name == ".lock":
                    continue
                key = base + name
                if key.startswith(prefix) and key > start_after:
                    keys.append(key)
        yield from sorted(keys)


def _all_before(directory: str, start_after: str) -> bool:
    """Whether every key under ``directory`` (ending in ``/``) sorts at or before
    ``start_after``: the first character where they differ is smaller."""
    return directory < start_after and not start_after.startswith(directory)
