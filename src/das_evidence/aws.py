"""The one module that imports boto3 and botocore.

It makes clients (S3 for the evidence store and dbt targets, KMS for signers,
S3 Control and STS for verification at rest) with standard-mode retries and
short connect timeouts, and names botocore's exception types so callers can
catch them without importing the SDK. Every
caller wraps these errors into the product's own where they enter
(:class:`~das_evidence.errors.StoreError`, ``ConfigError`` ...): no botocore
type leaves the module that made the call.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    FlexibleChecksumError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from das_evidence.errors import ConfigError, StoreError

__all__ = [
    "SDK_ERRORS",
    "STREAM_ERRORS",
    "TRANSPORT_ERRORS",
    "BatchJobs",
    "BotoCoreError",
    "ClientError",
    "S3Reader",
    "body_fault",
    "error_code",
    "explain",
    "http_status",
    "make_client",
    "read_whole",
]

log = logging.getLogger(__name__)

#: Everything the SDK raises for a failed call: service answers and client-side failures.
SDK_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
#: botocore's own errors (no credentials, no route, timeouts, a bad parameter), for
#: callers that catch service answers as ``client.exceptions.ClientError``.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (BotoCoreError,)
#: A response body that broke off or came back wrong while it was being read: shorter
#: than its Content-Length, a dropped or stalled connection mid-body, or a checksum
#: botocore checked and found wrong. botocore's retries end when the headers arrive,
#: so these reach the caller; re-issuing the whole GET is the fix.
STREAM_ERRORS: tuple[type[Exception], ...] = (
    IncompleteReadError,
    ResponseStreamingError,
    ReadTimeoutError,
    FlexibleChecksumError,
)


#: Whole-GET attempts when a body breaks off or comes back wrong.
READ_ATTEMPTS = 5
#: Seconds before the second attempt, doubled for each one after (0.1 + 0.2 + 0.4 + 0.8).
READ_BACKOFF = 0.1


def body_fault(data: bytes, response: Mapping[str, Any]) -> str | None:
    """Why a GET's body is not the whole object, or None: pure, the response is read already.

    The body must be as long as the response's Content-Length and, when S3
    returned the object's full-object SHA-256 (``ChecksumMode=ENABLED`` on an
    object uploaded with one), hash to it. A multipart object's composite
    checksum (``...-N``) is a checksum of part checksums and is not compared.
    """
    expected = response.get("ContentLength")
    if expected is not None and len(data) != int(expected):
        return f"the body is {len(data)} bytes, its Content-Length {expected}"
    checksum = response.get("ChecksumSHA256")
    if (
        isinstance(checksum, str)
        and "-" not in checksum
        and response.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT"
    ):
        actual = base64.b64encode(hashlib.sha256(data).digest()).decode()
        if actual != checksum:
            return f"the body's SHA-256 is {actual}, its ChecksumSHA256 {checksum}"
    return None


def read_whole(
    get_object: Callable[[], Mapping[str, Any]],
    where: str,
    *,
    limit: int | None = None,
    attempts: int = READ_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bytes, Mapping[str, Any]]:
    """Call ``get_object`` and read its whole body, re-issuing the GET while the body is bad.

    The one body retry of every S3 read (evidence store and dbt targets). Only
    the body is retried here: a failed request (no headers) is botocore's to
    retry, and its ClientError or BotoCoreError goes to the caller. With
    ``limit``, at most ``limit + 1`` bytes are read; a body that reaches that
    is too large for the caller and is returned unchecked (it is refused).
    Raises :class:`StoreError` after ``attempts`` bad bodies.
    """
    cause = ""
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            sleep(READ_BACKOFF * 2 ** (attempt - 2))
        response = get_object()
        body = response["Body"]
        try:
            data = bytes(body.read() if limit is None else body.read(limit + 1))
        except STREAM_ERRORS as e:
            cause = f"{type(e).__name__}: {e}"
        else:
            if limit is not None and len(data) > limit:
                return data, response
            fault = body_fault(data, response)
            if fault is None:
                return data, response
            cause = fault
        finally:
            body.close()
        log.warning("S3 GET %s attempt %d of %d: %s", where, attempt, attempts, cause)
    raise StoreError(
        f"S3 GET {where} failed {attempts} times: the body broke off or "
        f"came back wrong (last attempt: {cause})",
        fix="a connection that drops or stalls mid-download: check the network, any proxy "
        "or load balancer and the endpoint; a SHA-256 mismatch on every attempt means the "
        "stored bytes differ from their checksum: run `evidence verify` on the archive",
    )


def make_client(service: str, *, endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A boto3 client with standard-mode retries (S3 and KMS)."""
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10)
    try:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            config=config,
        )
    except BotoCoreError as e:
        raise ConfigError(
            f"cannot create an AWS {service} client: {e}",
            fix="set the region (AWS_REGION or the config's region) and check the endpoint URL",
        ) from None


