"""`evidence store check`: whether an S3 bucket is fit to hold evidence.

Six checks, in this order, each a value with a detail and, when it fails, a fix
(an AWS CLI command or console step):

1. ``versioning``: bucket versioning is Enabled.
2. ``object_lock``: Object Lock is enabled on the bucket.
3. ``default_retention``: a default retention rule in the configured lock mode
   (COMPLIANCE unless told otherwise) of at least the required days.
4. ``encryption``: default encryption is SSE-KMS (``aws:kms`` or ``aws:kms:dsse``).
5. ``public_access_block``: all four bucket public-access blocks are on.
6. ``tls_only_policy``: the bucket policy denies every request made without TLS,
   to the bucket and to its objects.

Reading and judging are separate: :func:`read_settings` makes the five
read-only GET calls, :func:`evaluate` is pure. A setting that is absent
(``NoSuchBucketPolicy``, ...) or that the caller may not read (``AccessDenied``)
is a failed check, not an exception; a missing bucket or an unreachable
endpoint raises :class:`StoreError` (exit 3).

The boto3 S3 client is passed in (``aws.make_client`` builds one). This is the
one reader and the one judge of bucket settings: ``S3Store.bucket_settings``,
``evidence store check``, the warning on every collect and the ``S1 bucket``
findings of online verification all go through :func:`read_settings` and
:func:`evaluate`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from das_evidence.errors import ConfigError, StoreError
from das_evidence.evidence_store.interface import LOCK_MODES, EvidenceStore

log = logging.getLogger(__name__)

CHECKS = (
    "versioning",
    "object_lock",
    "default_retention",
    "encryption",
    "public_access_block",
    "tls_only_policy",
)
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
PUBLIC_ACCESS_FLAGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
_DENIED_CODES = frozenset({"AccessDenied", "AllAccessDisabled"})
_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")


@dataclass(frozen=True)
class BucketCheck:
    """One check's verdict. ``fix`` is empty when the check passed."""

    name: str
    passed: bool
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class BucketReport:
    """Every check on one bucket; ``ok`` when all passed."""

    checks: Sequence[BucketCheck]
    bucket: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple(self.checks))

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> tuple[BucketCheck, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_json(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "verdict": "pass" if self.ok else "fail",
            "checks": [c.to_json() for c in self.checks],
        }


# -- reading ------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One GET's result: the API answer, or the S3 error code that stands in for it.

    ``denied`` means the caller may not read the setting; otherwise a non-empty
    ``error`` means the setting is not configured.
    """

    action: str
    body: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""
    denied: bool = False


@dataclass(frozen=True)
class BucketSettings:
    """The raw answers the checks judge, one per read-only GET."""

    bucket: str
    versioning: Answer
    object_lock: Answer
    encryption: Answer
    public_access_block: Answer
    policy: Answer


@dataclass(frozen=True)
class _Read:
    method: str
    action: str  # the IAM action the GET needs, for the AccessDenied fix
    what: str
    missing: frozenset[str] = frozenset()


_READS = {
    "versioning": _Read("get_bucket_versioning", "s3:GetBucketVersioning", "versioning"),
    "object_lock": _Read(
        "get_object_lock_configuration",
        "s3:GetBucketObjectLockConfiguration",
        "Object Lock configuration",
        frozenset({"ObjectLockConfigurationNotFoundError"}),
    ),
    "encryption": _Read(
        "get_bucket_encryption",
        "s3:GetEncryptionConfiguration",
        "default encryption",
        frozenset({"ServerSideEncryptionConfigurationNotFoundError"}),
    ),
    "public_access_block": _Read(
        "get_public_access_block",
        "s3:GetBucketPublicAccessBlock",
        "public access block",
        frozenset({"NoSuchPublicAccessBlockConfiguration"}),
    ),
    "policy": _Read(
        "get_bucket_policy",
        "s3:GetBucketPolicy",
        "bucket policy",
        frozenset({"NoSuchBucketPolicy"}),
    ),
}


def _read(client: Any, bucket: str, read: _Read) -> Answer:
    # Imported here: a directory store's bucket check (none) must not import boto3.
    from das_evidence.aws import SDK_ERRORS

    try:
        body = getattr(client, read.method)(Bucket=bucket)
    except client.exceptions.ClientError as e:
        code = str(e.response.get("Error", {}).get("Code", ""))
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            raise StoreError(
                f"bucket {bucket!r} does not exist (S3 answered NoSuchBucket)",
                fix="check store.uri and the endpoint/region; an evidence bucket is created "
                f"with `aws s3api create-bucket --bucket {bucket} "
                "--object-lock-enabled-for-bucket`",
            ) from e
        if code in read.missing:
            return Answer(read.action, error=code)
        if code in _DENIED_CODES or status == 403:
            return Answer(read.action, error=code or "403", denied=True)
        raise StoreError(
            f"reading the {read.what} of bucket {bucket!r} failed: {code or status}: {e}",
            fix="check the credentials, region and endpoint, then run the check again",
        ) from e
    except SDK_ERRORS as e:
        raise StoreError(
            f"cannot reach S3 to read the {read.what} of bucket {bucket!r}: {e}",
            fix="check store.endpoint_url (or AWS_ENDPOINT_URL), the network and the "
            "AWS credentials",
        ) from e
    log.debug("read %s of %s", read.what, bucket)
    return Answer(read.action, body=dict(body))


def read_settings(client: Any, bucket: str) -> BucketSettings:
    """The five read-only GETs the checks need. Raises StoreError for a missing bucket."""
    # Versioning first: its GET needs no configuration to exist, so a missing
    # bucket or dead endpoint shows up before anything else is asked.
    answers = {name: _read(client, bucket, read) for name, read in _READS.items()}
    return BucketSettings(bucket=bucket, **answers)


# -- judging ------------------------------------------------------------------


def _denied(name: str, answer: Answer, bucket: str) -> BucketCheck:
    return BucketCheck(
        name,
        False,
        f"the collector's role cannot read this setting ({answer.action} was denied: "
        f"{answer.error}), so it cannot be confirmed",
        f"grant {answer.action} on arn:aws:s3:::{bucket} to the role that runs the check",
    )


def _versioning(s: BucketSettings) -> BucketCheck:
    name = "versioning"
    if s.versioning.denied:
        return _denied(name, s.versioning, s.bucket)
    status = s.versioning.body.get("Status")
    if status == "Enabled":
        return BucketCheck(name, True, "versioning is Enabled")
    state = f"versioning is {status}" if status else "versioning has never been enabled"
    return BucketCheck(
        name,
        False,
        f"{state}: an overwritten or deleted key loses its evidence",
        f"aws s3api put-bucket-versioning --bucket {s.bucket} "
        "--versioning-configuration Status=Enabled",
    )


def _lock_config(s: BucketSettings) -> Mapping[str, Any]:
    config = s.object_lock.body.get("ObjectLockConfiguration") or {}
    return config if isinstance(config, Mapping) else {}


def _object_lock(s: BucketSettings) -> BucketCheck:
    name = "object_lock"
    if s.object_lock.denied:
        return _denied(name, s.object_lock, s.bucket)
    if _lock_config(s).get("ObjectLockEnabled") == "Enabled":
        return BucketCheck(name, True, "Object Lock is enabled")
    return BucketCheck(
        name,
        False,
        "Object Lock is not enabled: evidence can be deleted by anyone allowed to delete",
        "on a versioned bucket, `aws s3api put-object-lock-configuration --bucket "
        f"{s.bucket} --object-lock-configuration ObjectLockEnabled=Enabled`; otherwise "
        "create a new bucket with `aws s3api create-bucket --object-lock-enabled-for-bucket` "
        "and move the archive there",
    )


def _retention_days(rule: Mapping[str, Any]) -> int:
    days = rule.get("Days") or 0
    years = rule.get("Years") or 0
    return int(days) + int(years) * 365


def _default_retention(s: BucketSettings, required_days: int, lock_mode: str) -> BucketCheck:
    name = "default_retention"
    if s.object_lock.denied:
        return _denied(name, s.object_lock, s.bucket)
    fix = (
        f"aws s3api put-object-lock-configuration --bucket {s.bucket} "
        "--object-lock-configuration '"
        + json.dumps(
            {
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": lock_mode, "Days": required_days}},
            },
            separators=(",", ":"),
        )
        + "'"
    )
    config = _lock_config(s)
    if config.get("ObjectLockEnabled") != "Enabled":
        return BucketCheck(name, False, "no default retention: Object Lock is not enabled", fix)
    rule = (config.get("Rule") or {}).get("DefaultRetention") or {}
    if not rule:
        return BucketCheck(
            name,
            False,
            "Object Lock has no default retention rule: an object is locked only if its "
            "PUT asks for it",
            fix,
        )
    mode = rule.get("Mode")
    days = _retention_days(rule)
    if mode != lock_mode:
        why = (
            " (users with s3:BypassGovernanceRetention can delete evidence)"
            if mode == "GOVERNANCE"
            else ""
        )
        return BucketCheck(
            name, False, f"default retention is {mode} {days} days, not {lock_mode}{why}", fix
        )
    if days < required_days:
        return BucketCheck(
            name,
            False,
            f"default retention is {mode} {days} days, shorter than the required "
            f"{required_days} days",
            fix,
        )
    return BucketCheck(
        name, True, f"default retention is {mode} {days} days (required: {required_days})"
    )


def _encryption(s: BucketSettings) -> BucketCheck:
    name = "encryption"
    if s.encryption.denied:
        return _denied(name, s.encryption, s.bucket)
    fix = (
        f"aws s3api put-bucket-encryption --bucket {s.bucket} "
        "--server-side-encryption-configuration '"
        '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms",'
        '"KMSMasterKeyID":"<kms-key-arn>"},"BucketKeyEnabled":true}]}\''
    )
    config = s.encryption.body.get("ServerSideEncryptionConfiguration") or {}
    defaults = [
        r.get("ApplyServerSideEncryptionByDefault") or {}
        for r in config.get("Rules") or []
        if isinstance(r, Mapping)
    ]
    for d in defaults:
        if d.get("SSEAlgorithm") in KMS_ALGORITHMS:
            key = d.get("KMSMasterKeyID") or "the AWS managed key aws/s3"
            return BucketCheck(name, True, f"default encryption is {d['SSEAlgorithm']} with {key}")
    if not defaults:
        return BucketCheck(name, False, "the bucket has no default encryption configuration", fix)
    found = ", ".join(str(d.get("SSEAlgorithm")) for d in defaults)
    return BucketCheck(
        name,
        False,
        f"default encryption is {found}, not SSE-KMS: access to evidence is not "
        "governed by a KMS key policy",
        fix,
    )


def _public_access_block(s: BucketSettings) -> BucketCheck:
    name = "public_access_block"
    if s.public_access_block.denied:
        return _denied(name, s.public_access_block, s.bucket)
    config = s.public_access_block.body.get("PublicAccessBlockConfiguration") or {}
    off = [f for f in PUBLIC_ACCESS_FLAGS if config.get(f) is not True]
    if not off:
        return BucketCheck(name, True, "all four public access blocks are on")
    detail = (
        "the bucket has no public access block"
        if not config
        else f"public access block flags off: {', '.join(off)}"
    )
    return BucketCheck(
        name,
        False,
        detail,
        f"aws s3api put-public-access-block --bucket {s.bucket} "
        "--public-access-block-configuration " + ",".join(f"{f}=true" for f in PUBLIC_ACCESS_FLAGS),
    )


def tls_deny_statement(bucket: str) -> dict[str, Any]:
    """The policy statement check 6 looks for."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _is_false(value: Any) -> bool:
    values = _as_list(value)
    return bool(values) and all(
        v is False or (isinstance(v, str) and v.lower() == "false") for v in values
    )


def _denies_plain_http(st: Mapping[str, Any]) -> bool:
    """A Deny for everyone on every S3 action, on exactly the condition "no TLS"."""
    if st.get("Effect") != "Deny" or {"NotPrincipal", "NotAction", "NotResource"} & set(st):
        return False
    principal = st.get("Principal")
    if not (
        principal == "*"
        or (isinstance(principal, Mapping) and _as_list(principal.get("AWS")) == ["*"])
    ):
        return False
    if not {"s3:*", "*"} & {str(a) for a in _as_list(st.get("Action"))}:
        return False
    # Any other condition key would narrow the deny (conditions are ANDed).
    condition = st.get("Condition")
    if not isinstance(condition, Mapping) or len(condition) != 1:
        return False
    ((operator, keys),) = condition.items()
    return (
        operator in ("Bool", "BoolIfExists")
        and isinstance(keys, Mapping)
        and len(keys) == 1
        and _is_false(keys.get("aws:SecureTransport"))
    )


def _arn_match(pattern: str, value: str) -> bool:
    """IAM resource matching: ``*`` any run of characters, ``?`` any one."""
    partition = pattern.split(":")[1] if pattern.count(":") >= 2 else ""
    if partition in _PARTITIONS:
        pattern = "arn:aws:" + pattern.split(":", 2)[2]
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value) is not None


