"""`evidence store check` against a real moto_server on 127.0.0.1, over HTTP.

One correctly configured bucket passes all six checks; each other bucket gets
one misconfiguration and must fail exactly the checks that misconfiguration
breaks, with a fix.

moto and the TLS-deny policy: moto enforces a bucket policy only on object
requests (GET/PUT/... of a key) and ignores its conditions, so a plain-HTTP
PutObject into a TLS-only bucket is refused with 403, while the bucket-level
GETs the check makes (versioning, object-lock, encryption, publicAccessBlock,
policy) still answer. The check never writes, so the policy can sit on the same
bucket as everything else; ``test_moto_refuses_object_writes_under_the_tls_deny``
pins that behaviour so a moto upgrade that changes it is noticed here.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from das_evidence.errors import ConfigError, StoreError
from das_evidence.evidence_store.bucket_check import (
    CHECKS,
    BucketCheck,
    BucketReport,
    check_bucket,
    tls_deny_statement,
)
from tests.s3_server import MotoServer, free_port, moto_server

REQUIRED_DAYS = 30
ALL_BLOCKS = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as s:
        yield s


@pytest.fixture(scope="module")
def s3(server: MotoServer) -> Any:
    return server.client()


@pytest.fixture(scope="module")
def kms_key(server: MotoServer) -> str:
    key = server.client("kms").create_key(Description="evidence bucket key")
    return str(key["KeyMetadata"]["Arn"])


def tls_policy(bucket: str, **changes: Any) -> dict[str, Any]:
    statement = tls_deny_statement(bucket)
    statement.update(changes)
    return {"Version": "2012-10-17", "Statement": [statement]}


@dataclass
class Spec:
    """A bucket's configuration; the defaults are the correct one."""

    object_lock: bool = True
    versioning: str | None = None  # for a bucket without Object Lock: "Enabled", "Suspended"
    retention: dict[str, Any] | None = field(
        default_factory=lambda: {"Mode": "COMPLIANCE", "Days": REQUIRED_DAYS}
    )
    sse: str | None = "aws:kms"
    blocks: dict[str, bool] | None = field(default_factory=lambda: dict(ALL_BLOCKS))
    policy: str | None = "tls"  # "tls", None, or a JSON document ("{bucket}" is substituted)


def make_bucket(server: MotoServer, kms_key: str, spec: Spec) -> str:
    s3 = server.client()
    bucket = f"check-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=spec.object_lock)
    if spec.versioning:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": spec.versioning})
    if spec.object_lock and spec.retention:
        s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": spec.retention},
            },
        )
    if spec.sse:
        default: dict[str, str] = {"SSEAlgorithm": spec.sse}
        if spec.sse.startswith("aws:kms"):
            default["KMSMasterKeyID"] = kms_key
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": default}]
            },
        )
    if spec.blocks is not None:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=spec.blocks)
    # Last: under the TLS deny moto refuses object requests to this bucket.
    if spec.policy == "tls":
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(tls_policy(bucket)))
    elif spec.policy is not None:
        s3.put_bucket_policy(Bucket=bucket, Policy=spec.policy.replace("{bucket}", bucket))
    return bucket


@pytest.fixture(scope="module")
def good_bucket(server: MotoServer, kms_key: str) -> str:
    return make_bucket(server, kms_key, Spec())


def failed(checks: list[BucketCheck]) -> set[str]:
    return {c.name for c in checks if not c.passed}


def by_name(checks: list[BucketCheck]) -> dict[str, BucketCheck]:
    return {c.name: c for c in checks}


def test_correct_bucket_passes_all_six(s3: Any, good_bucket: str, kms_key: str) -> None:
    checks = check_bucket(s3, good_bucket, required_retention_days=REQUIRED_DAYS)

    assert [c.name for c in checks] == list(CHECKS)
    assert failed(checks) == set(), [c.detail for c in checks if not c.passed]
    assert all(c.fix == "" for c in checks)
    assert kms_key in by_name(checks)["encryption"].detail
    report = BucketReport(checks, bucket=good_bucket)
    assert report.ok
    out = json.loads(json.dumps(report.to_json()))
    assert out["verdict"] == "pass"
    assert [c["name"] for c in out["checks"]] == list(CHECKS)


