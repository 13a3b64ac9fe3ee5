"""in-toto Statement v1 and the strict JSON both statements and envelopes use.

A statement names evidence files (``subject``: store key and SHA-256) and says
what they are (``predicateType``, ``predicate``). Statement bytes are written
once as canonical JSON (sorted keys, no whitespace, UTF-8, no floats) and from
then on only the stored bytes are hashed and signed, never re-serialized ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from das_evidence.errors import FormatError
from das_evidence.manifests.jsonlimits import MAX_JSON_DEPTH, json_depth_exceeded

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"

_SHA256_HEX = re.compile(r"[0-9a-f]{64}", re.ASCII)
#: A ``\u`` escape of a UTF-16 surrogate (U+D800 to U+DFFF). Strict UTF-8 decoding refuses
#: encoded surrogates, so a parsed string can hold a lone one only where the text has this.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, ``,``/``:`` separators, UTF-8 without escapes; floats refused.

    Only dicts with string keys, lists, tuples, strings, ints, booleans and
    ``None`` are accepted, so the bytes are the same in every JSON implementation.
    """
    _check_canonical(obj, "$")
    try:
        text = json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError) as e:
        raise FormatError(f"value cannot be written as canonical JSON: {e}") from e


def _check_canonical(obj: Any, where: str) -> None:
    if obj is None or isinstance(obj, bool | int):
        return
    if isinstance(obj, str):
        _check_string(obj, where)
    elif isinstance(obj, float):
        raise FormatError(f"JSON at {where} is a float ({obj!r}); use an integer or a string")
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise FormatError(f"JSON object key {k!r} at {where} is not a string")
            _check_string(k, where)
            _check_canonical(v, f"{where}.{k}")
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _check_canonical(v, f"{where}[{i}]")
    else:
        raise FormatError(f"JSON at {where} is a {type(obj).__name__}, not a JSON value")


def _check_string(s: str, where: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise FormatError(f"JSON string at {where} is not valid Unicode (lone surrogate)") from e


def _no_floats(text: str) -> NoReturn:
    raise FormatError(f"JSON contains the number {text[:40]}; floats are not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise FormatError(f"JSON object has the key {k!r} twice")
            seen.add(k)
    return obj


def parse_json_strict(data: bytes) -> Any:
    """Parse UTF-8 JSON, refusing duplicate keys, floats, NaN/Infinity, lone surrogates and
    nesting deeper than ``MAX_JSON_DEPTH`` (checked before parsing)."""
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
            object_pairs_hook=_no_duplicates,
            parse_float=_no_floats,
            parse_constant=_no_floats,
        )
    except FormatError:
        raise
    except RecursionError as e:
        raise FormatError("JSON is nested too deeply") from e
    except ValueError as e:
        raise FormatError(f"not valid JSON: {e}") from e
    # What json.loads returns is dicts with string keys, lists, strings, ints, booleans
    # and None (floats and constants were refused above), so the walk can only find a lone
    # surrogate, and there is none unless the text escapes one: most documents skip it.
    if _SURROGATE_ESCAPE.search(data):
        _check_canonical(obj, "$")
    return obj


@dataclass(frozen=True)
class Subject:
    """One evidence file: its store key and the lowercase hex SHA-256 of its bytes."""

    name: str
    sha256: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise FormatError("statement subject name must be a non-empty string")
        if not isinstance(self.sha256, str) or not _SHA256_HEX.fullmatch(self.sha256):
            raise FormatError(
                f"statement subject {self.name!r}: digest.sha256 must be 64 lowercase hex digits"
            )

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "digest": {"sha256": self.sha256}}


def build_statement(
    subjects: Sequence[Subject], predicate_type: str, predicate: Mapping[str, Any]
) -> bytes:
    """Canonical JSON bytes of an in-toto Statement v1."""
    _check_statement_parts(subjects, predicate_type)
    return canonical_json(
        {
            "_type": STATEMENT_TYPE,
            "subject": [s.to_json() for s in subjects],
            "predicateType": predicate_type,
            "predicate": dict(predicate),
        }
    )


def _check_statement_parts(subjects: Sequence[Subject], predicate_type: str) -> None:
    if not subjects:
        raise FormatError("statement has no subject; every entry names at least one file")
    names = [s.name for s in subjects]
    if len(set(names)) != len(names):
        raise FormatError("statement names the same subject twice")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise FormatError("statement predicateType must be a non-empty string")


@dataclass(frozen=True)
class Statement:
    """A parsed in-toto Statement v1. ``predicate`` is the raw JSON object."""

    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: dict[str, Any]

    def to_bytes(self) -> bytes:
        return build_statement(self.subjects, self.predicate_type, self.predicate)

    @classmethod
    def from_bytes(cls, data: bytes) -> Statement:
        """Parse and validate statement bytes (a decoded DSSE payload)."""
        return cls._from_json(parse_json_strict(data))

    @classmethod
    def from_verified_bytes(cls, data: bytes) -> Statement:
        """Parse statement bytes that passed :meth:`from_bytes` before and are bound to a
        signed checkpoint by their leaf hash (the run's verified log): the same shape
        checks, without the strict JSON pass (duplicate keys, floats, canonical strings),
        which those exact bytes already passed. Many times faster; never for bytes read
        from a store or a pack."""
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError) as e:
            raise FormatError(f"not valid JSON: {e}") from e
        return cls._from_json(obj)

    @classmethod
    def _from_json(cls, obj: Any) -> Statement:
        if not isinstance(obj, dict):
            raise FormatError("statement is not a JSON object")
        expected = {"_type", "subject", "predicateType", "predicate"}
        if set(obj) != expected:
            missing = sorted(expected - set(obj))
            extra = sorted(set(obj) - expected)
            raise FormatError(f"statement fields: missing {missing}, unexpected {extra}")
        if obj["_type"] != STATEMENT_TYPE:
            raise FormatError(f"statement _type is {obj['_type']!r}, expected {STATEMENT_TYPE}")
        raw_subjects = obj["subject"]
        if not isinstance(raw_subjects, list):
            raise FormatError("statement subject is not a list")
        subjects = tuple(_parse_subject(s, i) for i, s in enumerate(raw_subjects))
        predicate_type = obj["predicateType"]
        if not isinstance(predicate_type, str):
            raise FormatError("statement predicateType is not a string")
        _check_statement_parts(subjects, predicate_type)
        predicate = obj["predicate"]
        if not isinstance(predicate, dict):
            raise FormatError("statement predicate is not a JSON object")
        return cls(subjects, predicate_type, predicate)


def _parse_subject(raw: Any, i: int) -> Subject:
    if not isinstance(raw, dict) or set(raw) != {"name", "digest"}:
        raise FormatError(f"statement subject {i} must be an object with only name and digest")
    digest = raw["digest"]
    if not isinstance(digest, dict) or set(digest) != {"sha256"}:
        raise FormatError(f"statement subject {i}: digest must be an object with only sha256")
    name, sha256 = raw["name"], digest["sha256"]
    if not isinstance(name, str) or not isinstance(sha256, str):
        raise FormatError(f"statement subject {i}: name and digest.sha256 must be strings")
    return Subject(name, sha256)
