"""An S3 bucket (and prefix) with Object Lock as an evidence store (clients from ``aws``).

Every file is one single-part PUT with ``If-None-Match: *`` (S3 refuses to
overwrite), its SHA-256 as ``ChecksumSHA256`` (S3 refuses bytes that do not
match it), and an Object Lock retention: COMPLIANCE mode unless configured
otherwise, retained until collection time plus the stream's retention. A 412
on a retried put is resolved by reading the object already there: the same
checksum is success, a different one an error. ``log/checkpoint`` is the only
key that gets new versions.

Credentials come from the AWS default chain; the endpoint from the config key,
or boto3's own ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``. Retries use
botocore's standard mode; those end when a response's headers arrive, so a
body that breaks off, comes back short of its Content-Length or fails its
SHA-256 is caught here and the whole GET re-issued, a few times with a
backoff, before it becomes a :class:`StoreError`. botocore exceptions never
leave this module (clients and error types come from :mod:`das_evidence.aws`).

What a store wrote it does not read back: a put S3 accepted stored exactly the
bytes whose SHA-256 the request carried (S3 checks it) under a key that cannot
change afterwards (``If-None-Match: *``, Object Lock), so reads of those keys
(the entries, checkpoints and Parquet footers a run verifies right after
writing them) are answered from what was sent (its *receipt*). Only
``log/checkpoint``, which other writers replace, is always read. A new store,
as ``evidence verify`` opens, has no receipts and reads everything.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlparse

from das_evidence.aws import (
    READ_ATTEMPTS,
    READ_BACKOFF,
    STREAM_ERRORS,
    BotoCoreError,
    ClientError,
    error_code,
    explain,
    http_status,
    make_client,
    read_whole,
)
from das_evidence.aws import (
    body_fault as body_fault,  # re-exported: the store's body check
)
from das_evidence.errors import CheckpointConflict, ConfigError, PutOnceError, StoreError
from das_evidence.evidence_store.bucket_check import BucketSettings, read_settings
from das_evidence.evidence_store.interface import (
    ANY,
    CHECKPOINT_KEY,
    LOCK_MODES,
    EvidenceStore,
    ObjectInfo,
    PutResult,
    sha256_file,
    validate_key,
)

log = logging.getLogger(__name__)

# S3's limit for a single PUT; evidence files are far smaller.
_MAX_SINGLE_PUT = 5 * 1024**3
# The last bytes of an object read (or kept from a put) for a short tail: a Parquet
# footer and its length in one request.
_TAIL = 64 * 1024


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` to (bucket, prefix without slashes at either end)."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ConfigError(f"{uri!r} is not an s3://bucket/prefix URI")
    prefix = parsed.path.strip("/")
    if prefix:
        validate_key(prefix)
    return parsed.netloc, prefix


@dataclass(frozen=True)
class ObjectVersion:
    """One version (or delete marker) of one key, as ListObjectVersions reports it."""

    key: str
    version_id: str
    is_latest: bool
    delete_marker: bool
    size: int = 0


@dataclass(frozen=True)
class LockState:
    """What HeadObject says about one version: its checksum and its lock."""

    key: str
    version_id: str | None
    size: int
    sha256_b64: str | None
    lock_mode: str | None
    retain_until: datetime | None
    legal_hold: str | None

    @property
    def sha256(self) -> str | None:
        if not self.sha256_b64:
            return None
        try:
            return base64.b64decode(self.sha256_b64).hex()
        except ValueError:
            return None


_code = error_code
_status = http_status


def _retain_until(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class _Receipt:
    """What this store put under a write-once key, as S3 accepted it."""

    info: ObjectInfo
    data: bytes | None  # the whole object, when it was put from bytes (log objects)
    tail: bytes  # its last bytes, at most _TAIL (a Parquet footer)


def _file_tail(path: Path, size: int) -> bytes:
    with path.open("rb") as f:
        f.seek(max(0, size - _TAIL))
        return f.read(_TAIL)


def _lock_state(key: str, response: dict[str, Any]) -> LockState:
    """The checksum and lock a HeadObject or GetObject response states."""
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    until = headers.get("x-amz-object-lock-retain-until-date") or response.get(
        "ObjectLockRetainUntilDate"
    )
    return LockState(
        key=key,
        version_id=response.get("VersionId"),
        size=int(response.get("ContentLength", 0)),
        sha256_b64=response.get("ChecksumSHA256"),
        lock_mode=response.get("ObjectLockMode"),
        retain_until=_retain_until(until),
        legal_hold=response.get("ObjectLockLegalHoldStatus"),
    )


class S3Store(EvidenceStore):
    """An archive under ``s3://bucket/prefix``."""

    def __init__(
        self,
        uri: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        lock_mode: str = "COMPLIANCE",
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if lock_mode not in LOCK_MODES:
            raise ConfigError(
                f"store.lock_mode {lock_mode!r} is not one of {', '.join(LOCK_MODES)}",
                fix='use "COMPLIANCE" (GOVERNANCE lets privileged users delete evidence)',
            )
        self.uri = uri
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.lock_mode = lock_mode
        self._sleep = sleep
        self.client = client or make_client("s3", endpoint_url=endpoint_url, region=region)
        self._receipts: dict[str, _Receipt] = {}
        # The tail last read by get_tail (key, bytes, object size), for the next call.
        self._last_tail: tuple[str, bytes, int] | None = None
        if lock_mode == "GOVERNANCE":
            log.warning(
                "store %s uses GOVERNANCE mode: privileged users can shorten or remove "
                "locks; use COMPLIANCE for evidence",
                uri,
            )

    # -- keys ---------------------------------------------------------------

    def _k(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _unprefix(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def _where(self, key: str) -> str:
        """Where a call went, for a message: never validates (the call's failure is the news)."""
        return f"s3://{self.bucket}/" + "/".join(p for p in (self.prefix, key.strip("/")) if p)

    def _fail(self, action: str, key: str, e: Exception) -> StoreError:
        cause, fix = explain(e)
        return StoreError(f"S3 {action} {self._where(key)} failed: {cause}", fix=fix)

    # -- writes -------------------------------------------------------------

    locks = True

    def put_once(
        self, key: str, source: bytes | Path, *, retain_until: datetime | None = None
    ) -> PutResult:
        if isinstance(source, Path):
            try:
                digest, size = sha256_file(source)
                if size > _MAX_SINGLE_PUT:
                    raise StoreError(f"{source} is larger than a single S3 PUT allows")
                tail = _file_tail(source, size)
                # A seekable file: botocore streams it, and can rewind it to retry.
                body: Any = source.open("rb")
            except OSError as e:
                raise StoreError(
                    f"cannot read {source} to put it as s3://{self.bucket}/{self._k(key)}: "
                    f"{e.strerror or e}",
                    fix="check the spool directory (TMPDIR) is readable and not full",
                ) from e
        else:
            digest, size = hashlib.sha256(source).hexdigest(), len(source)
            body, tail = source, source[-_TAIL:]
        checksum = base64.b64encode(bytes.fromhex(digest)).decode()
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._k(key),
            "Body": body,
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": checksum,
            "IfNoneMatch": "*",
            "ContentLength": size,
        }
        if retain_until is not None:
            args["ObjectLockMode"] = self.lock_mode
            args["ObjectLockRetainUntilDate"] = retain_until
        try:
            response = self.client.put_object(**args)
        except ClientError as e:
            if _status(e) in (409, 412) or _code(e) in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                return self._resolve_conflict(key, digest, size)
            raise self._fail("PUT", key, e) from None
        except BotoCoreError as e:
            raise self._fail("PUT", key, e) from None
        finally:
            if not isinstance(body, bytes):
                body.close()
        info = ObjectInfo(
            key,
            size,
            digest,
            response.get("VersionId"),
            self.lock_mode if retain_until is not None else None,
            retain_until,
        )
        data = source if isinstance(source, bytes) else None
        self._receipts[key] = _Receipt(info, data, tail)
        return PutResult(info, created=True)

    def _resolve_conflict(self, key: str, digest: str, size: int) -> PutResult:
        state = self.lock_state(key)
        if state is not None and state.sha256 == digest and state.size == size:
            info = ObjectInfo(
                key, size, digest, state.version_id, state.lock_mode, state.retain_until
            )
            return PutResult(info, created=False)
        raise PutOnceError(
            f"s3://{self.bucket}/{self._k(key)} already exists with different bytes; "
            "a write-once key is never overwritten",
            fix="an interrupted or concurrent run; run `evidence verify` on the archive",
        )

    def get_checkpoint(self) -> tuple[bytes, str] | None:
        try:
            data, r = self._read(
                CHECKPOINT_KEY, {"Bucket": self.bucket, "Key": self._k(CHECKPOINT_KEY)}
            )
            return data, str(r["ETag"])
        except ClientError as e:
            if _code(e) in ("NoSuchKey", "404"):
                return None
            raise self._fail("GET", CHECKPOINT_KEY, e) from None
        except BotoCoreError as e:
            raise self._fail("GET", CHECKPOINT_KEY, e) from None

    def replace_checkpoint(self, data: bytes, *, if_match: str | object | None = ANY) -> str:
        """PUT log/checkpoint; with ``if_match``, a conditional write (S3's If-Match)."""
        digest = hashlib.sha256(data).hexdigest()
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._k(CHECKPOINT_KEY),
            "Body": data,
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": base64.b64encode(bytes.fromhex(digest)).decode(),
        }
        if if_match is None:
            args["IfNoneMatch"] = "*"
        elif isinstance(if_match, str):
            args["IfMatch"] = if_match
        try:
            response = self.client.put_object(**args)
        except ClientError as e:
            if _status(e) in (409, 412) or _code(e) in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                raise CheckpointConflict(
                    f"{CHECKPOINT_KEY} in {self.uri} was replaced by another writer"
                ) from None
            raise self._fail("PUT", CHECKPOINT_KEY, e) from None
        except BotoCoreError as e:
            raise self._fail("PUT", CHECKPOINT_KEY, e) from None
        return str(response["ETag"])

    # -- reads --------------------------------------------------------------

    def _receipt(self, key: str, version_id: str | None = None) -> _Receipt | None:
        """What this store put under ``key`` (at ``version_id``, when given), or None."""
        r = self._receipts.get(key)
        if r is None or (version_id is not None and version_id != r.info.version_id):
            return None
        return r

    def get(self, key: str, version_id: str | None = None) -> bytes:
        r = self._receipt(key, version_id)
        if r is not None and r.data is not None:
            return r.data
        return self.get_with_state(key, version_id)[0]

    def get_tail(self, key: str, max_bytes: int) -> tuple[bytes, int]:
        """The last ``max_bytes`` of ``key`` and its size: a ranged GET of at least the
        last 64 KiB, kept for the next call (a Parquet footer's length, then the footer),
        or what this store put there. Longer tails are a whole GET, checksum checked."""
        r = self._receipt(key)
        if r is not None and (
            r.data is not None or max_bytes <= len(r.tail) or len(r.tail) == r.info.size
        ):
            whole = r.data if r.data is not None else r.tail
            return (whole[-max_bytes:] if max_bytes else b""), r.info.size
        last, self._last_tail = self._last_tail, None
        if last is not None and last[0] == key and max_bytes <= len(last[1]):
            return (last[1][-max_bytes:] if max_bytes else b""), last[2]
        if max_bytes <= 0 or max_bytes > _TAIL or key == CHECKPOINT_KEY:
            return super().get_tail(key, max_bytes)
        args = {"Bucket": self.bucket, "Key": self._k(key), "Range": f"bytes=-{_TAIL}"}
        try:
            data, response = read_whole(
                lambda: self.client.get_object(**args),
                self._where(key),
                attempts=READ_ATTEMPTS,
                sleep=self._sleep,
            )
        except ClientError as e:
            if _code(e) in ("NoSuchKey", "404"):
                raise StoreError(f"{key} is missing from {self.uri}") from None
            if _code(e) == "InvalidRange":  # an empty object
                return b"", 0
            raise self._fail("GET", key, e) from None
        except BotoCoreError as e:
            raise self._fail("GET", key, e) from None
        content_range = str(response.get("ContentRange") or "")
        size = int(content_range.rpartition("/")[2]) if "/" in content_range else len(data)
        self._last_tail = (key, data, size)
        return data[-max_bytes:], size

    def open(self, key: str) -> BinaryIO:
        """``key`` streamed from one GET, a ranged GET after each seek: never held whole.

        No S3 checksum covers a part of an object; callers check the bytes against
        the digest their entry signed (:func:`~das_evidence.verify.files.copy_verified`).
        A body that breaks off is re-requested from where it stopped.
        """
        raw = _RangeReader(self, key)
        raw.reopen()  # a missing key fails here, not at the first read
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=1 << 20))

    def _read(self, key: str, args: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        """GetObject and its whole body, checked; the GET re-issued while the body is bad.

        Only the body is retried here: a failed request (no headers) is botocore's
        to retry, and its ClientError or BotoCoreError goes to the caller. Every
        attempt asks for the same key and, when given, the same VersionId.
        """
        args = {**args, "ChecksumMode": "ENABLED"}
        data, response = read_whole(
            lambda: self.client.get_object(**args),
            self._where(key),
            attempts=READ_ATTEMPTS,  # this module's, so a test can set it
            sleep=self._sleep,
        )
        return data, dict(response)

    def lock_state(self, key: str, version_id: str | None = None) -> LockState | None:
        """HeadObject with checksums: the object's SHA-256 and lock, or None if absent.

        Lock state is read here, not with GetObjectRetention (which some S3
        emulators do not implement).
        """
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._k(key),
            "ChecksumMode": "ENABLED",
        }
        if version_id:
            args["VersionId"] = version_id
        try:
            h = self.client.head_object(**args)
        except ClientError as e:
            if _status(e) == 404 or _code(e) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise self._fail("HEAD", key, e) from None
        except BotoCoreError as e:
            raise self._fail("HEAD", key, e) from None
        return _lock_state(key, h)

    def get_with_state(self, key: str, version_id: str | None = None) -> tuple[bytes, LockState]:
        """The bytes of ``key`` (at ``version_id``) and its lock and checksum, from one GET:
        GetObject carries the same Object Lock and checksum headers as HeadObject."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._k(key)}
        if version_id:
            args["VersionId"] = version_id
        try:
            data, response = self._read(key, args)
        except ClientError as e:
            if _code(e) in ("NoSuchKey", "NoSuchVersion", "404"):
                raise StoreError(f"{key} is missing from {self.uri}") from None
            raise self._fail("GET", key, e) from None
        except BotoCoreError as e:
            raise self._fail("GET", key, e) from None
        return data, _lock_state(key, response)

    def head(self, key: str) -> ObjectInfo | None:
        r = self._receipt(key)
        if r is not None:
            return ObjectInfo(key, r.info.size, r.info.sha256, r.info.version_id)
        state = self.lock_state(key)
        if state is None:
            return None
        if state.sha256 is None:
            # No stored checksum (not written by us): hash the bytes.
            data = self.get(key, state.version_id)
            return ObjectInfo(key, len(data), hashlib.sha256(data).hexdigest(), state.version_id)
        return ObjectInfo(key, state.size, state.sha256, state.version_id)

    def exists(self, key: str) -> bool:
        return self.lock_state(key) is not None

    def list(self, prefix: str = "", *, start_after: str = "") -> Iterator[str]:
        full = (
            self._k(prefix.rstrip("/")) + "/"
            if prefix
            else (f"{self.prefix}/" if self.prefix else "")
        )
        keys: builtins.list[str] = []
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full}
        if start_after:
            args["StartAfter"] = self._k(start_after)
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**args):
                keys.extend(self._unprefix(o["Key"]) for o in page.get("Contents", []))
        except (ClientError, BotoCoreError) as e:
            raise self._fail("LIST", prefix, e) from None
        if prefix and not prefix.endswith("/"):
            keys = [k for k in keys if k.startswith(prefix)]
        yield from sorted(keys)

    def versions(self) -> builtins.list[ObjectVersion]:
        """Every version and delete marker under the prefix."""
        out: builtins.list[ObjectVersion] = []
        full = f"{self.prefix}/" if self.prefix else ""
        try:
            for page in self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=full
            ):
                for v in page.get("Versions", []):
                    out.append(
                        ObjectVersion(
                            self._unprefix(v["Key"]),
                            str(v.get("VersionId")),
                            bool(v.get("IsLatest")),
                            False,
                            int(v.get("Size", 0)),
                        )
                    )
                for m in page.get("DeleteMarkers", []):
                    out.append(
                        ObjectVersion(
                            self._unprefix(m["Key"]),
                            str(m.get("VersionId")),
                            bool(m.get("IsLatest")),
                            True,
                        )
                    )
        except (ClientError, BotoCoreError) as e:
            raise self._fail("LIST VERSIONS", "", e) from None
        return out

    def bucket_settings(self) -> BucketSettings:
        """The bucket's settings, read once per call by the one reader (``bucket_check``)."""
        return read_settings(self.client, self.bucket)


