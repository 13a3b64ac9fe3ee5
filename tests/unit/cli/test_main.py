"""The CLI's one error boundary, in process: exit codes, one-line messages, tracebacks
only with --verbose, and `evidence run`'s JSON line on every exit."""

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
from das_evidence.starter import write_starter

ORIGIN = "evidence.example.com/cli-test"


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
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A starter config with its keys; tests point the store elsewhere through the env."""
    write_starter(tmp_path / "site", origin=ORIGIN, account="ACME_TEST")
    for name in list(os.environ):
        if name.startswith("EVIDENCE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EVIDENCE_NOW", "2026-11-20T06:00:00Z")
    return tmp_path / "site" / "evidence.toml"


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
