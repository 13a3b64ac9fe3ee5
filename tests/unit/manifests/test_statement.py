"""in-toto statements and the strict, canonical JSON under them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from das_evidence.errors import FormatError
from das_evidence.manifests.statement import (
    STATEMENT_TYPE,
    Statement,
    Subject,
    build_statement,
    canonical_json,
    parse_json_strict,
)

SHA = "6c599003ad004a4111a262d221a65d6224e43b0bb7b972032203de9592a328db"
PREDICATE_TYPE = "https://evidence.example.org/entry/v1"


def test_canonical_json_is_sorted_compact_utf8() -> None:
    obj = {"b": [1, True, None], "a": {"z": "café", "y": -3}}
    assert canonical_json(obj) == '{"a":{"y":-3,"z":"café"},"b":[1,true,null]}'.encode()


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        {"a": [1, {"b": 0.5}]},
        float("nan"),
        float("inf"),
        {1: "int key"},
        {"bytes": b"x"},
        {"set": {1, 2}},
        "lone \ud800 surrogate",
    ],
    ids=repr,
)
def test_canonical_json_refuses_non_portable_values(value: Any) -> None:
    with pytest.raises(FormatError):
        canonical_json(value)


def test_parse_json_strict_accepts_plain_json() -> None:
    assert parse_json_strict(b' {"a": [1, "x", null, false]} ') == {"a": [1, "x", None, False]}


@pytest.mark.parametrize(
    ("attack", "data"),
    [
        ("duplicate_key", b'{"a": 1, "a": 2}'),
        ("nested_duplicate_key", b'{"x": [{"a": 1, "b": 2, "a": 1}]}'),
        ("float", b'{"a": 1.5}'),
        ("exponent", b'{"a": 1e3}'),
        ("nan", b'{"a": NaN}'),
        ("infinity", b'{"a": -Infinity}'),
        ("invalid_utf8", b'{"a": "\xff"}'),
        ("lone_surrogate_escape", b'{"a": "\\ud800"}'),
        ("utf8_bom", b'\xef\xbb\xbf{"a": 1}'),
        ("trailing_garbage", b'{"a": 1} x'),
        ("not_json", b"{a: 1}"),
        ("too_deep", b"[" * 100_000 + b"]" * 100_000),
    ],
)
def test_parse_json_strict_rejects(attack: str, data: bytes) -> None:
    with pytest.raises(FormatError):
        parse_json_strict(data)


def _predicate() -> dict[str, Any]:
    return {"log": {"origin": "evidence.example.org/x", "index": 0}, "stream": "s/a/b"}


def test_build_and_parse_round_trip() -> None:
    subjects = [Subject("evidence/a.csv", SHA), Subject("evidence/b.csv", "0" * 64)]
    data = build_statement(subjects, PREDICATE_TYPE, _predicate())
    assert data == canonical_json(json.loads(data))
    st = Statement.from_bytes(data)
    assert st.subjects == tuple(subjects)
    assert st.predicate_type == PREDICATE_TYPE
    assert st.predicate == _predicate()
    assert st.to_bytes() == data
    assert json.loads(data)["_type"] == STATEMENT_TYPE


def _statement(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(
        build_statement([Subject("evidence/a.csv", SHA)], PREDICATE_TYPE, _predicate())
    )
    obj.update(changes)
    return obj


@pytest.mark.parametrize(
    ("attack", "obj"),
    [
        ("wrong_type", _statement(_type="https://in-toto.io/Statement/v0.1")),
        ("unknown_field", _statement(extra=1)),
        ("subject_not_list", _statement(subject={"name": "a", "digest": {"sha256": SHA}})),
        ("subject_empty", _statement(subject=[])),
        (
            "digest_uppercase",
            _statement(subject=[{"name": "a", "digest": {"sha256": SHA.upper()}}]),
        ),
        ("digest_short", _statement(subject=[{"name": "a", "digest": {"sha256": SHA[:-1]}}])),
        ("digest_sha1_only", _statement(subject=[{"name": "a", "digest": {"sha1": "0" * 40}}])),
        ("subject_name_number", _statement(subject=[{"name": 7, "digest": {"sha256": SHA}}])),
        ("subject_name_empty", _statement(subject=[{"name": "", "digest": {"sha256": SHA}}])),
        (
            "subject_duplicated",
            _statement(subject=[{"name": "a", "digest": {"sha256": SHA}}] * 2),
        ),
        ("predicate_type_number", _statement(predicateType=1)),
        ("predicate_not_object", _statement(predicate=[1])),
    ],
)
def test_statement_rejects(attack: str, obj: dict[str, Any]) -> None:
    with pytest.raises(FormatError):
        Statement.from_bytes(json.dumps(obj).encode())


def test_statement_rejects_non_object_and_floats() -> None:
    with pytest.raises(FormatError):
        Statement.from_bytes(b"[]")
    data = json.dumps(_statement(predicate={"rows": 1.0})).encode()
    with pytest.raises(FormatError, match="float"):
        Statement.from_bytes(data)


def test_build_statement_refuses_floats_and_bad_subjects() -> None:
    with pytest.raises(FormatError):
        build_statement([Subject("a", SHA)], PREDICATE_TYPE, {"ratio": 0.5})
    with pytest.raises(FormatError):
        build_statement([], PREDICATE_TYPE, {})
    with pytest.raises(FormatError):
        Subject("a", "xyz")