class _RangeReader(io.RawIOBase):
    """The raw file behind :meth:`S3Store.open`: one streaming body from the position."""

    def __init__(self, store: S3Store, key: str) -> None:
        self._store = store
        self._key = key
        self._pos = 0
        self._size = -1
        self._body: Any = None

    def reopen(self) -> None:
        """A GET from the current position (the whole object at 0)."""
        self._drop()
        args: dict[str, Any] = {"Bucket": self._store.bucket, "Key": self._store._k(self._key)}
        if self._pos:
            args["Range"] = f"bytes={self._pos}-"
        try:
            response = self._store.client.get_object(**args)
        except ClientError as e:
            if _code(e) in ("NoSuchKey", "404"):
                raise StoreError(f"{self._key} is missing from {self._store.uri}") from None
            raise self._store._fail("GET", self._key, e) from None
        except BotoCoreError as e:
            raise self._store._fail("GET", self._key, e) from None
        if self._size < 0:
            self._size = int(response["ContentLength"]) + self._pos
        self._body = response["Body"]

    def _drop(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        pos = max(0, base + offset)
        if pos != self._pos:
            self._drop()  # the next read asks for a range from the new position
            self._pos = pos
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        view = memoryview(buffer).cast("B")
        cause = ""
        for attempt in range(1, READ_ATTEMPTS + 1):
            if attempt > 1:
                self._store._sleep(READ_BACKOFF * 2 ** (attempt - 2))
                self._drop()
            try:
                if self._body is None:
                    self.reopen()
                data = self._body.read(len(view))
            except STREAM_ERRORS as e:
                cause = f"{type(e).__name__}: {e}"
                continue
            if not data:
                cause = f"the body ended at byte {self._pos} of {self._size}"
                continue
            view[: len(data)] = data
            self._pos += len(data)
            return len(data)
        raise StoreError(
            f"S3 GET {self._store._where(self._key)} failed {READ_ATTEMPTS} times at byte "
            f"{self._pos}: the body broke off (last attempt: {cause})",
            fix="a connection that drops or stalls mid-download: check the network, any proxy "
            "or load balancer and the endpoint",
        )

    def close(self) -> None:
        self._drop()
        super().close()