def _covers_objects(pattern: str, bucket_arn: str) -> bool:
    # "p*" covers every key iff p matches some prefix of "bucket_arn/", which is
    # exactly when the whole pattern matches "bucket_arn/".
    return pattern.endswith("*") and _arn_match(pattern, f"{bucket_arn}/")


def _tls_only_policy(s: BucketSettings) -> BucketCheck:
    name = "tls_only_policy"
    if s.policy.denied:
        return _denied(name, s.policy, s.bucket)
    statement = json.dumps(tls_deny_statement(s.bucket), separators=(",", ":"))
    if s.policy.error:
        return BucketCheck(
            name,
            False,
            "the bucket has no policy, so requests without TLS are not refused",
            f"aws s3api put-bucket-policy --bucket {s.bucket} --policy "
            f'\'{{"Version":"2012-10-17","Statement":[{statement}]}}\'',
        )
    add = f"add this statement to the bucket policy (aws s3api put-bucket-policy): {statement}"
    try:
        policy = json.loads(s.policy.body.get("Policy") or "")
    except (TypeError, ValueError):
        return BucketCheck(name, False, "the bucket policy is not valid JSON", add)
    statements = _as_list(policy.get("Statement")) if isinstance(policy, Mapping) else []
    resources = [
        str(r)
        for st in statements
        if isinstance(st, Mapping) and _denies_plain_http(st)
        for r in _as_list(st.get("Resource"))
    ]
    bucket_arn = f"arn:aws:s3:::{s.bucket}"
    covered = {
        "the bucket": any(_arn_match(r, bucket_arn) for r in resources),
        "its objects": any(_covers_objects(r, bucket_arn) for r in resources),
    }
    if all(covered.values()):
        return BucketCheck(name, True, "the bucket policy denies every request without TLS")
    if not resources:
        detail = "the bucket policy has no statement denying requests without TLS"
    else:
        missing = " and ".join(k for k, v in covered.items() if not v)
        detail = f"the bucket policy's TLS deny does not cover {missing}"
    return BucketCheck(name, False, detail, add)


