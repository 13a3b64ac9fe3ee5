"""Configuration: layering, path resolution and messages that name the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from das_evidence.config import load_settings
from das_evidence.errors import ConfigError

BASE = """
[snowflake]
account = "ACME_PROD"
user = "U"
password = "from-file"
host = "127.0.0.1"
port = 8123
protocol = "http"
warehouse = "WH"

[store]
uri = "archive"

[signing]
key = "keys/signing.key"

[log]
origin = "evidence.example.com/acme-prod"

[streams.access_history]
start = "2026-11-01T00:00:00Z"
safety = "4h"
"""


def _write(tmp_path: Path, text: str = BASE) -> Path:
    p = tmp_path / "conf" / "evidence.toml"
    p.parent.mkdir(exist_ok=True)
    p.write_text(text)
    return p


def test_the_documented_shape_loads_and_paths_resolve_against_the_file(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path))
    assert s.store.uri == str(tmp_path / "conf" / "archive")
    assert s.signing.key == str(tmp_path / "conf" / "keys" / "signing.key")
    args = s.snowflake.connector_args()
    assert args["password"] == "from-file" and args["warehouse"] == "WH"
    assert args["port"] == 8123 and args["protocol"] == "http"
    assert s.safety("access_history") == timedelta(hours=4)
    assert s.safety("query_history") == timedelta(minutes=45)


def test_environment_overrides_file_and_flags_override_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVIDENCE_SNOWFLAKE__PASSWORD", "from-env")
    monkeypatch.setenv("EVIDENCE_LOG__ORIGIN", "env.example.com/x")
    s = load_settings(_write(tmp_path))
    assert s.snowflake.connector_args()["password"] == "from-env"
    assert s.log.origin == "env.example.com/x"
    s2 = load_settings(_write(tmp_path), {"log": {"origin": "flag.example.com/y"}})
    assert s2.log.origin == "flag.example.com/y"


def test_secrets_are_not_printed(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path))
    assert "from-file" not in repr(s) and "from-file" not in str(s.snowflake)


def test_connection_name_takes_the_account_from_connections_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "sfhome"
    home.mkdir()
    (home / "connections.toml").write_text('[prod]\naccount = "FROM_CONNECTIONS"\nuser = "u"\n')
    monkeypatch.setenv("SNOWFLAKE_HOME", str(home))
    s = load_settings(
        _write(tmp_path, '[snowflake]\nconnection_name = "prod"\n[log]\norigin = "o"\n')
    )
    assert s.account() == "FROM_CONNECTIONS"
    assert s.snowflake.connector_args()["connection_name"] == "prod"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[log]\norigin = 'has space'\n", "log.origin"),
        ("[log]\norigin='o'\n[streams.access_history]\nstart='2026-11-01T00:00:00'\n", "start"),
        ("[log]\norigin='o'\n[streams.access_history]\nsafety='2h'\n", "safety"),
        ("[log]\norigin='o'\n[streams.sessions]\nmax_window='2d'\n", "max_window"),
        ("[log]\norigin='o'\n[streams.sessions]\nbogus=1\n", "streams.sessions.bogus"),
        ("[log]\norigin='o'\n[signing]\nkey=3\n", "signing.key"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, text: str, names: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_settings(_write(tmp_path, text))
    assert names in str(e.value)
    assert e.value.exit_code == 2


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="evidence init"):
        load_settings(tmp_path / "nope.toml")
