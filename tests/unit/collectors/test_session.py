"""One Snowflake login per run, shared by the streams, and not retried per stream."""

from __future__ import annotations

from typing import Any

import pytest

from das_evidence.collectors.snowflake import LazySession
from das_evidence.errors import CollectorError


def test_a_failed_login_is_reported_to_every_stream_but_tried_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts: list[dict[str, Any]] = []

    class Refused:
        def __init__(self, args: dict[str, Any]) -> None:
            attempts.append(args)
            raise CollectorError("cannot reach Snowflake at 127.0.0.1:9: connection refused")

    monkeypatch.setattr("das_evidence.collectors.snowflake.connection.SnowflakeSession", Refused)
    session = LazySession({"account": "ACME"})
    errors = []
    for _ in range(4):  # four streams
        with pytest.raises(CollectorError) as e:
            session()
        errors.append(e.value)
    assert len(attempts) == 1
    assert all(err is errors[0] for err in errors)


def test_a_session_is_opened_once_and_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[object] = []

    class Session:
        def __init__(self, args: dict[str, Any]) -> None:
            opened.append(self)

        def close(self) -> None:
            opened.remove(self)

    monkeypatch.setattr("das_evidence.collectors.snowflake.connection.SnowflakeSession", Session)
    session = LazySession({})
    assert session() is session()
    assert len(opened) == 1
    session.close()
    assert opened == []