def evaluate(
    settings: BucketSettings, *, required_retention_days: int, lock_mode: str = "COMPLIANCE"
) -> list[BucketCheck]:
    """Judge read settings; pure. The result is in :data:`CHECKS` order."""
    _validate(required_retention_days, lock_mode)
    return [
        _versioning(settings),
        _object_lock(settings),
        _default_retention(settings, required_retention_days, lock_mode),
        _encryption(settings),
        _public_access_block(settings),
        _tls_only_policy(settings),
    ]


def evaluate_lock(settings: BucketSettings) -> list[BucketCheck]:
    """The two settings that make evidence immutable at all: versioning and Object Lock.

    Online verification judges these (``S1 bucket``); the full :func:`evaluate`
    adds retention, encryption and access, which are the operator's to fix.
    """
    return [_versioning(settings), _object_lock(settings)]


def _validate(required_retention_days: int, lock_mode: str) -> None:
    if lock_mode not in LOCK_MODES:
        raise ConfigError(
            f"store.lock_mode {lock_mode!r} is not one of {', '.join(LOCK_MODES)}",
            fix='use "COMPLIANCE" (GOVERNANCE lets privileged users delete evidence)',
        )
    if required_retention_days < 1:
        raise ConfigError(
            f"the required retention must be at least 1 day, not {required_retention_days}",
            fix="set the retention of the longest-kept stream, in days",
        )


def check_store(
    store: EvidenceStore, *, required_retention_days: int, lock_mode: str = "COMPLIANCE"
) -> list[BucketCheck] | None:
    """The six checks for the bucket behind ``store``; None for a store with no bucket."""
    _validate(required_retention_days, lock_mode)
    settings = store.bucket_settings()
    if settings is None:
        return None
    return evaluate(settings, required_retention_days=required_retention_days, lock_mode=lock_mode)


def check_bucket(
    client: Any, bucket: str, *, required_retention_days: int, lock_mode: str = "COMPLIANCE"
) -> list[BucketCheck]:
    """Read the bucket's settings with ``client`` (a boto3 S3 client) and run the six checks.

    Makes only read-only GET calls. Raises StoreError if the bucket does not
    exist or S3 cannot be reached, ConfigError for a bad lock mode or retention.
    """
    _validate(required_retention_days, lock_mode)
    return evaluate(
        read_settings(client, bucket),
        required_retention_days=required_retention_days,
        lock_mode=lock_mode,
    )
