"""StreamId: the one place stream names are built, split and matched."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from das_evidence.errors import FormatError
from das_evidence.streams import STREAMS, StreamId, stream_matches

segment = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-="),
    min_size=1,
    max_size=20,
)


@given(account=segment, view=st.sampled_from(STREAMS))
def test_snowflake_round_trip(account: str, view: str) -> None:
    sid = StreamId.snowflake(account, view)
    assert StreamId.parse(str(sid)) == sid
    assert sid.kind == view and sid.account == account and sid.family() == sid


@given(project=segment, invocation=segment)
def test_dbt_round_trip_and_family(project: str, invocation: str) -> None:
    sid = StreamId.dbt(project, invocation)
    assert StreamId.parse(str(sid)) == sid
    assert sid.kind == "dbt" and sid.project == project and sid.invocation_id == invocation
    assert str(sid.family()) == f"dbt/{project}"
    assert StreamId.parse(f"dbt/{project}") == sid.family()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "snowflake",
        "snowflake/ACME",
        "s3/ACME/x",
        "snowflake//access_history",
        "a/b/c/d",
        "dbt/",
    ],
)
def test_malformed_names_are_refused(text: str) -> None:
    with pytest.raises(FormatError):
        StreamId.parse(text)
    assert StreamId.try_parse(text) is None


@pytest.mark.parametrize(
    ("stream", "pattern", "expected"),
    [
        ("snowflake/ACME/access_history", "access_history", True),
        ("snowflake/ACME/access_history", "*history", True),
        ("snowflake/ACME/sessions", "*history", False),
        ("snowflake/ACME/policy_state", "snowflake/*", True),
        ("dbt/jaffle/0c8e4a4e-6a43-4e6f-9b1e-1b2c3d4e5f60", "dbt/*", True),
        # A dbt invocation is selected by its project before its id is known.
        ("dbt/jaffle/0c8e4a4e-6a43-4e6f-9b1e-1b2c3d4e5f60", "jaffle", True),
        ("dbt/jaffle/0c8e4a4e-6a43-4e6f-9b1e-1b2c3d4e5f60", "dbt/jaffle", True),
        ("dbt/jaffle/0c8e4a4e-6a43-4e6f-9b1e-1b2c3d4e5f60", "dbt/other", False),
        ("dbt/jaffle", "snowflake/*", False),
    ],
)
def test_one_glob_rule(stream: str, pattern: str, expected: bool) -> None:
    assert StreamId.parse(stream).matches(pattern) is expected
    assert stream_matches(stream, pattern) is expected
    assert stream_matches(stream, [pattern]) is expected


def test_no_pattern_selects_everything_and_bad_names_match_only_whole() -> None:
    assert stream_matches("snowflake/A/sessions", None)
    assert stream_matches("snowflake/A/sessions", [])
    assert stream_matches("not a stream", "not a stream")
    assert not stream_matches("x/not-a-stream", "not-a-stream")
