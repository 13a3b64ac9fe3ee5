"""Snowflake collectors. Only ``connection.py`` imports the connector."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pyarrow as pa

from das_evidence.collectors.interface import Collector
from das_evidence.collectors.snowflake.history import HistoryCollector
from das_evidence.collectors.snowflake.policy_views import USERS_PERSONAL_COLUMNS
from das_evidence.collectors.snowflake.views import VIEWS
from das_evidence.config import Settings
from das_evidence.errors import EvidenceError
from das_evidence.streams import POLICY_STREAM

__all__ = ["HistoryCollector", "LazySession", "history_collector", "policy_collector"]


class LazySession:
    """Opens one Snowflake session on first use and shares it between streams.

    A login that failed is not tried again by the next stream: every stream of
    the run reports the same error, and the account sees one failed login, not one
    per stream.
    """

    def __init__(self, connector_args: dict[str, Any]) -> None:
        self._args = connector_args
        self._session: Any = None
        self._failed: EvidenceError | None = None

    def __call__(self) -> Any:
        if self._failed is not None:
            raise self._failed
        if self._session is None:
            if str(self._args.get("authenticator") or "").upper() == "WORKLOAD_IDENTITY":
                # The connector's AWS workload identity needs boto3, which the connection
                # module hides from the connector unless it is imported already.
                import das_evidence.aws  # noqa: F401

            from das_evidence.collectors.snowflake.connection import SnowflakeSession

            try:
                self._session = SnowflakeSession(self._args)
            except EvidenceError as e:
                self._failed = e
                raise
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _query_history_transform(
    settings: Settings,
) -> tuple[
    Callable[[pa.RecordBatch], pa.RecordBatch] | None,
    tuple[pa.Field, ...],
    dict[str, Any] | Callable[[], dict[str, Any]],
]:
    """The QUERY_HISTORY redaction and its predicate fields.

    The redaction module (and sqlglot, 0.3 s to import) is imported when a window is
    collected, not when the collector is built: a run with nothing due, or a stream that
    keeps its query text, never imports it.
    """
    from das_evidence.manifests.keyring import key_fingerprint, load_hmac_key

    if settings.stream("query_history").keep_query_text:
        return (
            None,
            (),
            {
                "redaction": {
                    "policy": "none: query text kept by opt-in (streams.query_history."
                    "keep_query_text)",
                    "dropped_columns": ["BIND_VALUES"],
                }
            },
        )
    key = load_hmac_key(settings.redaction.hmac_key)

    def transform(batch: pa.RecordBatch) -> pa.RecordBatch:
        from das_evidence.collectors.snowflake.redaction import redact_sql, text_hmac

        texts = batch.column("QUERY_TEXT").to_pylist()
        errors = batch.column("ERROR_MESSAGE").to_pylist()
        redacted = [None if t is None else redact_sql(t).text for t in texts]
        hmacs = [None if t is None else text_hmac(key, t) for t in texts]
        red_errors = [None if t is None else redact_sql(t).text for t in errors]
        names = batch.schema.names
        arrays = list(batch.columns)
        arrays[names.index("QUERY_TEXT")] = pa.array(redacted, pa.string())
        arrays[names.index("ERROR_MESSAGE")] = pa.array(red_errors, pa.string())
        arrays.append(pa.array(hmacs, pa.string()))
        return pa.RecordBatch.from_arrays(arrays, names=[*names, "QUERY_TEXT_HMAC"])

    def predicate() -> dict[str, Any]:
        from das_evidence.collectors.snowflake.redaction import REDACTION_POLICY

        return {
            "redaction": {
                "policy": REDACTION_POLICY,
                "columns": {
                    "QUERY_TEXT": "literals replaced; HMAC-SHA256 of the original in "
                    "QUERY_TEXT_HMAC",
                    "ERROR_MESSAGE": "literals replaced",
                },
                "dropped_columns": ["BIND_VALUES"],
                "hmac_key_sha256": key_fingerprint(key),
            }
        }

    return transform, (pa.field("QUERY_TEXT_HMAC", pa.string()),), predicate


def policy_collector(settings: Settings, session: Callable[[], Any]) -> Collector:
    """The policy-state snapshot collector."""
    from das_evidence.collectors.snowflake.policy import PolicyStateCollector
    from das_evidence.manifests.keyring import load_hmac_key

    cfg = settings.stream(POLICY_STREAM)
    personal = {k.upper(): v for k, v in cfg.personal_data.items()}
    needs_key = "hmac" in {**USERS_PERSONAL_COLUMNS, **personal}.values()
    return PolicyStateCollector(
        account=settings.account(),
        session=session,
        hmac_key=load_hmac_key(settings.redaction.hmac_key) if needs_key else None,
        personal_data=personal,
        interval=cfg.interval,
    )


def history_collector(
    settings: Settings, session: Callable[[], Any], now: datetime, view: str
) -> HistoryCollector:
    """The collector of one ACCOUNT_USAGE history view."""
    cfg = settings.stream(view)
    transform = None
    extra: tuple[pa.Field, ...] = ()
    predicate: dict[str, Any] | Callable[[], dict[str, Any]] = {}
    if view == "query_history":
        transform, extra, predicate = _query_history_transform(settings)
    return HistoryCollector(
        VIEWS[view],
        account=settings.account(),
        session=session,
        first_start=settings.first_start(view, now),
        safety=settings.safety(view),
        max_window=cfg.max_window,
        min_window=cfg.min_window,
        transform=transform,
        extra_fields=extra,
        predicate_extra=predicate,
        max_rows_per_query=cfg.max_rows_per_query,
        max_bytes_per_query=cfg.max_bytes_per_query,
        max_file_bytes=settings.store.max_file_bytes,
    )
