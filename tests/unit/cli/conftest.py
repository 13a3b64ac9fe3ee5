"""The in-process harness for the CLI: ``evidence ARGS...`` through :func:`main`, as the
console script calls it, and the sites the tests run it on."""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from das_evidence.cli.main import main
from das_evidence.manifests.keyring import write_key_pair
from das_evidence.starter import write_starter
from tests.conftest import ROOT

ORIGIN = "evidence.example.com/cli-test"
DBT_TARGET = ROOT / "tests" / "fixtures" / "dbt" / "target"
# An hour after the dbt fixture's invocation (run_results generated_at 2026-11-27T04:00:32Z).
DBT_NOW = "2026-11-27T05:00:00Z"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip().splitlines()

    def summary(self) -> dict[str, Any]:
        """`evidence run`'s stdout: exactly one JSON line."""
        [line] = self.out.strip().splitlines()
        data = json.loads(line)
        assert isinstance(data, dict)
        return data


Evidence = Callable[..., Result]


@pytest.fixture
def evidence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Evidence]:
    """``evidence ARGS...`` through :func:`main`, as the console script calls it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def run(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["evidence", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsys.readouterr()
        code = exited.value.code
        return Result(code if isinstance(code, int) else 1, out, err)

    yield run
    root.handlers[:] = handlers  # main() points logging at this test's stderr
    root.setLevel(level)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No EVIDENCE_* variable of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.startswith("EVIDENCE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> Path:
    """A starter config with its keys and a (placeholder) Snowflake key file; tests point
    the store elsewhere through the env."""
    write_starter(tmp_path / "site", origin=ORIGIN, account="ACME_TEST")
    (tmp_path / "site" / "keys" / "snowflake_rsa_key.p8").write_text("never read: no login\n")
    monkeypatch.setenv("EVIDENCE_NOW", "2026-11-20T06:00:00Z")
    return tmp_path / "site" / "evidence.toml"


@pytest.fixture
def dbt_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> Path:
    """A dbt-only configuration (no Snowflake needed) in the current directory."""
    site = tmp_path / "dbt-site"
    write_key_pair(site / "keys", ORIGIN)
    (site / "evidence.toml").write_text(
        '[store]\nuri = "archive"\n\n[signing]\nkey = "keys/signing.key"\n\n'
        f'[log]\norigin = "{ORIGIN}"\n\n'
        '[status]\nlast_run_file = "last-run.json"\n\n'
        f'[[dbt]]\nproject = "jaffle_health"\ntarget_dir = "{DBT_TARGET}"\n'
    )
    monkeypatch.setenv("EVIDENCE_NOW", DBT_NOW)
    monkeypatch.setenv("EVIDENCE_CONFIG", str(site / "evidence.toml"))
    monkeypatch.chdir(site)
    return site


@pytest.fixture
def collected(dbt_site: Path, evidence: Evidence) -> Path:
    """The dbt-only site after one `evidence collect`: an archive with entries."""
    r = evidence("collect")
    assert r.code == 0, r.err
    assert (dbt_site / "archive" / "log" / "checkpoint").is_file()
    return dbt_site


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """Make a directory read-only; as root (who writes through permissions) refuse
    writes under it the way a read-only mount does."""
    made: list[Path] = []

    def make(directory: Path) -> None:
        directory.chmod(0o555)
        made.append(directory)
        if os.geteuid() != 0:
            return
        real_open, real_mkdir = os.open, os.mkdir
        inside = directory.resolve()

        def refuse(path: Any) -> None:
            if Path(os.fsdecode(path)).absolute().is_relative_to(inside):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

        def open_(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                refuse(path)
            return real_open(path, flags, mode, **kw)

        def mkdir_(path: Any, mode: int = 0o777, **kw: Any) -> None:
            refuse(path)
            real_mkdir(path, mode, **kw)

        monkeypatch.setattr(os, "open", open_)
        monkeypatch.setattr(os, "mkdir", mkdir_)

    yield make
    for directory in made:
        directory.chmod(0o755)
