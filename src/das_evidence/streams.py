"""Stream identity and the stream catalogue: a leaf module every layer may import.

A stream is named ``<source>/<scope>/<name>``:

- ``snowflake/<account>/<view>`` for the ACCOUNT_USAGE history views and the
  policy-state snapshot (``policy_state``);
- ``dbt/<project>/<invocation_id>`` for dbt, one stream per invocation. Status
  and schedules speak of the project's *family*, ``dbt/<project>``.

:class:`StreamId` is the only code that builds, splits or glob-matches these
names. The ``--only``, schedule and objective globs all follow one rule
(:meth:`StreamId.matches`): a glob matches the whole name or its last part.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from das_evidence.errors import FormatError

SNOWFLAKE = "snowflake"
DBT = "dbt"
SOURCES = (SNOWFLAKE, DBT)

# The windowed ACCOUNT_USAGE views every deployment collects: the audit trail itself.
CORE_HISTORY_STREAMS = ("access_history", "login_history", "query_history", "sessions")
# Trust Center scanner findings (SNOWFLAKE.ACCOUNT_USAGE.TRUST_CENTER_FINDINGS): windowed
# like the others, but an account without Trust Center or without the grant has none, so
# it is not among the streams the completeness checks require by default.
TRUST_CENTER_STREAM = "trust_center_findings"
# The windowed ACCOUNT_USAGE views, in collection order.
HISTORY_STREAMS = (*CORE_HISTORY_STREAMS, TRUST_CENTER_STREAM)
# The point-in-time policy snapshot (grants, users, roles, policies, references).
POLICY_STREAM = "policy_state"
STREAMS = (*HISTORY_STREAMS, POLICY_STREAM)
#: The default of ``[checks] required_streams``: the core history views and the snapshot.
REQUIRED_STREAMS = (*CORE_HISTORY_STREAMS, POLICY_STREAM)

# ACCOUNT_USAGE latency as Snowflake documents it; a safety margin may not be smaller.
DOCUMENTED_LATENCY = {
    "access_history": timedelta(hours=3),
    "login_history": timedelta(hours=2),
    "query_history": timedelta(minutes=45),
    "sessions": timedelta(hours=3),
    "trust_center_findings": timedelta(hours=1),
}
# The policy views' latency: a snapshot is taken "as of" this long ago.
POLICY_LATENCY = timedelta(hours=2)

#: The predicate field of an entry that accounts for files instead of evidencing a
#: window or a snapshot (``"orphans"``: files a stopped run left that no entry named).
ACCOUNTS_FOR = "accounts_for"


def is_accounting(predicate: Mapping[str, Any]) -> bool:
    """Whether an entry only accounts for files: not a window, a snapshot or an amendment.

    Such an entry never moves its stream's end, is no snapshot to compare with, and
    its files are no rows of any view or check.
    """
    return ACCOUNTS_FOR in predicate


@dataclass(frozen=True, order=True)
class StreamId:
    """``source/scope/name``; ``name`` is empty for a dbt family (``dbt/<project>``)."""

    source: str
    scope: str
    name: str = ""

    def __post_init__(self) -> None:
        parts = (self.source, self.scope, self.name)
        if self.source not in SOURCES:
            raise FormatError(
                f"stream source {self.source!r} is not one of {', '.join(SOURCES)}",
                fix="name streams snowflake/<account>/<view> or dbt/<project>/<invocation>",
            )
        if not self.scope or any("/" in p or p.strip() != p for p in parts):
            raise FormatError(
                f"stream name {'/'.join(p for p in parts if p)!r} is malformed",
                fix="each part is non-empty, has no '/' and no surrounding spaces",
            )
        if not self.name and self.source != DBT:
            raise FormatError(
                f"stream {self.source}/{self.scope} lacks its view name",
                fix="name it snowflake/<account>/<view>",
            )

    # --- construction -----------------------------------------------------------------

    @classmethod
    def snowflake(cls, account: str, view: str) -> StreamId:
        return cls(SNOWFLAKE, account, view)

    @classmethod
    def dbt(cls, project: str, invocation_id: str = "") -> StreamId:
        return cls(DBT, project, invocation_id)

    @classmethod
    def parse(cls, text: str) -> StreamId:
        """The inverse of ``str()``; raises :class:`FormatError` on anything else."""
        if not isinstance(text, str):
            raise FormatError(f"stream {text!r} is not a string")
        parts = text.split("/")
        if len(parts) == 3:
            return cls(parts[0], parts[1], parts[2])
        if len(parts) == 2 and parts[0] == DBT:
            return cls(DBT, parts[1])
        raise FormatError(
            f"stream {text!r} is malformed",
            fix="name streams snowflake/<account>/<view> or dbt/<project>/<invocation>",
        )

    @classmethod
    def try_parse(cls, text: object) -> StreamId | None:
        """``parse`` for untrusted input: None instead of an error."""
        if not isinstance(text, str):
            return None
        try:
            return cls.parse(text)
        except FormatError:
            return None

    def __str__(self) -> str:
        return (
            f"{self.source}/{self.scope}/{self.name}"
            if self.name
            else (f"{self.source}/{self.scope}")
        )

    # --- what callers ask of a stream ---------------------------------------------------

    @property
    def is_snowflake(self) -> bool:
        return self.source == SNOWFLAKE

    @property
    def is_dbt(self) -> bool:
        return self.source == DBT

    @property
    def is_history(self) -> bool:
        return self.is_snowflake and self.name in HISTORY_STREAMS

    @property
    def is_policy(self) -> bool:
        return self.is_snowflake and self.name == POLICY_STREAM

    @property
    def kind(self) -> str:
        """What the stream holds: the view name for Snowflake, ``dbt`` for dbt."""
        return self.name if self.is_snowflake else DBT

    @property
    def account(self) -> str | None:
        return self.scope if self.is_snowflake else None

    @property
    def project(self) -> str | None:
        return self.scope if self.is_dbt else None

    @property
    def invocation_id(self) -> str | None:
        return (self.name or None) if self.is_dbt else None

    def family(self) -> StreamId:
        """The name status and objectives use: ``dbt/<project>`` for a dbt invocation."""
        return StreamId(DBT, self.scope) if self.is_dbt else self

    @property
    def last(self) -> str:
        """The last part of the name, which a glob may match alone."""
        return self.name or self.scope

    def matches(self, pattern: str) -> bool:
        """The one glob rule: ``pattern`` matches the whole name or its last part.

        A dbt invocation also matches what its family matches (``dbt/<project>``,
        ``<project>``), so a project is selected before its invocation id is known.
        """
        if fnmatch.fnmatchcase(str(self), pattern) or fnmatch.fnmatchcase(self.last, pattern):
            return True
        return self.is_dbt and bool(self.name) and self.family().matches(pattern)

    def matches_any(self, patterns: Iterable[str] | str | None) -> bool:
        """True when no patterns are given, or one of them matches."""
        if patterns is None:
            return True
        if isinstance(patterns, str):
            return self.matches(patterns)
        listed = list(patterns)
        return not listed or any(self.matches(p) for p in listed)


def status_key(stream: str) -> str:
    """The name status reports ``stream`` under: ``dbt/<project>`` for dbt invocations."""
    sid = StreamId.try_parse(stream)
    return str(sid.family()) if sid is not None else stream


def stream_matches(stream: str, patterns: Iterable[str] | str | None) -> bool:
    """:meth:`StreamId.matches_any` for a stream name read from untrusted input.

    A name that is not a valid stream matches only a pattern that matches it whole.
    """
    sid = StreamId.try_parse(stream)
    if sid is not None:
        return sid.matches_any(patterns)
    if patterns is None:
        return True
    listed = [patterns] if isinstance(patterns, str) else list(patterns)
    return not listed or any(fnmatch.fnmatchcase(str(stream), p) for p in listed)
