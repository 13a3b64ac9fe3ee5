"""The deployment files, each checked for least privilege and for agreeing with the product.

No Docker engine, cloud account or Kubernetes cluster is needed: the Dockerfile
is read instruction by instruction, the IAM policy and the CronJob are parsed as
JSON and YAML, the Terraform as HCL (python-hcl2) and the Snowflake script with
sqlglot. Where a file names something the product also names (the SNOWFLAKE
views it reads, the IAM actions `evidence store check` needs, the runtime
dependencies in pyproject.toml), the test compares the two.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import sqlglot
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sqlglot import exp

from das_evidence.collectors.snowflake.policy_views import POLICY_VIEWS, SHOW_COMMANDS
from das_evidence.collectors.snowflake.views import VIEWS
from das_evidence.config import load_settings
from das_evidence.evidence_store.bucket_check import _READS, tls_deny_statement

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK = ROOT / "requirements.lock"
IAM_POLICY = DEPLOY / "aws" / "iam-policy.json"
BUCKET_TF = DEPLOY / "aws" / "bucket.tf"
CRONJOB = DEPLOY / "k8s" / "cronjob.yaml"
K8S_CONFIG = DEPLOY / "k8s" / "evidence.toml"
SETUP_SQL = DEPLOY / "snowflake" / "setup.sql"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"


# -- IAM: a conservative action matcher ----------------------------------------

# What the collector's policy must never allow. Patterns match as IAM does
# (case-insensitive, * and ? wildcards); an allowed pattern that could cover any
# of these, or be covered by one, counts as granting it.
FORBIDDEN_ACTIONS = (
    "s3:Delete*",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:BypassGovernanceRetention",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutObjectLegalHold",
    "s3:PutBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutLifecycleConfiguration",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketAcl",
    "s3:PutObjectAcl",
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
    "kms:PutKeyPolicy",
    "kms:CreateGrant",
    "iam:*",
)

# What the product calls: put-once with retention, reads, HEAD with lock headers
# (S3 returns them only with GetObjectRetention/GetObjectLegalHold), listings,
# KMS signing and SSE-KMS, plus every GET that `evidence store check` makes.
REQUIRED_ACTIONS = (
    "s3:PutObject",
    "s3:PutObjectRetention",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectRetention",
    "s3:GetObjectLegalHold",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "kms:Sign",
    "kms:GetPublicKey",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    *(read.action for read in _READS.values()),
)

# The policy is a Terraform template: ${name} placeholders, rendered by
# templatefile() in bucket.tf (or by hand, docs/OPERATIONS.md).
PLACEHOLDERS = {
    "partition": "aws",
    "region": "eu-west-1",
    "account_id": "111122223333",
    "bucket": "acme-evidence",
    "prefix": "prod",
    "signing_key_id": "1234abcd-12ab-34cd-56ef-1234567890ab",
    "note_key_id": "2234abcd-12ab-34cd-56ef-1234567890ab",
    "data_key_id": "3234abcd-12ab-34cd-56ef-1234567890ab",
}
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def may_match(a: str, b: str) -> bool:
    """Whether two IAM action patterns could name a common action (either covers the other)."""
    a, b = a.lower(), b.lower()
    return fnmatchcase(a, b) or fnmatchcase(b, a)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def statements(policy: dict[str, Any], effect: str) -> list[dict[str, Any]]:
    return [s for s in _as_list(policy["Statement"]) if s.get("Effect") == effect]


def actions(policy: dict[str, Any], effect: str = "Allow") -> list[str]:
    return [a for s in statements(policy, effect) for a in _as_list(s.get("Action", []))]


def render(template: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    return dict(json.loads(render(IAM_POLICY.read_text(), PLACEHOLDERS)))


def test_matcher_is_conservative() -> None:
    assert may_match("s3:*", "s3:DeleteObject")
    assert may_match("s3:Delete*", "s3:DeleteObjectTagging")
    assert may_match("*", "kms:ScheduleKeyDeletion")
    assert may_match("S3:PUTBUCKETPOLICY", "s3:PutBucketPolicy")
    assert may_match("s3:Put*", "s3:PutBucketObjectLockConfiguration")
    assert may_match("s3:?ypassGovernanceRetention", "s3:BypassGovernanceRetention")
    assert not may_match("s3:Get*", "s3:DeleteObject")
    assert not may_match("s3:PutObject", "s3:PutObjectLegalHold")
    assert not may_match("kms:Sign", "kms:ScheduleKeyDeletion")


def test_policy_placeholders_are_the_documented_ones() -> None:
    text = IAM_POLICY.read_text()
    used = set(_PLACEHOLDER.findall(text))
    assert used == set(PLACEHOLDERS), (
        f"undocumented or unused placeholders: {used ^ set(PLACEHOLDERS)}"
    )
    json.loads(text)  # valid JSON before rendering as well
    assert "%{" not in text  # no template directives: the file stays plain JSON


@pytest.mark.parametrize("forbidden", FORBIDDEN_ACTIONS)
def test_policy_grants_no_forbidden_action(policy: dict[str, Any], forbidden: str) -> None:
    granted = [a for a in actions(policy) if may_match(a, forbidden)]
    assert not granted, f"the collector's policy allows {granted}, which covers {forbidden}"


def test_policy_allows_only_by_action_and_resource(policy: dict[str, Any]) -> None:
    for st in statements(policy, "Allow"):
        assert not {"NotAction", "NotResource", "NotPrincipal"} & set(st), st.get("Sid")
    assert {s.get("Effect") for s in _as_list(policy["Statement"])} <= {"Allow", "Deny"}


def test_policy_grants_what_the_collector_and_store_check_call(policy: dict[str, Any]) -> None:
    granted = {a.lower() for a in actions(policy)}
    missing = [a for a in REQUIRED_ACTIONS if a.lower() not in granted]
    assert not missing, f"the collector calls these but the policy does not allow them: {missing}"


def test_policy_resources_are_scoped(policy: dict[str, Any]) -> None:
    bucket = "arn:aws:s3:::acme-evidence"
    key = "arn:aws:kms:eu-west-1:111122223333:key/"
    for st in statements(policy, "Allow"):
        resources = _as_list(st["Resource"])
        assert "*" not in resources, f"{st.get('Sid')}: Resource '*'"
        for action in _as_list(st["Action"]):
            service, _, name = action.partition(":")
            assert "*" not in name, f"{st.get('Sid')}: wildcard action {action}"
            for r in resources:
                if service == "s3" and name.startswith(("PutObject", "GetObject")):
                    assert r == f"{bucket}/prod/*", f"{action} on {r}: not the archive prefix"
                elif service == "s3":
                    assert r == bucket, f"{action} on {r}: not the evidence bucket"
                else:
                    assert service == "kms" and r.startswith(key), f"{action} on {r}"


def test_policy_signs_only_with_the_signing_keys(policy: dict[str, Any]) -> None:
    for st in statements(policy, "Allow"):
        if {"kms:sign", "kms:getpublickey"} & {a.lower() for a in _as_list(st["Action"])}:
            assert sorted(_as_list(st["Resource"])) == sorted(
                f"arn:aws:kms:eu-west-1:111122223333:key/{PLACEHOLDERS[k]}"
                for k in ("signing_key_id", "note_key_id")
            )
        if "kms:decrypt" in {a.lower() for a in _as_list(st["Action"])}:
            via = st["Condition"]["StringEquals"]["kms:ViaService"]
            assert via == "s3.eu-west-1.amazonaws.com"  # the data key only through S3


def test_policy_denies_destruction_explicitly(policy: dict[str, Any]) -> None:
    denied = actions(policy, "Deny")
    for forbidden in (
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:BypassGovernanceRetention",
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutBucketPolicy",
        "s3:PutBucketVersioning",
        "kms:ScheduleKeyDeletion",
        "kms:DisableKey",
    ):
        assert any(may_match(d, forbidden) for d in denied), f"no explicit Deny of {forbidden}"


def test_policy_suffices_for_the_s3_store_and_denies_destruction() -> None:
    """Under moto's IAM emulation, a user with only this policy runs the store's S3 calls.

    moto checks S3 actions against bucket and key ARNs, but it does not scope KMS
    actions to key ARNs and it maps some bucket-setting GETs to s3:ListBucket:
    the structural tests above cover those by name. The bucket policy is left
    out: moto applies its TLS deny to in-process requests.
    """
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    from moto.core.authorization import enable_iam_authentication

    from das_evidence.evidence_store.bucket_check import check_bucket
    from das_evidence.evidence_store.s3 import S3Store

    region, bucket = "eu-west-1", "acme-evidence"
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name=region)
        iam = boto3.client("iam", region_name=region)
        data_key = boto3.client("kms", region_name=region).create_key()["KeyMetadata"]["KeyId"]
        s3.create_bucket(
            Bucket=bucket,
            CreateBucketConfiguration={"LocationConstraint": region},
            ObjectLockEnabledForBucket=True,
        )
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2557}},
            },
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": data_key,
                        }
                    }
                ]
            },
        )
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                flag: True
                for flag in (
                    "BlockPublicAcls",
                    "IgnorePublicAcls",
                    "BlockPublicPolicy",
                    "RestrictPublicBuckets",
                )
            },
        )
        account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
        values = {**PLACEHOLDERS, "account_id": account, "data_key_id": data_key}
        iam.create_user(UserName="collector")
        iam.put_user_policy(
            UserName="collector",
            PolicyName="evidence",
            PolicyDocument=render(IAM_POLICY.read_text(), values),
        )
        key = iam.create_access_key(UserName="collector")["AccessKey"]
        with enable_iam_authentication():
            client = boto3.client(
                "s3",
                region_name=region,
                aws_access_key_id=key["AccessKeyId"],
                aws_secret_access_key=key["SecretAccessKey"],
            )
            store = S3Store(f"s3://{bucket}/prod", client=client)
            until = datetime.now(UTC) + timedelta(days=2557)
            assert store.lock_state("log/entries/0") is None
            put = store.put_once("log/entries/0", b"entry", retain_until=until)
            assert put.created
            assert not store.put_once("log/entries/0", b"entry", retain_until=until).created
            store.replace_checkpoint(b"checkpoint\n")
            assert store.get("log/entries/0", put.info.version_id) == b"entry"
            state = store.lock_state("log/entries/0")
            assert state is not None and state.lock_mode == "COMPLIANCE"
            assert list(store.list("log")) == ["log/checkpoint", "log/entries/0"]
            assert len(store.versions()) == 2
            checks = check_bucket(client, bucket, required_retention_days=2557)
            assert [c.name for c in checks if not c.passed] == ["tls_only_policy"]

            destructive = {
                "DeleteObject": lambda: client.delete_object(
                    Bucket=bucket, Key="prod/log/entries/0"
                ),
                "PutObject outside the prefix": lambda: client.put_object(
                    Bucket=bucket, Key="other/x", Body=b"x"
                ),
                "PutBucketPolicy": lambda: client.put_bucket_policy(Bucket=bucket, Policy="{}"),
                "PutBucketVersioning": lambda: client.put_bucket_versioning(
                    Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}
                ),
                "PutObjectLockConfiguration": lambda: client.put_object_lock_configuration(
                    Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
                ),
            }
            for name, call in destructive.items():
                with pytest.raises(client.exceptions.ClientError) as denied:
                    call()
                assert denied.value.response["Error"]["Code"] == "AccessDenied", name


# -- Terraform ------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """python-hcl2 output without its bookkeeping keys, and with string quotes removed.

    Newer python-hcl2 releases keep the quotes of HCL strings and block labels;
    older ones drop them. Strip them so the tests hold for either.
    """
    if isinstance(value, dict):
        return {
            _plain(k): _plain(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__")
        }
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@pytest.fixture(scope="module")
def tf() -> dict[str, Any]:
    import hcl2  # python-hcl2, a dev dependency

    with BUCKET_TF.open() as f:
        return dict(_plain(hcl2.load(f)))


def _blocks(tf: dict[str, Any], kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for block in tf.get(kind, []):
        for type_, named in block.items():
            for name, body in named.items():
                out[(type_, name)] = body
    return out


def _one(tf: dict[str, Any], type_: str) -> dict[str, Any]:
    found = [body for (t, _), body in _blocks(tf, "resource").items() if t == type_]
    assert len(found) == 1, f"expected one {type_}, found {len(found)}"
    return found[0]


def _first(block: Any) -> dict[str, Any]:
    """A nested HCL block: python-hcl2 gives a list of one dict."""
    return dict(block[0] if isinstance(block, list) else block)


def _variable_default(tf: dict[str, Any], name: str) -> Any:
    for block in tf["variable"]:
        if name in block:
            return block[name]["default"]
    raise AssertionError(f"variable {name} is not declared")


def test_terraform_bucket_has_object_lock_and_versioning(tf: dict[str, Any]) -> None:
    bucket = _one(tf, "aws_s3_bucket")
    assert bucket["object_lock_enabled"] is True
    assert bucket.get("force_destroy", False) is False
    versioning = _first(_one(tf, "aws_s3_bucket_versioning")["versioning_configuration"])
    assert versioning["status"] == "Enabled"


def test_terraform_default_retention_is_compliance(tf: dict[str, Any]) -> None:
    rule = _first(
        _first(_one(tf, "aws_s3_bucket_object_lock_configuration")["rule"])["default_retention"]
    )
    assert rule["mode"] == "COMPLIANCE"
    assert rule["days"] == "${var.retention_days}"
    assert _variable_default(tf, "retention_days") >= 2557


def test_terraform_encryption_is_sse_kms_with_own_key(tf: dict[str, Any]) -> None:
    rule = _first(_one(tf, "aws_s3_bucket_server_side_encryption_configuration")["rule"])
    default = _first(rule["apply_server_side_encryption_by_default"])
    assert default["sse_algorithm"] == "aws:kms"
    assert str(default["kms_master_key_id"]).startswith("${aws_kms_key.")


def test_terraform_blocks_all_public_access(tf: dict[str, Any]) -> None:
    block = _one(tf, "aws_s3_bucket_public_access_block")
    for flag in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[flag] is True, flag


def test_terraform_bucket_policy_is_the_tls_deny_store_check_wants(tf: dict[str, Any]) -> None:
    policy = _one(tf, "aws_s3_bucket_policy")
    m = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", policy["policy"])
    assert m, policy["policy"]
    document = _blocks(tf, "data")[("aws_iam_policy_document", m.group(1))]
    wanted = tls_deny_statement("BUCKET")
    (st,) = [s for s in document["statement"] if s.get("effect") == "Deny"]
    assert st["sid"] == wanted["Sid"]
    assert st["actions"] == [wanted["Action"]]
    assert _first(st["principals"])["identifiers"] == ["*"]
    condition = _first(st["condition"])
    assert (condition["test"], condition["variable"], condition["values"]) == (
        "Bool",
        "aws:SecureTransport",
        ["false"],
    )
    resources = [r.replace("${local.bucket_arn}", "BUCKET") for r in st["resources"]]
    assert sorted(resources) == ["BUCKET", "BUCKET/*"]


def test_terraform_signing_keys_match_the_product(tf: dict[str, Any]) -> None:
    keys = {
        body.get("customer_master_key_spec", "SYMMETRIC_DEFAULT"): body
        for (t, _), body in _blocks(tf, "resource").items()
        if t == "aws_kms_key"
    }
    for spec in ("ECC_NIST_P256", "ECC_NIST_EDWARDS25519"):
        assert keys[spec]["key_usage"] == "SIGN_VERIFY", spec
    assert keys["SYMMETRIC_DEFAULT"]["enable_key_rotation"] is True
    aliases = {
        body["name"] for (t, _), body in _blocks(tf, "resource").items() if t == "aws_kms_alias"
    }
    signing = load_settings(K8S_CONFIG).signing
    for ref in (signing.key, signing.note_key):
        assert ref is not None and ref.startswith("kms:")
        assert ref.removeprefix("kms:") in aliases, f"{ref} of the example config is not created"


def test_terraform_role_gets_exactly_the_policy_file(tf: dict[str, Any]) -> None:
    policy = _one(tf, "aws_iam_policy")
    assert (
        policy["policy"] == '${templatefile("${path.module}/iam-policy.json", local.policy_vars)}'
    )
    (locals_,) = tf["locals"]
    assert set(locals_["policy_vars"]) == set(PLACEHOLDERS)
    attachment = _one(tf, "aws_iam_role_policy_attachment")
    assert attachment["policy_arn"] == "${aws_iam_policy.collector.arn}"


def test_terraform_other_collector_grants_are_read_only(tf: dict[str, Any]) -> None:
    """Every Allow in a policy document other than the bucket's: reads and lists only."""
    for (t, name), body in _blocks(tf, "data").items():
        if t != "aws_iam_policy_document" or name == "bucket":
            continue
        for st in body["statement"]:
            if st.get("effect", "Allow") != "Allow":
                continue
            for action in st["actions"]:
                assert not any(may_match(action, f) for f in FORBIDDEN_ACTIONS), action
                assert action.startswith(("s3:Get", "s3:List", "sts:AssumeRole")), action


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_fmt_accepts_it() -> None:
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-diff", str(BUCKET_TF)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- Dockerfile ---------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        instruction, _, args = (pending + line).partition(" ")
        out.append((instruction.upper(), " ".join(args.split())))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continuation line"
    return out


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Instructions per build stage, each starting with its FROM; global ARGs dropped."""
    out: list[list[tuple[str, str]]] = []
    for ins in instructions:
        if ins[0] == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text())


def _final_user(dockerfile: list[tuple[str, str]]) -> str:
    users = [args for ins, args in stages(dockerfile)[-1] if ins == "USER"]
    assert users, "the runtime stage sets no USER: it would run as root"
    return users[-1].split(":")[0]


def test_dockerfile_parser() -> None:
    parsed = dockerfile_instructions("# c\nFROM a AS b\nRUN x \\\n  && y\n\nUSER 1\n")
    assert parsed == [("FROM", "a AS b"), ("RUN", "x && y"), ("USER", "1")]


def test_dockerfile_runs_as_numeric_non_root_user(dockerfile: list[tuple[str, str]]) -> None:
    user = _final_user(dockerfile)
    # Numeric, so that Kubernetes can verify runAsNonRoot against the image.
    assert user.isdigit() and int(user) != 0, f"USER {user} is not a numeric non-root uid"


def test_dockerfile_is_multi_stage_on_slim_python(dockerfile: list[tuple[str, str]]) -> None:
    all_stages = stages(dockerfile)
    assert len(all_stages) >= 2
    args = dict(
        a.split("=", 1) for i, a in dockerfile[: dockerfile.index(all_stages[0][0])] if i == "ARG"
    )
    image = all_stages[-1][0][1].split()[0]
    image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image


def test_dockerfile_installs_from_the_lock_file_only(dockerfile: list[tuple[str, str]]) -> None:
    builder, runtime = stages(dockerfile)[0], stages(dockerfile)[-1]
    installs = [a for i, a in builder if i == "RUN" and "pip install" in a]
    assert any("--no-deps" in a and "-r requirements.lock" in a for a in installs), installs
    assert any("--no-deps" in a and ".whl" in a for a in installs), "the wheel is not installed"
    parts = [part for a in installs for part in a.split("&&") if "pip install" in part]
    assert all("--no-deps" in part for part in parts), parts
    # The runtime stage installs nothing: it copies the builder's virtualenv.
    assert not [a for i, a in runtime if i == "RUN" and "pip" in a]
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in runtime


def test_dockerfile_entrypoint_and_cmd(dockerfile: list[tuple[str, str]]) -> None:
    runtime = dict(stages(dockerfile)[-1])
    assert json.loads(runtime["ENTRYPOINT"]) == ["evidence"]
    assert json.loads(runtime["CMD"]) == ["run"]


def test_dockerfile_writes_only_to_tmp(dockerfile: list[tuple[str, str]]) -> None:
    env = " ".join(a for i, a in stages(dockerfile)[-1] if i == "ENV")
    for name in ("HOME", "TMPDIR"):
        assert re.search(rf"\b{name}=/tmp\b", env), f"{name} must point at the /tmp volume"
    assert re.search(r"\bPYTHONDONTWRITEBYTECODE=1\b", env)


def test_dockerfile_bakes_in_no_secrets(dockerfile: list[tuple[str, str]]) -> None:
    secretish = re.compile(r"(PASSWORD|PASSPHRASE|SECRET|TOKEN|PRIVATE_KEY|_PWD|ACCESS_KEY)", re.I)
    for ins, args in dockerfile:
        if ins in ("ENV", "ARG"):
            assert not secretish.search(args), f"{ins} {args}"
        if ins in ("COPY", "ADD") and "--from=" not in args:
            sources = args.split()[:-1]
            assert set(sources) <= {"requirements.lock", "pyproject.toml", "README.md", "src"}, args


def test_dockerignore_is_an_allowlist_of_what_the_dockerfile_copies(
    dockerfile: list[tuple[str, str]],
) -> None:
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "start from nothing: keys, configs and archives stay out"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for ins, args in dockerfile:
        if ins == "COPY" and "--from=" not in args:
            for source in args.split()[:-1]:
                assert source.rstrip("/") in allowed, f"COPY {source} is excluded by .dockerignore"


# -- requirements.lock -------------------------------------------------------------


@pytest.fixture(scope="module")
def lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in LOCK.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)", line)
        assert m, f"not an exact pin: {line!r}"
        name = canonicalize_name(m.group(1))
        assert name not in pins, f"{name} pinned twice"
        pins[name] = m.group(2)
    return pins


def test_lock_pins_every_runtime_dependency(lock: dict[str, str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in lock, f"{req.name} is a dependency but not in requirements.lock"
        assert req.specifier.contains(lock[name], prereleases=True), (
            f"requirements.lock pins {name}=={lock[name]}, outside {req.specifier}; "
            "run deploy/lock-requirements.sh"
        )


def test_lock_has_no_dev_tools_and_not_the_project(lock: dict[str, str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev = {canonicalize_name(Requirement(s).name) for s in project["optional-dependencies"]["dev"]}
    unwanted = (dev | {"das-evidence", "pip", "setuptools", "wheel"}) & set(lock)
    assert not unwanted, f"not runtime dependencies: {sorted(unwanted)}"


# -- Kubernetes CronJob ------------------------------------------------------------------


def _documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(CRONJOB.read_text()) if d]


@pytest.fixture(scope="module")
def cronjob() -> dict[str, Any]:
    (job,) = [d for d in _documents() if d["kind"] == "CronJob"]
    return dict(job)


def _pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    return dict(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def _containers(cronjob: dict[str, Any]) -> Iterator[dict[str, Any]]:
    pod = _pod(cronjob)
    yield from pod.get("initContainers", [])
    yield from pod["containers"]


def test_cronjob_forbids_concurrency_and_has_deadlines(cronjob: dict[str, Any]) -> None:
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert isinstance(spec["startingDeadlineSeconds"], int) and spec["startingDeadlineSeconds"] > 0
    job = spec["jobTemplate"]["spec"]
    assert isinstance(job["activeDeadlineSeconds"], int) and job["activeDeadlineSeconds"] > 0
    assert isinstance(job["backoffLimit"], int) and 0 <= job["backoffLimit"] <= 3
    assert _pod(cronjob)["restartPolicy"] == "Never"


def test_cronjob_does_not_retry_evidence_or_config_failures(cronjob: dict[str, Any]) -> None:
    rules = cronjob["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    fail_fast = [r for r in rules if r["action"] == "FailJob" and "onExitCodes" in r]
    # 1 evidence failed a check, 2 configuration, 4 a bug: a retry gives the same answer.
    assert fail_fast and {1, 2, 4} <= set(fail_fast[0]["onExitCodes"]["values"])
    assert 3 not in fail_fast[0]["onExitCodes"]["values"]  # unreachable sources are retried


def test_cronjob_pod_security(cronjob: dict[str, Any]) -> None:
    pod = _pod(cronjob)
    sc = pod["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] != 0
    assert str(sc["runAsUser"]) == _final_user(dockerfile_instructions(DOCKERFILE.read_text()))
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(host), host


def test_cronjob_container_security(cronjob: dict[str, Any]) -> None:
    for c in _containers(cronjob):
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["readOnlyRootFilesystem"] is True, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
        assert not sc["capabilities"].get("add"), c["name"]
        assert not sc.get("privileged"), c["name"]
        assert "memory" in c["resources"]["limits"], c["name"]


def test_cronjob_tmp_is_the_only_writable_mount(cronjob: dict[str, Any]) -> None:
    volumes = {v["name"]: v for v in _pod(cronjob)["volumes"]}
    for c in _containers(cronjob):
        writable = [m for m in c["volumeMounts"] if not m.get("readOnly")]
        assert [m["mountPath"] for m in writable] == ["/tmp"], c["name"]
        assert "emptyDir" in volumes[writable[0]["name"]]
    assert not [v for v in volumes.values() if "hostPath" in v]


def test_cronjob_secrets_come_from_a_secret(cronjob: dict[str, Any]) -> None:
    assert not [d for d in _documents() if d["kind"] == "Secret"], "no Secret values in the repo"
    secretish = re.compile(r"(PASSWORD|PASSPHRASE|SECRET|TOKEN|KEY|_PWD)", re.I)
    for c in _containers(cronjob):
        for env in c.get("env", []):
            if secretish.search(env["name"]):
                assert "value" not in env, f"{env['name']} has a literal value"
                assert "secretKeyRef" in env["valueFrom"], env["name"]
        assert not c.get("envFrom"), "name each variable; no bulk import"
    volumes = {v["name"]: v for v in _pod(cronjob)["volumes"]}
    secret_mounts = [
        m["mountPath"]
        for c in _containers(cronjob)
        for m in c["volumeMounts"]
        if "secret" in volumes[m["name"]]
    ]
    assert secret_mounts, "the private key and redaction key come from a secret volume"
    # The example configuration reads its key files from that volume.
    settings = load_settings(K8S_CONFIG)
    for path in (settings.snowflake.private_key_file, settings.redaction.hmac_key):
        assert any(str(path).startswith(p + "/") for p in secret_mounts), path


def test_cronjob_points_at_the_example_config(cronjob: dict[str, Any]) -> None:
    (c,) = _pod(cronjob)["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert env["EVIDENCE_CONFIG"] in mounts
    assert c["args"] == ["run"]
    settings = load_settings(K8S_CONFIG)
    assert settings.store.uri.startswith("s3://")
    assert settings.store.lock_mode == "COMPLIANCE"
    assert settings.snowflake.password is None  # key-pair only


# -- Snowflake -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sql() -> list[exp.Expression]:
    parsed: list[exp.Expression] = [
        e
        for e in sqlglot.parse(SETUP_SQL.read_text(), read="snowflake")
        if isinstance(e, exp.Expression)
    ]
    for e in parsed:
        for node in e.walk():
            node.comments = None
    return parsed


def _texts(sql: list[exp.Expression]) -> list[str]:
    return [" ".join(e.sql(dialect="snowflake").split()).upper() for e in sql]


def test_sql_parses_statement_by_statement(sql: list[exp.Expression]) -> None:
    kinds = {type(e).__name__ for e in sql}
    assert {"Use", "Create", "Grant", "Select"} <= kinds
    creates = [e for e in sql if isinstance(e, exp.Create)]
    assert [(c.args["kind"], c.this.name) for c in creates] == [("WAREHOUSE", "EVIDENCE_WH")]


def test_sql_role_sees_account_usage_through_the_three_database_roles(
    sql: list[exp.Expression],
) -> None:
    texts = _texts(sql)
    for role in ("GOVERNANCE_VIEWER", "SECURITY_VIEWER", "OBJECT_VIEWER"):
        assert f"GRANT DATABASE ROLE SNOWFLAKE.{role} TO ROLE EVIDENCE_COLLECTOR_ROLE" in texts
    joined = "\n".join(texts)
    assert "IMPORTED PRIVILEGES" not in joined
    for too_much in ("OWNERSHIP", "MANAGE GRANTS", "ACCOUNTADMIN TO", "SECURITYADMIN TO"):
        assert too_much not in joined, too_much
    grants_to_role = [t for t in texts if t.startswith("GRANT") and "EVIDENCE_COLLECTOR_ROLE" in t]
    assert sorted(grants_to_role) == sorted(
        [
            "GRANT DATABASE ROLE SNOWFLAKE.GOVERNANCE_VIEWER TO ROLE EVIDENCE_COLLECTOR_ROLE",
            "GRANT DATABASE ROLE SNOWFLAKE.SECURITY_VIEWER TO ROLE EVIDENCE_COLLECTOR_ROLE",
            "GRANT DATABASE ROLE SNOWFLAKE.OBJECT_VIEWER TO ROLE EVIDENCE_COLLECTOR_ROLE",
            "GRANT APPLICATION ROLE SNOWFLAKE.TRUST_CENTER_VIEWER TO ROLE EVIDENCE_COLLECTOR_ROLE",
            "GRANT MONITOR ON WAREHOUSE EVIDENCE_WH TO ROLE EVIDENCE_COLLECTOR_ROLE",
            "GRANT MONITOR ON RESOURCE MONITOR EVIDENCE_RM TO ROLE EVIDENCE_COLLECTOR_ROLE",
            "GRANT ROLE EVIDENCE_COLLECTOR_ROLE TO ROLE SYSADMIN",
            "GRANT ROLE EVIDENCE_COLLECTOR_ROLE TO USER EVIDENCE_COLLECTOR",
            "GRANT USAGE ON WAREHOUSE EVIDENCE_WH TO ROLE EVIDENCE_COLLECTOR_ROLE",
        ]
    )


def test_sql_user_is_a_key_pair_service_user(sql: list[exp.Expression]) -> None:
    (user,) = [t for t in _texts(sql) if t.startswith("CREATE USER")]
    assert "TYPE = SERVICE" in user
    assert "DEFAULT_ROLE = EVIDENCE_COLLECTOR_ROLE" in user
    assert "RSA_PUBLIC_KEY = '" in user
    assert "PASSWORD" not in user
    assert "DEFAULT_SECONDARY_ROLES = ()" in user


def test_sql_warehouse_is_xsmall_and_capped(sql: list[exp.Expression]) -> None:
    (warehouse,) = [e for e in sql if isinstance(e, exp.Create)]
    props = {
        p.name.upper(): p.args["value"].sql(dialect="snowflake").upper()
        for p in warehouse.args["properties"].expressions
        if type(p) is exp.Property
    }
    assert props["WAREHOUSE_SIZE"] in ("XSMALL", "X-SMALL")
    assert 0 < int(props["AUTO_SUSPEND"]) <= 300
    assert props["AUTO_RESUME"] == "TRUE"
    texts = _texts(sql)
    (monitor,) = [t for t in texts if t.startswith("CREATE RESOURCE MONITOR")]
    assert re.search(r"CREDIT_QUOTA = \d+", monitor)
    assert re.search(r"ON \d+ PERCENT DO SUSPEND\b", monitor)
    name = re.match(r"CREATE RESOURCE MONITOR (?:IF NOT EXISTS )?(\w+)", monitor)
    assert name
    assert f"ALTER WAREHOUSE EVIDENCE_WH SET RESOURCE_MONITOR = {name.group(1)}" in texts


def test_sql_checks_every_view_the_collector_reads(sql: list[exp.Expression]) -> None:
    checked = set()
    for e in sql:
        if isinstance(e, exp.Select):
            table = e.find(exp.Table)
            assert table is not None
            if (table.catalog, table.db) == ("SNOWFLAKE", "ACCOUNT_USAGE"):
                checked.add(table.name)
    read = {spec.view for spec in VIEWS.values()} | {v.view for v in POLICY_VIEWS}
    assert read <= checked, (
        f"views the collector reads but setup.sql does not check: {read - checked}"
    )


def test_sql_states_what_every_show_command_needs_and_runs_the_account_wide_ones(
    sql: list[exp.Expression],
) -> None:
    """Each SHOW/DESCRIBE the snapshot archives is named in the header with its privilege,
    and every account-wide one is run as the collector role at the end."""
    text = SETUP_SQL.read_text()
    header = text.split("-- 1. Role and service user")[0]
    ran = {" ".join(t.split()) for t in _texts(sql) if t.startswith("SHOW")}
    for cmd in SHOW_COMMANDS:
        head = cmd.command.split(" LIKE ")[0].split(" {user}")[0]
        assert head.split(" IN ")[0] in header, cmd.view
        if cmd.per_user is None:
            assert cmd.command.upper() in ran, cmd.command
    # the per-user commands need OWNERSHIP of each user, which the script never grants
    assert "OWNERSHIP" in header and "GRANT OWNERSHIP" not in text.upper()


def test_sql_names_match_the_example_config() -> None:
    text = SETUP_SQL.read_text()
    sf = load_settings(K8S_CONFIG).snowflake
    assert f"CREATE USER IF NOT EXISTS {sf.user}" in text
    assert f"CREATE ROLE IF NOT EXISTS {sf.role}" in text
    assert f"CREATE WAREHOUSE IF NOT EXISTS {sf.warehouse}" in text


# -- docs ----------------------------------------------------------------------------


def test_operations_guide_covers_every_deployment_file() -> None:
    guide = OPERATIONS.read_text()
    for path in (
        DOCKERFILE,
        LOCK,
        IAM_POLICY,
        BUCKET_TF,
        CRONJOB,
        K8S_CONFIG,
        SETUP_SQL,
        DEPLOY / "lock-requirements.sh",
    ):
        assert path.relative_to(ROOT).as_posix() in guide, path.name
    for command in ("evidence store check", "evidence keys export-public", "evidence status"):
        assert command in guide, command