def _policy(**changes: Any) -> str:
    return json.dumps(tls_policy("{bucket}", **changes))


# (id, spec, required days, failed checks, a phrase the first failed check's detail holds)
MISCONFIGURED = [
    pytest.param(
        Spec(object_lock=False, retention=None),
        {"versioning", "object_lock", "default_retention"},
        "never been enabled",
        id="no_versioning",
    ),
    pytest.param(
        Spec(object_lock=False, versioning="Suspended", retention=None),
        {"versioning", "object_lock", "default_retention"},
        "Suspended",
        id="versioning_suspended",
    ),
    pytest.param(
        Spec(object_lock=False, versioning="Enabled", retention=None),
        {"object_lock", "default_retention"},
        "Object Lock is not enabled",
        id="no_object_lock",
    ),
    pytest.param(
        Spec(retention=None),
        {"default_retention"},
        "no default retention rule",
        id="no_default_retention",
    ),
    pytest.param(
        Spec(retention={"Mode": "GOVERNANCE", "Days": 365}),
        {"default_retention"},
        "GOVERNANCE",
        id="governance_retention",
    ),
    pytest.param(
        Spec(retention={"Mode": "COMPLIANCE", "Days": REQUIRED_DAYS - 1}),
        {"default_retention"},
        f"{REQUIRED_DAYS - 1} days, shorter than the required {REQUIRED_DAYS}",
        id="retention_too_short",
    ),
    pytest.param(Spec(sse="AES256"), {"encryption"}, "AES256", id="sse_s3"),
    pytest.param(Spec(sse=None), {"encryption"}, "no default encryption", id="no_encryption"),
    pytest.param(
        Spec(blocks={**ALL_BLOCKS, "RestrictPublicBuckets": False}),
        {"public_access_block"},
        "flags off: RestrictPublicBuckets",
        id="public_access_flag_off",
    ),
    pytest.param(
        Spec(blocks=None),
        {"public_access_block"},
        "no public access block",
        id="no_public_access_block",
    ),
    pytest.param(Spec(policy=None), {"tls_only_policy"}, "has no policy", id="no_policy"),
    pytest.param(
        Spec(
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:DeleteBucket",
                            "Resource": "arn:aws:s3:::{bucket}",
                        }
                    ],
                }
            )
        ),
        {"tls_only_policy"},
        "no statement denying requests without TLS",
        id="policy_without_tls_deny",
    ),
    pytest.param(
        Spec(policy=_policy(Effect="Allow")),
        {"tls_only_policy"},
        "no statement denying",
        id="tls_statement_allows",
    ),
    pytest.param(
        Spec(policy=_policy(Action="s3:GetObject")),
        {"tls_only_policy"},
        "no statement denying",
        id="tls_deny_one_action",
    ),
    pytest.param(
        Spec(policy=_policy(Principal={"AWS": "arn:aws:iam::123456789012:root"})),
        {"tls_only_policy"},
        "no statement denying",
        id="tls_deny_one_principal",
    ),
    pytest.param(
        Spec(
            policy=_policy(
                Condition={
                    "Bool": {"aws:SecureTransport": "false"},
                    "StringEquals": {"aws:PrincipalAccount": "123456789012"},
                }
            )
        ),
        {"tls_only_policy"},
        "no statement denying",
        id="tls_deny_narrowed_by_condition",
    ),
    pytest.param(
        Spec(policy=_policy(Condition={"Bool": {"aws:SecureTransport": "true"}})),
        {"tls_only_policy"},
        "no statement denying",
        id="deny_with_tls_instead_of_without",
    ),
    pytest.param(
        Spec(policy=_policy(Resource="arn:aws:s3:::{bucket}/*")),
        {"tls_only_policy"},
        "does not cover the bucket",
        id="tls_deny_objects_only",
    ),
    pytest.param(
        Spec(policy=_policy(Resource="arn:aws:s3:::{bucket}")),
        {"tls_only_policy"},
        "does not cover its objects",
        id="tls_deny_bucket_only",
    ),
]


