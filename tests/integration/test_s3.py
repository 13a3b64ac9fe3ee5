"""S3 Object Lock store against a real moto_server on 127.0.0.1.

moto allows what S3 forbids, so here it plays the attacker: each attack is
something a lenient bucket, a careless role or a tool could do, and online
verification must name the key it hit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from das_evidence.demo.server import FakeSnowflake
from tests.integration.conftest import ORIGIN, START, T0, Env
from tests.integration.test_collect import STREAMS, expected_windows
from tests.s3_server import CREDENTIALS, MotoServer, TcpProxy


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


def _s3_env(env: Env, endpoint: str, bucket: str) -> Env:
    # EVIDENCE_* variables override the file's [store] section.
    env.extra_env.update(
        CREDENTIALS,
        EVIDENCE_STORE__URI=f"s3://{bucket}/archive",
        EVIDENCE_STORE__ENDPOINT_URL=endpoint,
        EVIDENCE_STORE__RETENTION_DAYS="30",
    )
    return env


@pytest.fixture
def s3env(env: Env, moto: MotoServer) -> tuple[Env, str]:
    # Object Lock on, no default retention: every lock on an object is the product's.
    bucket = f"ev-{int(time.time() * 1e6) % 10**12}"
    moto.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    return _s3_env(env, moto.endpoint, bucket), bucket


def verify_s3(env: Env, bucket: str, endpoint: str) -> dict[str, Any]:
    r = env.cli(
        "verify",
        f"s3://{bucket}/archive",
        "--pub",
        str(env.pub),
        "--endpoint-url",
        endpoint,
        "--json",
    )
    assert r.returncode in (0, 1), r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def download_all_versions(moto: MotoServer, bucket: str, dest: Path) -> None:
    """A plain download of every current object version, as an auditor would."""
    s3 = moto.client()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="archive/"):
        for obj in page.get("Contents", []):
            path = dest / obj["Key"][len("archive/") :]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())


def test_collect_to_s3_verifies_online_and_after_download(
    s3env: tuple[Env, str], moto: MotoServer, eaf_verify: Path, tmp_path: Path
) -> None:
    env, bucket = s3env
    r = env.cli("collect")
    assert r.returncode == 0, r.stderr
    assert windows_by_stream_s3(moto, bucket) == {s: expected_windows(s, T0) for s in STREAMS}
    report = verify_s3(env, bucket, moto.endpoint)
    assert report["verdict"] == "pass", report["findings"]

    # Every evidence object is locked in COMPLIANCE until collection time + 30 days.
    s3 = moto.client()
    key = next(
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="archive/evidence/")["Contents"]
    )
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"].astimezone(UTC) == T0 + timedelta(days=30)

    # Nothing due: a second collect adds no object version at all.
    before = len(s3.list_object_versions(Bucket=bucket)["Versions"])
    assert env.cli("collect").returncode == 0
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == before

    download = tmp_path / "download"
    download_all_versions(moto, bucket, download)
    checker = subprocess.run(
        [sys.executable, str(eaf_verify), str(download), "--pub", str(env.pub)],
        capture_output=True,
        text=True,
    )
    assert checker.returncode == 0, checker.stdout + checker.stderr


def windows_by_stream_s3(moto: MotoServer, bucket: str) -> dict[str, list[tuple[str, str]]]:
    import base64

    s3 = moto.client()
    out: dict[str, list[tuple[str, str]]] = {}
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="archive/log/entries/"
    )
    for page in pages:
        for obj in sorted(page.get("Contents", []), key=lambda o: o["Key"]):
            env = json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            p = json.loads(base64.b64decode(env["payload"]))["predicate"]
            if p["window"]["start"] == p["window"]["end"]:
                continue
            out.setdefault(p["stream"].split("/")[-1], []).append(
                (p["window"]["start"], p["window"]["end"])
            )
    return out


def _first_evidence(s3: Any, bucket: str) -> str:
    keys = sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="archive/evidence/")["Contents"]
    )
    return str(keys[0])


def shorten_retention(s3: Any, bucket: str) -> str:
    key = _first_evidence(s3, bucket)
    s3.put_object_retention(
        Bucket=bucket,
        Key=key,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": T0 + timedelta(days=1)},
        BypassGovernanceRetention=True,
    )
    return key


def switch_to_governance(s3: Any, bucket: str) -> str:
    key = _first_evidence(s3, bucket)
    s3.put_object_retention(
        Bucket=bucket,
        Key=key,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": T0 + timedelta(days=30)},
        BypassGovernanceRetention=True,
    )
    return key


def second_version_on_evidence(s3: Any, bucket: str) -> str:
    key = _first_evidence(s3, bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"replaced")
    return key


def second_version_on_entry(s3: Any, bucket: str) -> str:
    key = "archive/log/entries/000000000001.dsse.json"
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=body)  # same bytes, new version
    return key


def delete_marker(s3: Any, bucket: str) -> str:
    key = _first_evidence(s3, bucket)
    s3.delete_object(Bucket=bucket, Key=key)
    return key


def upload_without_lock(s3: Any, bucket: str) -> str:
    key = "archive/evidence/snowflake/ACME_PROD/access_history/date=2026-11-18/extra.parquet"
    s3.put_object(Bucket=bucket, Key=key, Body=b"PAR1 unlocked")
    return key


def misnamed_entry_key(s3: Any, bucket: str) -> str:
    # Under the entries prefix but not a 12-digit index: a finding, never a ValueError.
    key = "archive/log/entries/00000000000x.dsse.json"
    s3.put_object(Bucket=bucket, Key=key, Body=b"{}")
    return key


@pytest.mark.parametrize(
    ("attack", "check"),
    [
        (shorten_retention, "S3 lock"),
        (switch_to_governance, "S3 lock"),
        (second_version_on_evidence, "S2 versions"),
        (second_version_on_entry, "S2 versions"),
        (delete_marker, "S2 versions"),
        (upload_without_lock, "S3 lock"),
        (misnamed_entry_key, "V1 layout"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_online_verify_names_the_attacked_key(
    s3env: tuple[Env, str], moto: MotoServer, attack: Callable[[Any, str], str], check: str
) -> None:
    env, bucket = s3env
    assert env.cli("collect", "--only", "login_history").returncode == 0
    assert verify_s3(env, bucket, moto.endpoint)["verdict"] == "pass"
    key = attack(moto.client(), bucket)
    r = env.cli(
        "verify", f"s3://{bucket}/archive", "--pub", str(env.pub), "--endpoint-url", moto.endpoint
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr
    report = verify_s3(env, bucket, moto.endpoint)
    assert report["verdict"] == "fail"
    relative = key[len("archive/") :]
    hits = [f for f in report["findings"] if f["subject"] == relative and f["check"] == check]
    assert hits, report["findings"]


def test_an_outage_mid_collect_loses_and_doubles_no_window(
    env: Env, moto: MotoServer, fake: FakeSnowflake
) -> None:
    bucket = f"ev-outage-{int(time.time() * 1e6) % 10**9}"
    moto.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    # The outage starts the moment the third entry is being written.
    proxy = TcpProxy(moto.port, cut_on=b"/log/entries/000000000002.dsse.json").start()
    _s3_env(env, proxy.endpoint, bucket)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "das_evidence.cli.main", "collect"],
            cwd=env.dir,
            env={
                **__import__("os").environ,
                **env.extra_env,
                "EVIDENCE_NOW": "2026-11-20T06:00:00Z",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = proc.communicate(timeout=180)
        assert proxy.tripped.is_set()
        assert proc.returncode == 3, (out, err)
        assert "S3" in err and "failed" in err
        partial = windows_by_stream_s3(moto, bucket)
        # Entry 2 may or may not have landed (its request or its answer was cut).
        assert 2 <= sum(len(v) for v in partial.values()) <= 3
    finally:
        proxy.restore()
    again = env.cli("collect")
    assert again.returncode == 0, again.stderr
    assert windows_by_stream_s3(moto, bucket) == {s: expected_windows(s, T0) for s in STREAMS}
    report = verify_s3(env, bucket, proxy.endpoint)
    assert report["verdict"] == "pass", report["findings"]


def test_origin_constant() -> None:
    assert ORIGIN and START < T0 and datetime.now(UTC) > START


def test_store_check_cli_passes_a_good_bucket_and_names_each_failure(
    moto: MotoServer, tmp_path: Path
) -> None:
    from das_evidence.evidence_store.bucket_check import tls_deny_statement

    s3 = moto.client()
    good = moto.production_like_bucket(retention_days=2557)
    s3.put_bucket_policy(
        Bucket=good,
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [tls_deny_statement(good)]}),
    )

    def check(bucket: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "das_evidence.cli.main",
                "store",
                "check",
                f"s3://{bucket}/archive",
                "--endpoint-url",
                moto.endpoint,
                "--retention-days",
                "2557",
                "--config",
                str(tmp_path / "none.toml"),
                "--json",
            ],
            capture_output=True,
            text=True,
            env={**__import__("os").environ, **CREDENTIALS},
        )

    ok = check(good)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["verdict"] == "pass"

    weak = moto.locked_bucket(retention_days=30)  # short retention, no encryption, no policy
    bad = check(weak)
    assert bad.returncode == 1
    failed = {c["name"] for c in json.loads(bad.stdout)["checks"] if not c["passed"]}
    assert failed == {"default_retention", "encryption", "public_access_block", "tls_only_policy"}
    assert all(c["fix"] for c in json.loads(bad.stdout)["checks"] if not c["passed"])


def test_put_once_on_s3_resolves_a_412_by_the_checksum(moto: MotoServer) -> None:
    from das_evidence.errors import PutOnceError
    from das_evidence.evidence_store.s3 import S3Store

    bucket = moto.locked_bucket()
    store = S3Store(f"s3://{bucket}/p", endpoint_url=moto.endpoint)
    until = datetime(2030, 1, 1, tzinfo=UTC)
    first = store.put_once("evidence/a.bin", b"abc", retain_until=until)
    assert first.created and first.info.version_id and first.info.lock_mode == "COMPLIANCE"
    again = store.put_once("evidence/a.bin", b"abc", retain_until=until)  # a retried PUT
    assert not again.created and again.info.version_id == first.info.version_id
    with pytest.raises(PutOnceError, match="different bytes"):
        store.put_once("evidence/a.bin", b"abd", retain_until=until)
    versions = [v for v in store.versions() if v.key == "evidence/a.bin"]
    assert len(versions) == 1
    state = store.lock_state("evidence/a.bin")
    assert state is not None and state.retain_until == until and state.sha256 is not None


def test_keys_export_public_matches_the_key_that_signs(tmp_path: Path) -> None:
    from das_evidence.manifests.keyring import write_key_pair

    write_key_pair(tmp_path / "keys", ORIGIN)
    (tmp_path / "evidence.toml").write_text(f'[log]\norigin = "{ORIGIN}"\n')
    r = subprocess.run(
        [sys.executable, "-m", "das_evidence.cli.main", "keys", "export-public", "--out", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "signing.pub").read_bytes() == (
        tmp_path / "keys" / "signing.pub"
    ).read_bytes()
    assert (tmp_path / "out" / "signing.vkey").read_text() == (
        tmp_path / "keys" / "signing.vkey"
    ).read_text()
