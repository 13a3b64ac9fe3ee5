"""``parse_json_strict`` accepts and refuses exactly what the walk-every-value version did.

The parser skips its walk over the parsed value (which can only find a lone surrogate)
when the text escapes no surrogate. These property tests compare it with the version
that always walked, kept here as the reference, on generated JSON (with surrogate
escapes, duplicate keys, floats, deep nesting) and on byte-level mutations of it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from das_evidence.errors import FormatError
from das_evidence.manifests.jsonlimits import MAX_JSON_DEPTH, json_depth_exceeded
from das_evidence.manifests.statement import _check_canonical, _no_floats, parse_json_strict


def _no_duplicates_reference(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for k, v in pairs:
        if k in obj:
            raise FormatError(f"JSON object has the key {k!r} twice")
        obj[k] = v
    return obj


def parse_reference(data: bytes) -> Any:
    """``parse_json_strict`` as of 4fbf5e7: every parsed value walked."""
    deep = json_depth_exceeded(data)
    if deep is not None:
        raise FormatError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels (byte {deep})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"JSON is not valid UTF-8 (byte {e.start})") from e
    try:
        obj = json.loads(
            text,
            object_pairs_hook=_no_duplicates_reference,
            parse_float=_no_floats,
            parse_constant=_no_floats,
        )
    except FormatError:
        raise
    except RecursionError as e:
        raise FormatError("JSON is nested too deeply") from e
    except ValueError as e:
        raise FormatError(f"not valid JSON: {e}") from e
    _check_canonical(obj, "$")
    return obj


def _outcome(parse: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "ok", parse(data)
    except FormatError as e:
        return "refused", e.message


def assert_same(data: bytes) -> None:
    new, old = _outcome(parse_json_strict, data), _outcome(parse_reference, data)
    assert new == old, data
    if new[0] == "ok":  # same value, same types (True is not 1)
        assert json.dumps(new[1], sort_keys=True) == json.dumps(old[1], sort_keys=True)


# Strings rich in what matters here: surrogates (lone and paired), escapes, non-ASCII.
_chars = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff", "\U0001f600", "\\", '"', "\x00"]),
)
_text = st.text(_chars, max_size=12)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(st.tuples(_text, inner), max_size=4),  # pairs: duplicate keys possible
    ),
    max_leaves=20,
)


def _dump(value: Any, ascii_only: bool, spaced: bool) -> str:
    """JSON text of ``value``; a list of pairs becomes an object (keys may repeat)."""
    sep = ", " if spaced else ","
    if isinstance(value, list) and value and all(isinstance(p, tuple) for p in value):
        items = (
            f"{json.dumps(k, ensure_ascii=ascii_only)}:{_dump(v, ascii_only, spaced)}"
            for k, v in value
        )
        return "{" + sep.join(items) + "}"
    if isinstance(value, list):
        return "[" + sep.join(_dump(v, ascii_only, spaced) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def _encode(text: str) -> bytes:
    # A lone surrogate written raw (not escaped) cannot be UTF-8: write its bytes anyway,
    # as a hostile file would.
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=600, deadline=None)
@given(_values, st.booleans(), st.booleans())
def test_same_outcome_on_generated_json(value: Any, ascii_only: bool, spaced: bool) -> None:
    assert_same(_encode(_dump(value, ascii_only, spaced)))


@settings(max_examples=600, deadline=None)
@given(
    _values,
    st.booleans(),
    st.lists(
        st.tuples(st.integers(min_value=0), st.sampled_from(["set", "insert", "delete"])),
        min_size=1,
        max_size=4,
    ),
    st.binary(min_size=1, max_size=4)
    | st.sampled_from([b"\\ud800", b"\\uDC00", b"\\u", b"\\", b'"', b"{", b"}", b"[", b"]"]),
)
def test_same_outcome_on_mutated_json(
    value: Any, ascii_only: bool, edits: list[tuple[int, str]], piece: bytes
) -> None:
    data = bytearray(_encode(_dump(value, ascii_only, False)))
    for at, how in edits:
        i = at % (len(data) + 1)
        if how == "insert":
            data[i:i] = piece
        elif how == "set":
            data[i : i + len(piece)] = piece
        else:
            del data[i : i + len(piece)]
    assert_same(bytes(data))


def test_nested_lone_surrogate_is_refused_with_its_path() -> None:
    data = b'{"a": [1, {"b\\u00e9": "x\\udc00"}]}'
    assert _outcome(parse_json_strict, data) == _outcome(parse_reference, data)
    assert _outcome(parse_json_strict, data)[0] == "refused"


def test_surrogate_pair_escape_is_accepted() -> None:
    assert parse_json_strict(b'["\\ud83d\\ude00"]') == ["\U0001f600"]


def test_escaped_backslash_before_u_is_not_a_surrogate() -> None:
    assert parse_json_strict(b'["\\\\ud800"]') == ["\\ud800"]


@pytest.mark.parametrize("code", [f"{d}{x}00" for d in "dD" for x in "89abcdefABCDEF"])
def test_every_lone_surrogate_escape_is_refused(code: str) -> None:
    data = b'{"k": ["\\u' + code.encode() + b'"]}'
    assert _outcome(parse_json_strict, data) == _outcome(parse_reference, data)
    assert _outcome(parse_json_strict, data)[0] == "refused"
