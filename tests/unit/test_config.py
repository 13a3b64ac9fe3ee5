"""Configuration: layering, path resolution and messages that name the key."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from das_evidence.config import _key_lines, load_settings
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


# --- strict types, and errors that name the key and its source -----------------------

HEAD = "[log]\norigin = 'o'\n"  # lines 1-2


@pytest.mark.parametrize(
    ("body", "line", "key", "message"),
    [
        # Lax coercion would read 42 as 1970-01-01T00:00:42Z.
        (
            "[streams.access_history]\nstart = 42\n",
            4,
            "streams.access_history.start",
            "not a number",
        ),
        (
            "[streams.access_history]\nstart = 2026-11-01\n",
            4,
            "streams.access_history.start",
            "time zone",
        ),
        (
            "[streams.sessions]\nstart = 2026-11-01T00:00:00\n",
            4,
            "streams.sessions.start",
            "needs a time zone",
        ),
        (
            "[streams.sessions]\nstart = '2026-11-01 00:00'\n",
            4,
            "streams.sessions.start",
            "needs a time zone",
        ),
        ("[streams.sessions]\nstart = 'yesterday'\n", 4, "streams.sessions.start", "RFC 3339"),
        ("[streams.sessions]\nsafety = 10800\n", 4, "streams.sessions.safety", '"3h"'),
        (
            "[streams.sessions]\nenabled = 'false'\n",
            4,
            "streams.sessions.enabled",
            "without quotes",
        ),
        ("[streams.sessions]\nenabled = 0\n", 4, "streams.sessions.enabled", "true or false"),
        ("[snowflake]\nport = 'abc'\n", 4, "snowflake.port", "must be a whole number"),
        ("[snowflake]\nport = '8123'\n", 4, "snowflake.port", "without quotes"),
        ("[snowflake]\nport = 8123.0\n", 4, "snowflake.port", "not a number"),
        ("[snowflake]\nport = 70000\n", 4, "snowflake.port", "less than or equal to 65535"),
        ("[snowflake]\nlogin_timeout = true\n", 4, "snowflake.login_timeout", "not a boolean"),
        ("[snowflake]\nwarehouse = 1\n", 4, "snowflake.warehouse", "must be text"),
        ("[snowflake]\nrole = ['R']\n", 4, "snowflake.role", "not a list"),
        ("[snowflake]\nprotocol = 'ftp'\n", 4, "snowflake.protocol", "'https' or 'http'"),
        (
            "[snowflake]\nclient_session_keep_alive = 'yes'\n",
            4,
            "snowflake.client_session_keep_alive",
            "true or false",
        ),
        ("[store]\nretention_days = 30.5\n", 4, "store.retention_days", "whole number"),
        ("default_history_days = '7'\n" + HEAD, 1, "default_history_days", "whole number"),
        (
            "[[dbt]]\nproject = 'a'\ntarget_dir = 't'\nmax_bytes = '1'\n",
            6,
            "dbt[0].max_bytes",
            "whole",
        ),
        (
            "[[dbt]]\nproject = 'a'\ntarget_dir = 't'\n[[dbt]]\nproject = 'a'\ntarget_dir = 'u'\n",
            7,
            "dbt[1].project",
            "listed twice",
        ),
        (
            "[[alerts.webhooks]]\nkind = 'generic'\nurl = 'https://h/x'\n"
            "[[alerts.webhooks]]\nkind = 'slack'\nurl = 'https://h/y'\ninsecure_allow_http = 1\n",
            9,
            "alerts.webhooks[1].insecure_allow_http",
            "true or false",
        ),
        ("[streams.bogus]\n", 3, "streams.bogus", "unknown stream"),
        (
            "[streams.sessions]\nmax_window = '2d'\n",
            4,
            "streams.sessions.max_window",
            "at most 1 day",
        ),
        ("[store]\nmax_file_bytes = 1000\n", 4, "store.max_file_bytes", "16777216"),
        ("[store]\nmax_file_bytes = 6000000000\n", 4, "store.max_file_bytes", "5368709120"),
        (
            "[streams.sessions]\nmax_rows_per_query = 0\n",
            4,
            "streams.sessions.max_rows_per_query",
            "1",
        ),
        (
            "[status]\nobjectives = { '*history' = '0s' }\n",
            4,
            "status.objectives.*history",
            "more than 0",
        ),
        ("[schedules.Nightly]\ncron = '0 3 * * *'\n", 3, "schedules.Nightly", "lower-case"),
        ("[schedules.n]\ncron = '0 25 * * *'\n", 4, "schedules.n.cron", "hour 25"),
        ('[streams."sessions"]\n"safety" = "1h"\n', 4, "streams.sessions.safety", "shorter than"),
    ],
)
def test_a_wrong_type_in_the_file_names_the_key_and_its_line(
    tmp_path: Path, body: str, line: int, key: str, message: str
) -> None:
    path = _write(tmp_path, body if body.endswith(HEAD) else HEAD + body)
    with pytest.raises(ConfigError) as e:
        load_settings(path, environ={})
    assert f"{path} line {line}: {key}: " in e.value.message
    assert message in e.value.message.split(f"{key}: ", 1)[1].splitlines()[0]
    assert e.value.fix and "EVIDENCE_" not in e.value.fix


@pytest.mark.parametrize(
    ("variable", "value", "key", "message"),
    [
        ("EVIDENCE_SNOWFLAKE__PORT", "abc", "snowflake.port", "must be a whole number"),
        ("EVIDENCE_SNOWFLAKE__LOGIN_TIMEOUT", "1.5", "snowflake.login_timeout", "whole number"),
        (
            "EVIDENCE_STREAMS__ACCESS_HISTORY__START",
            "42",
            "streams.access_history.start",
            "RFC 3339",
        ),
        (
            "EVIDENCE_STREAMS__SESSIONS__ENABLED",
            "maybe",
            "streams.sessions.enabled",
            "true or false",
        ),
        ("EVIDENCE_STORE__BOGUS", "1", "store.bogus", "not a known setting"),
        ("EVIDENCE_SNOWFLAKE", '{"port": "443"}', "snowflake.port", "without quotes"),
        (
            "EVIDENCE_ALERTS__WEBHOOKS",
            '[{"kind": "slack", "url": "http://example.com/T0/B0/x"}]',
            "alerts.webhooks[0].url",
            "plain http is refused",
        ),
    ],
)
def test_a_bad_environment_variable_is_named_not_the_file(
    tmp_path: Path, variable: str, value: str, key: str, message: str
) -> None:
    path = _write(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_settings(path, environ={variable: value})
    assert f"  {variable}: {key}: " in e.value.message
    assert message in e.value.message
    assert str(path) not in e.value.message
    assert e.value.fix and "EVIDENCE_* variables" in e.value.fix


def test_each_error_names_its_own_source(tmp_path: Path) -> None:
    # The environment overrides a good port with a bad one; the file's own start is bad.
    path = _write(tmp_path, BASE.replace('start = "2026-11-01T00:00:00Z"', "start = 42"))
    with pytest.raises(ConfigError) as e:
        load_settings(
            path,
            environ={
                "EVIDENCE_SNOWFLAKE__PORT": "x",
                "EVIDENCE_STREAMS__ACCESS_HISTORY__SAFETY": "4h",
            },
        )
    assert e.value.message.splitlines()[1:] == [
        "  EVIDENCE_SNOWFLAKE__PORT: snowflake.port: must be a whole number",
        f"  {path} line 21: streams.access_history.start: must be an RFC 3339 time with a zone "
        "(e.g. 2026-11-01T00:00:00Z), not a number",
    ]
    # A JSON table merges with the file: it is the source of its own keys only.
    with pytest.raises(ConfigError) as e3:
        load_settings(path, environ={"EVIDENCE_STREAMS": '{"access_history": {"safety": "4h"}}'})
    assert f"  {path} line 21: streams.access_history.start: " in e3.value.message
    with pytest.raises(ConfigError) as e4:
        load_settings(path, environ={"EVIDENCE_STREAMS": '{"access_history": {"start": 1}}'})
    assert "  EVIDENCE_STREAMS: streams.access_history.start: " in e4.value.message
    flagged = pytest.raises(ConfigError)
    with flagged as e2:
        load_settings(path, {"snowflake": {"port": "x"}}, environ={})
    assert "  command line: snowflake.port: " in e2.value.message


def test_environment_text_is_read_as_the_field_type(tmp_path: Path) -> None:
    s = load_settings(
        _write(tmp_path),
        environ={
            "EVIDENCE_SNOWFLAKE__PORT": "443",
            "evidence_snowflake__client_session_keep_alive": "true",
            "EVIDENCE_STREAMS__ACCESS_HISTORY__ENABLED": "false",
            "EVIDENCE_STREAMS__ACCESS_HISTORY__START": "2026-11-01T01:00:00+01:00",
            "EVIDENCE_STREAMS__SESSIONS__SAFETY": "5h",
            "EVIDENCE_DEFAULT_HISTORY_DAYS": "30",
            "EVIDENCE_ALERTS__WEBHOOKS": '[{"kind": "generic", "url": "https://h/x"}]',
            "EVIDENCE_NOW": "not a setting",
        },
    )
    args = s.snowflake.connector_args()
    assert args["port"] == 443 and args["client_session_keep_alive"] is True
    assert s.stream("access_history").enabled is False
    assert s.stream("access_history").start == datetime(2026, 11, 1, tzinfo=UTC)
    assert s.safety("sessions") == timedelta(hours=5)
    assert s.default_history_days == 30
    assert [w.kind for w in s.alerts.webhooks] == ["generic"]


def test_times_are_toml_datetimes_or_rfc3339_text_with_a_zone(tmp_path: Path) -> None:
    text = HEAD + (
        "[streams.access_history]\nstart = 2026-11-01T02:00:00+02:00\n"
        "[streams.sessions]\nstart = '2026-11-01T00:00:00Z'\n"
    )
    s = load_settings(_write(tmp_path, text), environ={})
    want = datetime(2026, 11, 1, tzinfo=UTC)
    assert s.stream("access_history").start == want == s.stream("sessions").start


def test_bad_json_in_a_variable_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_settings(
            _write(tmp_path), environ={"EVIDENCE_ALERTS__WEBHOOKS": '[{"url": "https://h/SECRET'}
        )
    assert e.value.message.startswith(
        "EVIDENCE_ALERTS__WEBHOOKS: alerts.webhooks is not valid JSON"
    )
    assert "SECRET" not in str(e.value)


def test_unknown_connector_arguments_pass_through_and_secret_looking_ones_are_hidden(
    tmp_path: Path,
) -> None:
    text = BASE.replace(
        "[store]", "paramstyle = 'qmark'\nsome_new_flag = true\nvendor_api_secret = 'vs-1'\n[store]"
    )
    s = load_settings(_write(tmp_path, text), environ={"EVIDENCE_SNOWFLAKE__SCHEMA": "AUDIT"})
    args = s.snowflake.connector_args()
    assert args["paramstyle"] == "qmark" and args["some_new_flag"] is True
    assert args["vendor_api_secret"] == "vs-1" and args["schema"] == "AUDIT"
    assert "vs-1" not in repr(s) and "vs-1" not in s.model_dump_json()


def test_key_lines_follow_tables_arrays_dotted_keys_and_skip_multiline_strings() -> None:
    text = (
        "top = 1\n"  # 1
        "[a]\n"  # 2
        "b.c = 2\n"  # 3
        'note = """\n'  # 4
        "fake = 3\n"  # 5
        '"""\n'  # 6
        "[[w]]\n"  # 7
        "k = 1\n"  # 8
        "[[w]]\n"  # 9
        "k = 2\n"  # 10
        "[ 'x' . \"y\" ]\n"  # 11
        "z = 0\n"  # 12
    )
    lines = _key_lines(text)
    assert lines[("top",)] == 1 and lines[("a",)] == 2 and lines[("a", "b", "c")] == 3
    assert ("a", "fake") not in lines
    assert lines[("w", 0, "k")] == 8 and lines[("w", 1, "k")] == 10 and lines[("w",)] == 7
    assert lines[("x", "y", "z")] == 12


def test_config_and_the_schedules_share_validators_without_importing_each_other() -> None:
    code = (
        "import sys, das_evidence.validators as v, das_evidence.config as c; "
        "mods = sorted(m for m in sys.modules if m.startswith('das_evidence.')); print(mods)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(ast.literal_eval(out))
    assert not {m for m in loaded if m.split(".")[1] in ("schedules", "collectors", "cli")}
    only_validators = subprocess.run(
        [sys.executable, "-c", code.replace(", das_evidence.config as c", "")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # A leaf module: only the error classes it raises.
    assert ast.literal_eval(only_validators) == ["das_evidence.errors", "das_evidence.validators"]


def test_the_starter_config_loads(tmp_path: Path) -> None:
    from das_evidence.starter import write_starter

    write_starter(tmp_path / "site", origin="evidence.example.com/x", account="ACME_PROD")
    s = load_settings(tmp_path / "site" / "evidence.toml", environ={})
    assert s.snowflake.role == "EVIDENCE_COLLECTOR_ROLE" and s.alerts.webhooks == []