@pytest.mark.parametrize(("spec", "expected", "phrase"), MISCONFIGURED)
def test_misconfiguration_fails_exactly_its_checks(
    server: MotoServer, s3: Any, kms_key: str, spec: Spec, expected: set[str], phrase: str
) -> None:
    bucket = make_bucket(server, kms_key, spec)

    checks = check_bucket(s3, bucket, required_retention_days=REQUIRED_DAYS)

    assert [c.name for c in checks] == list(CHECKS)
    assert failed(checks) == expected, {c.name: c.detail for c in checks}
    first = next(c for c in checks if not c.passed)
    assert phrase in first.detail
    for c in checks:
        assert bool(c.fix) == (not c.passed), c
    fixes = " ".join(c.fix for c in checks)
    assert bucket in fixes
    assert not BucketReport(checks, bucket=bucket).ok
    assert BucketReport(checks).to_json()["verdict"] == "fail"


# Equivalent spellings of a correct configuration pass.
EQUIVALENT = [
    pytest.param(Spec(retention={"Mode": "COMPLIANCE", "Years": 1}), 365, id="retention_in_years"),
    pytest.param(
        Spec(
            policy=_policy(
                Principal={"AWS": "*"},
                Action=["s3:GetObject", "s3:*"],
                Condition={"Bool": {"aws:SecureTransport": False}},
            )
        ),
        REQUIRED_DAYS,
        id="tls_deny_bool_false_aws_star_action_list",
    ),
    pytest.param(
        Spec(
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {**tls_deny_statement("{bucket}"), "Resource": "arn:aws:s3:::{bucket}"},
                        {**tls_deny_statement("{bucket}"), "Resource": "arn:aws:s3:::{bucket}/*"},
                    ],
                }
            )
        ),
        REQUIRED_DAYS,
        id="tls_deny_split_over_two_statements",
    ),
    pytest.param(Spec(sse="aws:kms:dsse"), REQUIRED_DAYS, id="dsse_kms"),
]


@pytest.mark.parametrize(("spec", "days"), EQUIVALENT)
def test_equivalent_configurations_pass(
    server: MotoServer, s3: Any, kms_key: str, spec: Spec, days: int
) -> None:
    bucket = make_bucket(server, kms_key, spec)

    checks = check_bucket(s3, bucket, required_retention_days=days)

    assert failed(checks) == set(), {c.name: c.detail for c in checks}


def test_retention_in_years_counts_365_days_each(server: MotoServer, s3: Any, kms_key: str) -> None:
    bucket = make_bucket(server, kms_key, Spec(retention={"Mode": "COMPLIANCE", "Years": 1}))

    checks = check_bucket(s3, bucket, required_retention_days=366)

    assert failed(checks) == {"default_retention"}
    assert "365 days" in by_name(checks)["default_retention"].detail


def test_lock_mode_governance_is_checked_when_configured(
    server: MotoServer, s3: Any, kms_key: str, good_bucket: str
) -> None:
    governance = make_bucket(
        server, kms_key, Spec(retention={"Mode": "GOVERNANCE", "Days": REQUIRED_DAYS})
    )

    ok = check_bucket(s3, governance, required_retention_days=REQUIRED_DAYS, lock_mode="GOVERNANCE")
    compliance = check_bucket(
        s3, good_bucket, required_retention_days=REQUIRED_DAYS, lock_mode="GOVERNANCE"
    )

    assert failed(ok) == set()
    assert failed(compliance) == {"default_retention"}
    assert '"Mode":"GOVERNANCE"' in by_name(compliance)["default_retention"].fix


def test_bad_lock_mode_is_a_config_error(s3: Any, good_bucket: str) -> None:
    with pytest.raises(ConfigError) as e:
        check_bucket(s3, good_bucket, required_retention_days=REQUIRED_DAYS, lock_mode="compliance")
    assert e.value.exit_code == 2


