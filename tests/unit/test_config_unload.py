"""``[streams.<view>] mode = "server_side_unload"``: what the configuration accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from das_evidence.config import load_settings
from das_evidence.errors import ConfigError
from tests.unit.test_config import BASE

UNLOAD = """
mode = "server_side_unload"
stage = "@EVIDENCE_DB.EVIDENCE.UNLOAD_STAGE"
staging_prefix = "s3://evidence-bucket/staging/"
"""


def _load(tmp_path: Path, *, store: str = "s3://evidence-bucket/archive", extra: str = "") -> None:
    text = BASE.replace('uri = "archive"', f'uri = "{store}"')
    text = text.replace('safety = "4h"\n', 'safety = "4h"\n' + extra)
    path = tmp_path / "evidence.toml"
    path.write_text(text)
    load_settings(path)


def _refused(tmp_path: Path, key: str, words: str, **kwargs: str) -> None:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, **kwargs)
    assert f"streams.access_history.{key}" in str(e.value) or key in str(e.value)
    assert words in str(e.value), str(e.value)


def test_an_unload_stream_on_an_s3_store_with_its_stage_on_the_bucket_loads(
    tmp_path: Path,
) -> None:
    _load(tmp_path, extra=UNLOAD + "max_file_size = 104857600\n")
    quoted = UNLOAD.replace('"@EVIDENCE_DB.', '\'@"evidence db".').replace('STAGE"', "STAGE'")
    _load(tmp_path, extra=quoted)


def test_an_unload_needs_an_s3_store(tmp_path: Path) -> None:
    _refused(tmp_path, "mode", "needs an S3 evidence store", store="archive", extra=UNLOAD)


def test_an_unload_needs_a_stage_name_and_a_staging_url(tmp_path: Path) -> None:
    _refused(tmp_path, "stage", "must name the external stage", extra=UNLOAD.replace("@", ""))
    _refused(
        tmp_path,
        "stage",
        "must name the external stage",
        extra=UNLOAD.replace("UNLOAD_STAGE", "S; DROP TABLE X"),
    )
    _refused(
        tmp_path,
        "staging_prefix",
        "must be the stage's URL",
        extra=UNLOAD.replace("staging/", "staging"),
    )


def test_the_staging_prefix_is_on_the_evidence_bucket_and_outside_the_archive(
    tmp_path: Path,
) -> None:
    _refused(
        tmp_path,
        "staging_prefix",
        "not on the evidence bucket",
        extra=UNLOAD.replace("evidence-bucket", "other"),
    )
    _refused(
        tmp_path,
        "staging_prefix",
        "lies inside the archive",
        extra=UNLOAD.replace("staging/", "archive/staging/"),
    )
    _refused(
        tmp_path,
        "staging_prefix",
        "lies inside the archive",
        store="s3://evidence-bucket",
        extra=UNLOAD,
    )


def test_stage_options_without_the_mode_are_refused(tmp_path: Path) -> None:
    _refused(
        tmp_path,
        "stage",
        'only read with mode = "server_side_unload"',
        extra=UNLOAD.replace('mode = "server_side_unload"\n', ""),
    )


def test_query_history_is_unloaded_only_with_its_text_kept(tmp_path: Path) -> None:
    text = BASE.replace('uri = "archive"', 'uri = "s3://evidence-bucket/archive"')
    path = tmp_path / "evidence.toml"
    path.write_text(text + "\n[streams.query_history]\n" + UNLOAD)
    with pytest.raises(ConfigError) as e:
        load_settings(path)
    assert "streams.query_history.mode" in str(e.value)
    assert "keep_query_text = true" in str(e.value)
    path.write_text(text + "\n[streams.query_history]\nkeep_query_text = true\n" + UNLOAD)
    load_settings(path)


def test_policy_state_has_no_unload_mode(tmp_path: Path) -> None:
    text = BASE.replace('uri = "archive"', 'uri = "s3://evidence-bucket/archive"')
    path = tmp_path / "evidence.toml"
    path.write_text(text + "\n[streams.policy_state]\n" + UNLOAD)
    with pytest.raises(ConfigError) as e:
        load_settings(path)
    assert "streams.policy_state.mode" in str(e.value) and "not a history view" in str(e.value)
