"""Where each setting came from (config.setting_sources), as `evidence doctor` lists it."""

from __future__ import annotations

import json
from pathlib import Path

from das_evidence.config import Settings, load_settings, setting_sources

CANARY = "CANARY-7f3a"

CONFIG = f"""\
[snowflake]
account = "ACME"
password = "{CANARY}-file"
port = 8080

[log]
origin = "evidence.example.com/t"

[streams.access_history]
start = 2026-11-01T00:00:00Z
"""


def test_every_set_key_names_its_source_and_the_rest_are_defaults(tmp_path: Path) -> None:
    config = tmp_path / "evidence.toml"
    config.write_text(CONFIG)
    environ = {
        "EVIDENCE_SNOWFLAKE__PASSWORD": f"{CANARY}-env",
        "EVIDENCE_ALERTS__WEBHOOKS": json.dumps([{"kind": "slack", "url": f"https://h/{CANARY}"}]),
        "EVIDENCE_NOW": "2026-11-20T00:00:00Z",  # not a setting
    }
    load_settings(config, environ=environ)  # loads: the sources describe a valid config
    sources = setting_sources(config, {"reconcile_days": 3}, environ=environ)
    assert sources[:4] == [
        ("snowflake.account", f"{config} line 2"),
        ("snowflake.password", "EVIDENCE_SNOWFLAKE__PASSWORD"),  # the variable overrides
        ("snowflake.port", f"{config} line 4"),
        ("store", "default"),
    ]
    found = dict(sources)
    assert found["log.origin"] == f"{config} line 7"
    assert found["streams.access_history.start"] == f"{config} line 10"
    assert found["alerts.webhooks"] == "EVIDENCE_ALERTS__WEBHOOKS"
    assert found["reconcile_days"] == "command line"
    assert found["checks"] == "default"
    # Every top-level setting is accounted for, in the settings' order.
    tops = list(dict.fromkeys(k.split(".")[0] for k, _ in sources))
    assert tops == list(Settings.model_fields)
    # Names and sources only: no value, so no secret.
    assert CANARY not in json.dumps(sources)


def test_without_a_file_everything_is_a_default_or_a_variable(tmp_path: Path) -> None:
    sources = setting_sources(None, environ={"EVIDENCE_LOG__ORIGIN": "e.example/x"})
    assert ("log.origin", "EVIDENCE_LOG__ORIGIN") in sources
    assert ("snowflake", "default") in sources
