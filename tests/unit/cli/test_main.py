"""The CLI's one error boundary, in process: exit codes, one-line messages, tracebacks
only with --verbose, and `evidence run`'s JSON line on every exit."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from das_evidence.cli.output import console, err_console
from tests.unit.cli.conftest import Evidence


def _boom(*args: object, **kwargs: object) -> Any:
    raise KeyError("no_such_column")


def _vectors(tmp_path: Path) -> tuple[str, str]:
    archive = tmp_path / "archive"
    archive.mkdir()
    pub = tmp_path / "signing.pub"
    pub.write_text("unused: verify_target is replaced")
    return str(archive), str(pub)


# -- the boundary --------------------------------------------------------------------


def test_an_unexpected_exception_is_one_line_exit_4_and_no_traceback(
    evidence: Evidence, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("das_evidence.verify.verify_target", _boom)
    archive, pub = _vectors(tmp_path)
    r = evidence("verify", archive, "--pub", pub)
    assert r.code == 4
    assert r.err_lines == [
        "internal error: KeyError: 'no_such_column' — this is a bug; "
        "rerun with --verbose for the traceback and report it"
    ]
    assert r.out == ""


def test_verbose_adds_the_traceback(
    evidence: Evidence, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("das_evidence.verify.verify_target", _boom)
    archive, pub = _vectors(tmp_path)
    r = evidence("--verbose", "verify", archive, "--pub", pub)
    assert r.code == 4
    assert "Traceback (most recent call last)" in r.err
    assert "in _boom" in r.err
    assert r.err_lines[-1] == (
        "internal error: KeyError: 'no_such_column' — this is a bug; "
        "report it with the traceback above"
    )


def test_a_product_error_is_its_message_and_fix_without_traceback(
    evidence: Evidence, tmp_path: Path
) -> None:
    missing = tmp_path / "k.pub"
    r = evidence("verify", str(tmp_path), "--pub", str(missing))
    assert r.code == 2
    assert r.err_lines == [
        f"error: public key file {missing} does not exist",
        "  fix: run `evidence keys generate` to create a key pair, or pass the right file",
    ]
    verbose = evidence("-v", "verify", str(tmp_path), "--pub", str(missing))
    assert verbose.code == 2 and "Traceback" in verbose.err
    assert "FileNotFoundError" in verbose.err  # the OS error it wraps


def test_usage_errors_stay_exit_2(evidence: Evidence) -> None:
    assert evidence("verify").code == 2
    assert evidence("collect", "--no-such-option").code == 2
    assert evidence("no-such-command").code == 2


# -- a local store that cannot be written ---------------------------------------------


def _store_cases(tmp_path: Path, read_only: Callable[[Path], None]) -> dict[str, Path]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not an archive")
    locked = tmp_path / "read-only-archive"
    locked.mkdir()
    read_only(locked)
    return {
        "a file": a_file,
        "missing parent": tmp_path / "not-mounted" / "archive",
        "read-only": locked,
    }


@pytest.mark.parametrize("case", ["a file", "missing parent", "read-only"])
def test_a_store_that_cannot_be_written_is_exit_3_with_its_path_and_fix(
    case: str,
    evidence: Evidence,
    site: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    read_only: Callable[[Path], None],
) -> None:
    store = _store_cases(tmp_path, read_only)[case]
    monkeypatch.setenv("EVIDENCE_STORE__URI", str(store))

    r = evidence("collect", "-c", str(site))

    assert r.code == 3, r.err
    assert r.err_lines[0].startswith("error: ") and str(store) in r.err_lines[0]
    assert any(line.startswith("  fix: ") for line in r.err_lines)
    assert "Traceback" not in r.err
    assert not list(tmp_path.rglob(".lock"))
    assert not (tmp_path / "not-mounted").exists()

    run = evidence("run", "-c", str(site))
    assert run.code == 3
    summary = run.summary()
    assert summary["exit_code"] == 3 and not summary["ok"]
    assert str(store) in summary["error"]
    assert not list(tmp_path.rglob(".lock"))


# -- evidence run: one JSON line on every exit ----------------------------------------


def test_run_with_a_malformed_config_prints_one_json_line_with_exit_2(
    evidence: Evidence, tmp_path: Path
) -> None:
    bad = tmp_path / "evidence.toml"
    bad.write_text("[store\nuri = 'archive'\n")
    r = evidence("run", "-c", str(bad))
    assert r.code == 2
    summary = r.summary()
    assert summary["event"] == "evidence.run"
    assert summary["exit_code"] == 2 and summary["ok"] is False
    assert "is not valid TOML" in summary["error"] and str(bad) in summary["error"]
    assert summary["streams"] == [] and summary["new_entries"] == 0
    assert summary["started_at"] and summary["finished_at"]


def test_run_with_a_config_that_does_not_validate_prints_exit_2(
    evidence: Evidence, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVIDENCE_STORE__LOCK_MODE", "sometimes")
    r = evidence("run", "-c", str(site))
    assert r.code == 2
    assert r.summary()["exit_code"] == 2


def test_run_with_a_bad_clock_still_prints_its_json_line(
    evidence: Evidence, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVIDENCE_NOW", "yesterday")
    r = evidence("run", "-c", str(site))
    assert r.code == 2
    assert "EVIDENCE_NOW" in r.summary()["error"]


def test_an_unexpected_error_inside_run_is_a_json_line_with_exit_4(
    evidence: Evidence, site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("das_evidence.services.Services.collect", _boom)
    last_run = tmp_path / "last-run.json"
    monkeypatch.setenv("EVIDENCE_STATUS__LAST_RUN_FILE", str(last_run))

    r = evidence("run", "-c", str(site))

    assert r.code == 4
    summary = r.summary()
    assert summary["exit_code"] == 4 and not summary["ok"]
    assert summary["error"].startswith("internal error: KeyError: 'no_such_column'")
    assert "this is a bug" in summary["error"]
    assert "Traceback" not in r.err
    # The last-run record tells the truth about it, too.
    assert json.loads(last_run.read_text())["exit_code"] == 4

    verbose = evidence("--verbose", "run", "-c", str(site))
    assert verbose.code == 4 and verbose.summary()["exit_code"] == 4
    assert "Traceback" in verbose.err and "_boom" in verbose.err


def test_an_unexpected_error_before_run_is_a_json_line_with_exit_4(
    evidence: Evidence, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("das_evidence.config.load_settings", _boom)
    r = evidence("run", "-c", str(site))
    assert r.code == 4
    assert r.summary()["exit_code"] == 4
    assert r.err_lines == [r.summary()["error"]]
    assert "Traceback" not in r.err


def test_keys_fingerprint_prints_one_fingerprint_for_pem_vkey_and_config(
    evidence: Evidence, site: Path
) -> None:
    keys = site.parent / "keys"
    by_file = evidence("keys", "fingerprint", str(keys / "signing.pub"), str(keys / "signing.vkey"))
    assert by_file.code == 0, by_file.err
    from_config = evidence("keys", "fingerprint", "-c", str(site), "--json")
    assert from_config.code == 0, from_config.err
    fingerprints = {line.split()[0] for line in by_file.out.splitlines()}
    fingerprints |= {row["fingerprint"] for row in json.loads(from_config.out)}
    [fingerprint] = fingerprints
    assert fingerprint.startswith("SHA256:") and len(fingerprint) == 7 + 64
    bad = evidence("keys", "fingerprint", str(site))
    assert bad.code == 2 and "neither a PEM public key nor a note verifier key" in bad.err


# -- the starter configuration, run unedited ------------------------------------------


@pytest.mark.parametrize("command", ["collect", "run"])
def test_the_starter_config_run_unedited_names_the_missing_key_file_and_leaves_nothing(
    command: str,
    evidence: Evidence,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert evidence("init", "d").code == 0

    r = evidence(command, "-c", "d/evidence.toml")

    assert r.code == 2, r.err
    key_file = tmp_path / "d" / "keys" / "snowflake_rsa_key.p8"
    message = r.err if command == "collect" else r.summary()["error"]
    assert f"snowflake.private_key_file {key_file} does not exist" in message
    assert "fix: create the collector's key pair" in message
    assert "private_key_file in [snowflake]" in message
    assert "Traceback" not in r.err
    assert not (tmp_path / "d" / "archive").exists()
    assert not list(tmp_path.rglob(".lock"))


# -- S3 failures name their real cause ------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An AWS default chain with nothing in it, and a fresh boto3 session to read it."""
    for name in list(os.environ):
        if name.startswith("AWS_") and name != "AWS_CA_BUNDLE":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


