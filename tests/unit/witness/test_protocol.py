"""The add-checkpoint request body of c2sp.org/tlog-witness."""

from __future__ import annotations

import pytest

from das_evidence.errors import FormatError
from das_evidence.witness.protocol import AddCheckpoint, encode_size, parse_size

NOTE = b"log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 log AAAAAAAA\n"


def test_request_round_trip_and_layout() -> None:
    req = AddCheckpoint(5, (b"\x01" * 32, b"\x02" * 32), NOTE)
    body = req.to_bytes()
    assert body.startswith(b"old 5\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n")
    assert body.split(b"\n\n", 1)[1] == NOTE
    assert AddCheckpoint.from_bytes(body) == req
    assert AddCheckpoint.from_bytes(b"old 0\n\n" + NOTE) == AddCheckpoint(0, (), NOTE)


@pytest.mark.parametrize(
    "body",
    [
        b"old 01\n\n" + NOTE,
        b"old -1\n\n" + NOTE,
        b"new 1\n\n" + NOTE,
        b"old 1\nAAAA\n\n" + NOTE,
        b"old 1\n" + NOTE.replace(b"\n\n", b"\n"),
    ],
)
def test_malformed_requests_are_refused(body: bytes) -> None:
    with pytest.raises(FormatError):
        AddCheckpoint.from_bytes(body)


def test_size_answer() -> None:
    assert parse_size(encode_size(12)) == 12
    with pytest.raises(FormatError):
        parse_size(b"twelve\n")