def test_check_only_reads(server: MotoServer, s3: Any, good_bucket: str) -> None:
    before = len(server.requests())

    check_bucket(s3, good_bucket, required_retention_days=REQUIRED_DAYS)

    # moto_server logs each request just after answering it.
    deadline = time.monotonic() + 5
    while len(server.requests()) < before + 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    made = server.requests()[before:]
    assert sorted(p for _, p, _ in made) == sorted(
        f"/{good_bucket}?{q}"
        for q in ("versioning", "object-lock", "encryption", "publicAccessBlock", "policy")
    )
    assert {(m, status) for m, _, status in made} == {("GET", 200)}


def test_moto_refuses_object_writes_under_the_tls_deny(s3: Any, good_bucket: str) -> None:
    """What moto does with the TLS deny: object requests 403, bucket-level GETs answer."""
    with pytest.raises(s3.exceptions.ClientError) as e:
        s3.put_object(Bucket=good_bucket, Key="probe", Body=b"x")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    checks = check_bucket(s3, good_bucket, required_retention_days=REQUIRED_DAYS)
    assert failed(checks) == set()


def test_missing_bucket_is_a_store_error(s3: Any) -> None:
    with pytest.raises(StoreError) as e:
        check_bucket(s3, "no-such-evidence-bucket", required_retention_days=REQUIRED_DAYS)

    assert e.value.exit_code == 3
    assert "'no-such-evidence-bucket' does not exist" in e.value.message
    assert e.value.fix and "--object-lock-enabled-for-bucket" in e.value.fix


def test_unreachable_endpoint_is_a_store_error() -> None:
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2),
    )

    with pytest.raises(StoreError) as e:
        check_bucket(client, "evidence", required_retention_days=REQUIRED_DAYS)

    assert e.value.exit_code == 3
    assert "cannot reach S3" in e.value.message


# -- AccessDenied: a server of its own, with moto's IAM enforcement turned on ---


@dataclass
class IamSetup:
    server: MotoServer
    bucket: str
    clients: dict[str, Any]  # denied IAM action -> an S3 client for a user denied it


DENIABLE = ("s3:GetBucketPolicy", "s3:GetBucketVersioning")


@pytest.fixture(scope="module")
def iam_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamSetup]:
    log_path: Path = tmp_path_factory.mktemp("moto-iam") / "moto.log"
    with moto_server(log_path) as server:
        kms_key = str(server.client("kms").create_key()["KeyMetadata"]["Arn"])
        bucket = make_bucket(server, kms_key, Spec())
        iam = server.client("iam")
        keys = {}
        for i, action in enumerate(DENIABLE):
            user = f"collector-{i}"
            iam.create_user(UserName=user)
            iam.put_user_policy(
                UserName=user,
                PolicyName="collector",
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                            {"Effect": "Deny", "Action": action, "Resource": "*"},
                        ],
                    }
                ),
            )
            keys[action] = iam.create_access_key(UserName=user)["AccessKey"]
        # From here on moto authenticates and authorizes every request.
        request = urllib.request.Request(
            f"{server.endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200
        clients = {
            action: boto3.client(
                "s3",
                endpoint_url=server.endpoint,
                region_name="us-east-1",
                aws_access_key_id=key["AccessKeyId"],
                aws_secret_access_key=key["SecretAccessKey"],
            )
            for action, key in keys.items()
        }
        yield IamSetup(server, bucket, clients)


@pytest.mark.parametrize(
    ("action", "check"),
    [("s3:GetBucketPolicy", "tls_only_policy"), ("s3:GetBucketVersioning", "versioning")],
)
def test_access_denied_fails_only_that_check(iam_setup: IamSetup, action: str, check: str) -> None:
    checks = check_bucket(
        iam_setup.clients[action], iam_setup.bucket, required_retention_days=REQUIRED_DAYS
    )

    assert failed(checks) == {check}, {c.name: c.detail for c in checks}
    denied = by_name(checks)[check]
    assert "collector's role cannot read this setting" in denied.detail
    assert action in denied.detail
    assert (
        denied.fix
        == f"grant {action} on arn:aws:s3:::{iam_setup.bucket} to the role that runs the check"
    )