S3_CAUSES = {
    "no credentials": (
        "no usable AWS credentials",
        "configure the AWS default credential chain",
    ),
    "unreachable endpoint": ("cannot reach the endpoint", "check the endpoint"),
}


@pytest.mark.parametrize("cause", list(S3_CAUSES))
@pytest.mark.parametrize("command", ["verify", "status", "collect"])
def test_an_s3_store_that_cannot_be_listed_names_the_real_cause_with_exit_3(
    command: str,
    cause: str,
    evidence: Evidence,
    site: Path,
    no_aws: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if cause == "unreachable endpoint":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("EVIDENCE_STORE__URI", "s3://evidence-bucket/prod")
    monkeypatch.setenv("EVIDENCE_STORE__ENDPOINT_URL", endpoint)
    pub = str(site.parent / "keys" / "signing.pub")
    args = {
        "verify": ("verify", "s3://evidence-bucket/prod", "--pub", pub, "--endpoint-url", endpoint),
        "status": ("status", "-c", str(site)),
        "collect": ("collect", "-c", str(site)),
    }[command]

    r = evidence(*args)

    assert r.code == 3, r.err
    what, fix = S3_CAUSES[cause]
    [error, fix_line] = [line for line in r.err_lines if not line.startswith("{")]
    # verify lists object versions (lock state from the GET), the others list keys
    assert error.startswith(
        (
            "error: S3 LIST s3://evidence-bucket/prod",
            "error: S3 LIST VERSIONS s3://evidence-bucket/prod",
        )
    )
    assert what in error
    assert fix_line.startswith(f"  fix: {fix}")
    assert "invalid store key" not in r.err


# -- user text is printed as it is, never as Rich markup ------------------------------


def test_init_names_the_section_to_edit(
    evidence: Evidence, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = evidence("init", "d")
    assert r.code == 0
    assert r.out.splitlines()[-1] == (
        "next: edit the [snowflake] section of d/evidence.toml, then run `evidence collect`"
    )


@pytest.mark.parametrize("name", ["arch[prod]", "x[/y]", "[bold]z[/bold]"])
def test_a_target_with_brackets_is_named_as_given(
    name: str, evidence: Evidence, collected: Path
) -> None:
    target = collected / name
    shutil.copytree(collected / "archive", target)

    r = evidence("verify", str(target), "--pub", "keys/signing.pub")

    assert r.code == 0, r.err
    assert r.out.startswith(f"PASS: {target}: ")


def test_the_consoles_print_markup_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    text = "[snowflake] [[dbt]] [/y] [bold]not bold[/bold] [schedules.<name>]"
    console.print(text)
    err_console.print(text)
    out, err = capsys.readouterr()
    assert out == err == text + "\n"
