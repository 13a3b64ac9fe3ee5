"""The CLI's own contract: init, keys, help, and exit codes."""

from __future__ import annotations

import os
import pty
import stat
import subprocess
import sys
from pathlib import Path

from das_evidence.config import load_settings
from das_evidence.manifests.note import VerifierKey
from das_evidence.manifests.signers import Ed25519Signer, PublicKey


def evidence(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "das_evidence.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_init_writes_a_loadable_config_and_a_key_pair(tmp_path: Path) -> None:
    r = evidence("init", "site", "--origin", "evidence.example.com/t", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    site = tmp_path / "site"
    s = load_settings(site / "evidence.toml")
    assert s.log.origin == "evidence.example.com/t"
    key = site / "keys" / "signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    signer = Ed25519Signer.from_file(key, s.log.origin)
    assert PublicKey.from_file(site / "keys" / "signing.pub").key_id == signer.key_id
    vkey = VerifierKey.from_string((site / "keys" / "signing.vkey").read_text().strip())
    assert vkey.name == s.log.origin and vkey.public_key == signer.public_key_raw()
    again = evidence("init", "site", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_keys_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    r = evidence("keys", "generate", "--out", "k", "--origin", "o.example/x", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    before = (tmp_path / "k" / "signing.key").read_bytes()
    r2 = evidence("keys", "generate", "--out", "k", "--origin", "o.example/x", cwd=tmp_path)
    assert r2.returncode == 2 and "refusing to overwrite" in r2.stderr
    assert (tmp_path / "k" / "signing.key").read_bytes() == before


def test_verify_exit_codes(tmp_path: Path, vectors: Path) -> None:
    pub = str(vectors / "signing.pub")
    assert evidence("verify", str(vectors / "archive"), "--pub", pub, cwd=tmp_path).returncode == 0
    missing = evidence("verify", str(tmp_path / "nowhere"), "--pub", pub, cwd=tmp_path)
    assert missing.returncode == 3 and "not a directory" in missing.stderr
    usage = evidence("verify", str(vectors / "archive"), cwd=tmp_path)
    assert usage.returncode == 2
    bad_key = tmp_path / "bad.pub"
    bad_key.write_text("not a key")
    r = evidence("verify", str(vectors / "archive"), "--pub", str(bad_key), cwd=tmp_path)
    assert r.returncode == 2 and "bad.pub" in r.stderr


def test_help_teaches(tmp_path: Path) -> None:
    r = evidence("--help", cwd=tmp_path)
    assert r.returncode == 0
    for command in ("init", "keys", "collect", "verify", "demo"):
        assert command in r.stdout
    c = evidence("collect", "--help", cwd=tmp_path)
    assert "--only" in c.stdout and "--config" in c.stdout


def test_the_starter_config_run_unedited_is_a_clear_config_error(tmp_path: Path) -> None:
    """The first thing a new user tries: `evidence init d && evidence collect -c d/...`."""
    assert evidence("init", "d", cwd=tmp_path).returncode == 0
    r = evidence("collect", "-c", "d/evidence.toml", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == (
        f"error: snowflake.private_key_file {tmp_path / 'd' / 'keys' / 'snowflake_rsa_key.p8'} "
        "does not exist"
    )
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "d" / "archive").exists()
    assert not list(tmp_path.rglob(".lock"))


def test_help_is_plain_text_that_keeps_its_brackets(tmp_path: Path) -> None:
    r = evidence("init", "-h", cwd=tmp_path)
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: evidence init [OPTIONS] [DIR]")
    assert "edit the [snowflake] section" in r.stdout
    assert "\x1b[" not in r.stdout


def test_verify_shows_progress_on_a_terminal_and_nothing_elsewhere(
    tmp_path: Path, vectors: Path
) -> None:
    args = [sys.executable, "-m", "das_evidence.cli.main", "verify", str(vectors / "archive")]
    args += ["--pub", str(vectors / "signing.pub")]
    main_fd, terminal = pty.openpty()
    with subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=terminal) as p:
        os.close(terminal)
        screen = b""
        while True:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        out = p.stdout.read() if p.stdout else b""
    os.close(main_fd)
    assert p.returncode == 0, screen
    assert out.startswith(b"PASS: ")
    assert b"verify" in screen and b"checking entries" in screen, screen

    plain = evidence(*args[3:], cwd=tmp_path)
    assert plain.returncode == 0 and plain.stderr == ""
