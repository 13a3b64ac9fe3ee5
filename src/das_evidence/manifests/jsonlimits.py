"""Depth limits for JSON from outside: checked before parsing, so nothing recurses deeply.

Python's ``json`` module and every walk over what it returns recurse once per
level of nesting; a file nested 200,000 levels deep is a few hundred KB and
ends in a ``RecursionError``. :func:`json_depth_exceeded` finds the first
bracket past a depth limit with a scan that skips strings, and is cheap when a
document has fewer brackets than the limit. Callers raise their own error
(a :class:`FormatError` for archive bytes, an ``ArtifactError`` for dbt).
"""

from __future__ import annotations

import re

#: Deeper than any archive entry, pack.json or dbt artifact (dbt nests about 10 levels).
MAX_JSON_DEPTH = 256

_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def json_depth_exceeded(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> int | None:
    """The byte offset of the first ``[`` or ``{`` nested deeper than ``max_depth``
    (outside strings), or ``None``. Unbalanced brackets are left to the parser."""
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return None
    depth = 0
    for m in _TOKENS.finditer(data):
        c = data[m.start()]
        if c == 0x5B or c == 0x7B:  # [ {
            depth += 1
            if depth > max_depth:
                return m.start()
        elif c == 0x5D or c == 0x7D:  # ] }
            depth -= 1
    return None
