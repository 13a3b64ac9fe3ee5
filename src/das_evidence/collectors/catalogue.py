"""Which collectors a configuration has, planned before any is built.

:func:`build_collectors` is how every command gets its collectors: it lists
the streams ``settings`` configures (Snowflake views when ``[snowflake]`` is
set, one family per ``[[dbt]]`` project), keeps those ``--only`` selects, and
only then builds them. A history stream in ``mode = "server_side_unload"`` is its
history collector wrapped by ``snowflake.unload.UnloadCollector``. Building is cheap
(no connection, no file read), and a
stream left out is never built: a dbt-only configuration needs no Snowflake
account, and a Snowflake-only run never reads a dbt target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from das_evidence.collectors.interface import Collector
from das_evidence.config import Settings
from das_evidence.streams import HISTORY_STREAMS, POLICY_STREAM, StreamId, stream_matches


@dataclass(frozen=True)
class PlannedCollector:
    """A stream the configuration collects, and how to build its collector."""

    #: The stream, or for dbt the project's family (its invocation id is read later).
    stream: StreamId
    build: Callable[[], Collector]

    def may_match(self, only: str | Sequence[str] | None) -> bool:
        """Whether ``only`` can select this stream (for dbt: any of the project's invocations)."""
        if only is None or self.stream.matches_any(only):
            return True
        if not self.stream.is_dbt:
            return False
        patterns = [only] if isinstance(only, str) else list(only)
        return any(p.startswith(f"{self.stream}/") for p in patterns)


def plan_collectors(
    settings: Settings, session: Callable[[], Any], now: datetime
) -> list[PlannedCollector]:
    """Every stream ``settings`` collects, in collection order; nothing is built or read."""
    from das_evidence.collectors import snowflake

    planned: list[PlannedCollector] = []
    if settings.uses_snowflake():
        account = settings.account()
        for view in HISTORY_STREAMS:
            if settings.stream(view).enabled:
                planned.append(
                    PlannedCollector(
                        StreamId.snowflake(account, view),
                        lambda view=view: _history_collector(  # type: ignore[misc]
                            settings, session, now, view
                        ),
                    )
                )
        if settings.stream(POLICY_STREAM).enabled:
            planned.append(
                PlannedCollector(
                    StreamId.snowflake(account, POLICY_STREAM),
                    lambda: snowflake.policy_collector(settings, session),
                )
            )
    for d in settings.dbt:
        planned.append(
            PlannedCollector(
                StreamId.dbt(d.project),
                lambda d=d: _dbt_collector(settings, d),  # type: ignore[misc]
            )
        )
    return planned


def _history_collector(
    settings: Settings, session: Callable[[], Any], now: datetime, view: str
) -> Collector:
    """The history view's collector; in ``server_side_unload`` mode, wrapped so Snowflake
    unloads each window to the stage and the collector copies the files in."""
    from das_evidence.collectors import snowflake

    history = snowflake.history_collector(settings, session, now, view)
    cfg = settings.stream(view)
    if cfg.mode != "server_side_unload":
        return history
    from das_evidence.collectors.snowflake.unload import unload_collector

    assert cfg.stage is not None and cfg.staging_prefix is not None  # config validates
    return unload_collector(
        history,
        session=session,
        stage=cfg.stage,
        staging_prefix=cfg.staging_prefix,
        max_file_size=cfg.max_file_size,
        endpoint_url=settings.store.endpoint_url,
        region=settings.store.region,
    )


def _dbt_collector(settings: Settings, d: Any) -> Collector:
    from das_evidence.collectors.dbt import dbt_collectors

    [collector] = dbt_collectors(
        [(d.project, d.target_dir)],
        endpoint_url=d.endpoint_url or settings.store.endpoint_url,
        max_bytes=d.max_bytes,
    )
    return collector


def build_collectors(
    settings: Settings,
    session: Callable[[], Any],
    now: datetime,
    only: str | Sequence[str] | None = None,
) -> list[Collector]:
    """The collectors ``only`` selects, built; the rest are never built."""
    chosen = [p.build() for p in plan_collectors(settings, session, now) if p.may_match(only)]
    if not only:
        return chosen
    return [c for c in chosen if stream_matches(c.stream, only)]
