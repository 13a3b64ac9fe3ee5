"""Every error the product raises, in one module.

Each error carries its own human message (what went wrong and how to fix it),
so the CLI has a single error boundary that prints it and picks the exit code.
Vendor exceptions are wrapped where they enter (``raise StoreError(...) from e``)
so that no connector or botocore type escapes a module boundary.
"""

from __future__ import annotations


class EvidenceError(Exception):
    """Root of all product errors. ``exit_code`` follows the CLI contract."""

    exit_code = 3

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message}\n  fix: {self.fix}"
        return self.message


class ConfigError(EvidenceError):
    """Configuration or usage is wrong: exit 2."""

    exit_code = 2


class KeyFileError(ConfigError):
    """A key file is missing, unreadable or of the wrong kind."""


class StoreError(EvidenceError):
    """The evidence store could not be reached or read: exit 3."""

    exit_code = 3


class PutOnceError(StoreError):
    """A write-once key already holds different bytes."""

    exit_code = 1


class CollectorError(EvidenceError):
    """A source could not be read or returned something unexpected: exit 3."""

    exit_code = 3


class SchemaMismatchError(CollectorError):
    """A source view lacks a column the collector pins, or has an incompatible type."""


class FormatError(EvidenceError):
    """Bytes that should be in the archive format are not (malformed JSON, note, proof)."""

    exit_code = 1


class SignatureError(FormatError):
    """A signature is missing, malformed or does not verify."""


class ProofError(FormatError):
    """A Merkle inclusion or consistency proof does not verify."""


class VerificationError(EvidenceError):
    """Evidence failed a check: exit 1."""

    exit_code = 1