def error_code(e: ClientError) -> str:
    """The service's error code (``NoSuchKey``, ``AccessDenied`` ...), or ''."""
    return str(e.response.get("Error", {}).get("Code", ""))


def http_status(e: ClientError) -> int:
    return int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


_RETRIES = "; the next run retries"
_CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken")


def explain(e: Exception) -> tuple[str, str]:
    """What a failed SDK call means and what fixes it: ``(cause, fix)``.

    The cause is the SDK's own words, prefixed with what they mean (no
    credentials, no route to the endpoint, a refusal by the service), so a
    message never blames a key or a path for a network or credential problem.
    """
    if isinstance(e, NoCredentialsError | PartialCredentialsError):
        return (
            f"no usable AWS credentials ({e})",
            "configure the AWS default credential chain: AWS_PROFILE, AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or an instance or pod role",
        )
    if isinstance(
        e, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError
    ):
        return (
            f"cannot reach the endpoint ({e})",
            "check the endpoint (endpoint_url, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3), "
            "the network and any proxy" + _RETRIES,
        )
    if isinstance(e, ClientError):
        code = error_code(e) or str(http_status(e))
        if code in ("AccessDenied", "AllAccessDisabled", "403"):
            fix = "grant this identity the IAM permissions in deploy/aws/ for the bucket and prefix"
        elif code in _CREDENTIAL_CODES:
            fix = "check the AWS credentials: the key, the secret and the session token"
        elif code == "NoSuchBucket":
            fix = "check the bucket name in the store URI, or create the bucket (deploy/aws/)"
        else:
            fix = "check the credentials, the endpoint and the bucket" + _RETRIES
        return f"{code}: {e}", fix
    return (
        f"{type(e).__name__}: {e}",
        "check the credentials, the endpoint and the bucket" + _RETRIES,
    )


class S3Reader:
    """Read-only access to objects under ``s3://bucket/prefix`` (dbt targets, and the
    staging prefix Snowflake unloads to).

    Not the evidence store: nothing here writes, locks or checks a digest.
    A failed read is a :class:`~das_evidence.errors.StoreError` naming the object.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        endpoint_url: str | None = None,
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._endpoint_url = endpoint_url
        self._client: Any = client
        self._sleep = sleep

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _s3(self) -> Any:
        if self._client is None:
            self._client = make_client("s3", endpoint_url=self._endpoint_url)
        return self._client

    def size(self, name: str) -> int | None:
        """The object's size, or None when there is no such object."""
        try:
            head = self._s3().head_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError as e:
            if error_code(e) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error(name, e) from e
        except BotoCoreError as e:
            raise self._error(name, e) from e
        return int(head.get("ContentLength", 0))

    def read(self, name: str, max_bytes: int) -> bytes:
        """At most ``max_bytes + 1`` bytes of the object (more means it is too large).

        A body cut short or failing its SHA-256 is read again (:func:`read_whole`).
        """
        key = self._key(name)
        args = {"Bucket": self.bucket, "Key": key, "ChecksumMode": "ENABLED"}
        try:
            data, _ = read_whole(
                lambda: self._s3().get_object(**args),
                f"s3://{self.bucket}/{key}",
                limit=max_bytes,
                sleep=self._sleep,
            )
            return data
        except SDK_ERRORS as e:
            raise self._error(name, e) from e

    def versions(self, under: str) -> list[dict[str, Any]]:
        """Every version and delete marker of the objects under ``under`` (relative to the
        prefix): dicts with ``name`` (relative), ``version_id``, ``size`` (None for a delete
        marker), ``latest`` and ``last_modified``."""
        found: list[dict[str, Any]] = []
        full = self._key(under)
        try:
            pages = (
                self._s3()
                .get_paginator("list_object_versions")
                .paginate(Bucket=self.bucket, Prefix=full)
            )
            for page in pages:
                for v in page.get("Versions", []):
                    found.append(self._version(v, int(v.get("Size", 0))))
                for m in page.get("DeleteMarkers", []):
                    found.append(self._version(m, None))
        except SDK_ERRORS as e:
            raise self._error(under, e) from e
        return found

    def _version(self, v: Mapping[str, Any], size: int | None) -> dict[str, Any]:
        key = str(v["Key"])
        name = key[len(self.prefix) + 1 :] if self.prefix else key
        return {
            "name": name,
            "version_id": str(v.get("VersionId") or "null"),
            "size": size,
            "latest": bool(v.get("IsLatest")),
            "last_modified": v.get("LastModified"),
        }

    def read_range(self, name: str, start: int, end: int, version_id: str | None) -> bytes:
        """Bytes ``[start, end)`` of one version of the object (one ranged GET; a body cut
        short is read again). No S3 checksum covers a range: the caller hashes the whole."""
        key = self._key(name)
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Range": f"bytes={start}-{end - 1}",
        }
        if version_id and version_id != "null":
            args["VersionId"] = version_id
        try:
            data, _ = read_whole(
                lambda: self._s3().get_object(**args),
                f"s3://{self.bucket}/{key}",
                sleep=self._sleep,
            )
        except SDK_ERRORS as e:
            raise self._error(name, e) from e
        if len(data) != end - start:
            raise StoreError(
                f"s3://{self.bucket}/{key} bytes {start}-{end - 1}: {len(data)} bytes came back",
                fix="the object is shorter than listed: it changed while it was read",
            )
        return data

    def _error(self, name: str, e: Exception) -> StoreError:
        cause, fix = explain(e)
        return StoreError(f"s3://{self.bucket}/{self._key(name)}: {cause}", fix=fix)


