"""Strict decoders shared by the text formats of the integrity layer.

Every format here (signed notes, checkpoints, tlog proofs, DSSE envelopes) uses
RFC 4648 section 4 base64. Python's decoder silently ignores junk and accepts
non-canonical padding bits, so one set of bytes could be written many ways;
these helpers accept exactly one spelling and raise ``FormatError`` otherwise.
"""

from __future__ import annotations

import base64
import binascii
import re

from das_evidence.errors import FormatError

_STD_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}", re.ASCII)
_ANY_B64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}", re.ASCII)


def b64encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 section 4)."""
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str, what: str) -> bytes:
    """Decode canonical standard base64 with padding, or raise ``FormatError``.

    ``what`` names the field in the error message.
    """
    if not _STD_B64.fullmatch(text) or len(text) % 4 != 0:
        raise FormatError(f"{what} is not standard base64 with padding: {_show(text)}")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise FormatError(f"{what} is not valid base64: {_show(text)}") from e
    if base64.b64encode(data).decode("ascii") != text:
        raise FormatError(f"{what} is not canonical base64 (stray bits in padding)")
    return data


def b64decode_any_alphabet(text: str, what: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not (DSSE ``sig`` field).

    The DSSE protocol lets signers pick either alphabet, and the archive format
    requires verifiers to accept both. The two alphabets must not be mixed.
    """
    if not _ANY_B64.fullmatch(text):
        raise FormatError(f"{what} is not base64: {_show(text)}")
    if ("+" in text or "/" in text) and ("-" in text or "_" in text):
        raise FormatError(f"{what} mixes the standard and URL-safe base64 alphabets")
    body = text.rstrip("=")
    if len(body) % 4 == 1 or (text != body and len(text) % 4 != 0):
        raise FormatError(f"{what} has a wrong base64 length or padding")
    std = body.replace("-", "+").replace("_", "/")
    std += "=" * (-len(std) % 4)
    return b64decode_strict(std, what)


def check_no_controls(text: str, what: str) -> None:
    """Signed notes forbid ASCII control characters (below U+0020) other than newline."""
    for ch in text:
        if ch < " " and ch != "\n":
            raise FormatError(f"{what} contains the control character {ch!r}")


def check_key_name(name: str) -> None:
    """A C2SP signed-note key name: non-empty, no Unicode spaces, no ``+``."""
    if not name:
        raise FormatError("note key name is empty")
    if "+" in name or any(ch.isspace() for ch in name):
        raise FormatError(f"note key name {name!r} contains a space or '+'")
    check_no_controls(name, f"note key name {name!r}")


def _show(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
