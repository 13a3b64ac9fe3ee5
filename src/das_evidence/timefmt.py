"""Time as the archive writes it: RFC 3339 UTC with a ``Z``, and the compact key form.

A leaf module: every layer (manifests, collectors, reports, schedules) formats
and parses times through these three functions and nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def rfc3339(t: datetime) -> str:
    """RFC 3339 UTC with a ``Z``, whole seconds unless the time has a fraction."""
    t = t.astimezone(UTC)
    if t.microsecond:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def compact(t: datetime) -> str:
    """The compact UTC form used inside store keys: ``20261126T000000Z``."""
    return t.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_rfc3339(s: str) -> datetime:
    """An RFC 3339 time (``Z`` or an offset) as an aware UTC datetime."""
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


def parse_signed(value: object) -> datetime | None:
    """A time as the archive writes it (RFC 3339 UTC ending in ``Z``), read from untrusted
    input: None for anything else, never an exception."""
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        t = datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return None
    return t.astimezone(UTC)


def format_duration(value: timedelta) -> str:
    """A duration as ``evidence.toml`` spells it, in the largest exact unit: ``10m``, ``26h``,
    ``2d``, ``90s``. The config reads it back; reports print it."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
