"""`evidence doctor` through the CLI entry point: its exit codes, text and JSON."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from das_evidence.cli.main import main
from das_evidence.starter import write_starter
from tests.loopback_servers import closed_port

Doctor = Callable[..., tuple[int, str, str]]


@pytest.fixture
def doctor(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Doctor]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for name in list(os.environ):
        if name.startswith("EVIDENCE_"):
            monkeypatch.delenv(name)

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["evidence", "doctor", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsys.readouterr()
        code = exited.value.code
        return (code if isinstance(code, int) else 1), out, err

    yield run
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_config_that_does_not_load_is_a_failed_config_check_and_exit_2(
    doctor: Doctor, tmp_path: Path
) -> None:
    code, out, _ = doctor("-c", str(tmp_path / "missing.toml"))
    assert code == 2
    first = out.splitlines()[0]
    assert first.startswith("FAIL  config  config file") and "does not exist" in first
    assert out.splitlines()[1].strip().startswith("fix: run `evidence init`")

    bad = tmp_path / "bad.toml"
    bad.write_text('[log]\norigin = "o"\n[snowflake]\nport = "443"\n')
    code, out, _ = doctor("-c", str(bad), "--json")
    assert code == 2
    data = json.loads(out)
    assert data["exit_code"] == 2 and data["ok"] is False
    [check] = data["checks"]
    assert check["status"] == "fail" and f"{bad} line 4: snowflake.port" in check["detail"]


def test_an_unreachable_snowflake_is_exit_1_with_one_line_per_check(
    doctor: Doctor, tmp_path: Path
) -> None:
    write_starter(tmp_path, origin="evidence.example.com/t", account="ACME")
    config = tmp_path / "evidence.toml"
    text = config.read_text().replace(
        'private_key_file = "keys/snowflake_rsa_key.p8"',
        f'host = "127.0.0.1"\nport = {closed_port()}\nprotocol = "http"',
    )
    config.write_text(text)
    code, out, err = doctor("-c", str(config))
    assert code == 1
    lines = out.splitlines()
    reach = next(i for i, line in enumerate(lines) if "snowflake reachable" in line)
    assert lines[reach].startswith("FAIL") and "(refused)" in lines[reach]
    assert lines[reach + 1].strip().startswith("fix: ")
    assert lines[-1].endswith("exit 1: a check failed: its line says what, and the fix")
    assert "Traceback" not in out + err
    code, out, _ = doctor("-c", str(config), "--json")
    assert code == 1
    names = [c["name"] for c in json.loads(out)["checks"]]
    assert names[:4] == ["config", "signing key", "redaction key", "snowflake reachable"]


def test_the_help_documents_the_exit_codes(doctor: Doctor) -> None:
    code, out, _ = doctor("--help")
    assert code == 0
    assert "0 every check passed" in " ".join(out.split())
    assert "2 the configuration cannot be loaded" in " ".join(out.split())