class BatchJobs:
    """S3 Batch Operations for verification at rest: who the caller is (STS), the job's
    manifest upload (S3) and the job itself (S3 Control ``CreateJob``).

    Clients may be passed in (tests stub them); otherwise they are made on first use,
    S3 with ``endpoint_url``, S3 Control and STS at AWS in ``region`` (or the default
    chain's). A failed call is a :class:`~das_evidence.errors.StoreError` naming it.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        s3: Any = None,
        s3control: Any = None,
        sts: Any = None,
    ) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {"s3": s3, "s3control": s3control, "sts": sts}

    def _client(self, service: str) -> Any:
        if self._clients[service] is None:
            endpoint = self._endpoint_url if service == "s3" else None
            self._clients[service] = make_client(
                service, endpoint_url=endpoint, region=self._region
            )
        return self._clients[service]

    @staticmethod
    def _error(what: str, e: Exception) -> StoreError:
        cause, fix = explain(e)
        return StoreError(f"{what} failed: {cause}", fix=fix)

    def caller(self) -> tuple[str, str]:
        """The account id and the ARN partition (``aws``, ``aws-cn`` ...) of the caller."""
        try:
            identity = self._client("sts").get_caller_identity()
        except SDK_ERRORS as e:
            raise self._error("STS GetCallerIdentity", e) from None
        arn = str(identity.get("Arn", ""))
        partition = arn.split(":")[1] if arn.count(":") >= 5 else "aws"
        return str(identity["Account"]), partition or "aws"

    def put_manifest(self, bucket: str, key: str, body: bytes, *, owner: str) -> str:
        """Upload a job manifest (its SHA-256 checked by S3); its ETag, unquoted, as
        CreateJob takes it."""
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        try:
            response = self._client("s3").put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=digest,
                ContentType="text/csv",
                ExpectedBucketOwner=owner,
            )
        except SDK_ERRORS as e:
            raise self._error(f"S3 PUT s3://{bucket}/{key}", e) from None
        # S3 returns the ETag quoted; CreateJob's examples pass it bare.
        return str(response["ETag"]).strip('"')

    def create_job(self, request: dict[str, Any]) -> str:
        """S3 Control CreateJob; the new job's id."""
        try:
            response = self._client("s3control").create_job(**request)
        except SDK_ERRORS as e:
            cause, fix = explain(e)
            if isinstance(e, ClientError) and error_code(e) in ("AccessDenied", "403"):
                fix = (
                    "grant this identity s3:CreateJob and iam:PassRole on the job's role "
                    "(docs/SCALE.md)"
                )
            raise StoreError(f"S3 Control CreateJob failed: {cause}", fix=fix) from None
        return str(response["JobId"])
