"""Every error the product raises, in one module.

Each error carries its own human message (what went wrong) and, where there
is one, its fix, so the CLI has a single error boundary that prints them and
picks the exit code. Vendor exceptions are wrapped where they enter
(``raise StoreError(...) from e``) so that no connector, botocore or pyarrow
type escapes a module boundary.

One root, :class:`EvidenceError`, is never raised itself; every error belongs
to one subsystem base, whose ``exit_code`` follows the CLI contract:

====  ===========================================================  ==========================
exit  meaning                                                      bases
====  ===========================================================  ==========================
0     ok
1     evidence failed a check                                      :class:`VerificationError`
2     usage or configuration error                                 :class:`ConfigError`
3     could not reach or read the evidence, a source or a signer   :class:`CollectorError`,
                                                                   :class:`StoreError`,
                                                                   :class:`SignerError`,
                                                                   :class:`ReportError`
4     internal error: a bug in das-evidence                        :class:`InternalError`
====  ===========================================================  ==========================

A few subclasses take another code where their meaning is another one: a
write-once key holding other bytes (:class:`PutOnceError`) and a period the
archive does not cover (:class:`GapError`) are failed checks (1); a bad key
file or KMS key (:class:`KeyFileError`, :class:`KmsKeyError`) is configuration
(2). An interrupted command exits 130.
"""

from __future__ import annotations


class EvidenceError(Exception):
    """Root of all product errors; raise a subsystem error, never this one."""

    exit_code = 3

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message}\n  fix: {self.fix}"
        return self.message


# -- configuration and usage: exit 2 -------------------------------------------------


class ConfigError(EvidenceError):
    """Configuration or usage is wrong: exit 2."""

    exit_code = 2


class ConfigKeyError(ConfigError, ValueError):
    """A value is wrong at ``key`` below the table a config validator checks.

    A ValueError, so a pydantic validator can raise it; the error report names
    ``<table>.<key>`` and where the value came from.
    """

    def __init__(
        self, message: str, *, key: tuple[str | int, ...] = (), fix: str | None = None
    ) -> None:
        super().__init__(message, fix=fix)
        self.key = key


class QueryError(ConfigError):
    """SQL that the engine refuses, or that names a view the archive does not have: exit 2."""


class NothingSelectedError(ConfigError):
    """A selection that selects nothing: exit 2, in every command.

    The one rule: when the streams (``--only``, ``--schedule``) and the period
    (``--from``/``--to``) given to ``collect``, ``run``, ``pack``, ``report`` or
    ``status`` select nothing to collect or show, the command names the
    selection and how to see what there is, writes nothing, and exits 2 like
    any other usage error. A period the archive covers only in part is not
    empty: its missing windows are gaps (``pack`` exits 1 unless
    ``--allow-gaps``; ``report`` lists them).
    """


class WebhookError(ConfigError, ValueError):
    """A webhook that cannot be used as configured.

    Also a ValueError, so that a pydantic validator in the config can raise it
    (pydantic turns ValueErrors into validation errors); ``send_alerts`` never
    lets it out.
    """


# -- collectors: exit 3 --------------------------------------------------------------


class CollectorError(EvidenceError):
    """A source could not be read or returned something unexpected: exit 3."""

    exit_code = 3


class SchemaMismatchError(CollectorError):
    """A source view lacks a column the collector pins, or has an incompatible type."""


class ArtifactError(CollectorError):
    """A dbt target or artifact that cannot be archived as evidence; nothing was written."""


class SourceConnectError(CollectorError):
    """A source could not be reached, or refused the login: exit 3.

    ``reason`` is the diagnosis, one of :data:`CONNECT_REASONS`: ``refused``
    (nothing accepts connections on the port), ``DNS`` (the name does not
    resolve), ``TLS`` (the handshake or the certificate failed), ``timeout`` (no
    answer in time: a firewall that drops packets, a wrong PrivateLink endpoint),
    ``authentication`` (wrong credentials, or the role is not granted) or
    ``other``. The message contains the reason's word, and no configured secret.
    """

    def __init__(self, message: str, *, reason: str = "other", fix: str | None = None) -> None:
        if reason not in CONNECT_REASONS:
            raise ValueError(f"unknown connect failure reason {reason!r}")
        super().__init__(message, fix=fix)
        self.reason = reason


#: The diagnoses of a :class:`SourceConnectError`.
CONNECT_REASONS = ("refused", "DNS", "TLS", "timeout", "authentication", "other")


# -- evidence store: exit 3 ----------------------------------------------------------


class StoreError(EvidenceError):
    """The evidence store could not be reached, read or written: exit 3."""

    exit_code = 3


class PutOnceError(StoreError):
    """A write-once key already holds different bytes: exit 1."""

    exit_code = 1


class NotRegularFileError(StoreError):
    """A key of an archive directory is a symlink, FIFO, device or socket, not a file: exit 1.

    Nothing is opened through it: following it could hang (a FIFO) or never end
    (``/dev/zero``).
    """

    exit_code = 1


class CheckpointConflict(StoreError):
    """Another writer replaced the checkpoint first."""


class LogRaceError(StoreError):
    """Another writer took the next log index first; reload and plan again."""


# -- signing: exit 3, or 2 for a key that is configured wrong ------------------------


class SignerError(EvidenceError):
    """Signing failed: the signer could not be reached or answered something unusable."""

    exit_code = 3


class KeyFileError(SignerError, ConfigError):
    """A key file is missing, unreadable or of the wrong kind: exit 2."""

    exit_code = 2


class KmsKeyError(SignerError, ConfigError):
    """A KMS key reference, the key itself or its permissions are wrong: exit 2."""

    exit_code = 2


class KmsError(SignerError):
    """KMS could not be reached, failed, or answered something unusable: exit 3."""


# -- verification: exit 1 ------------------------------------------------------------


class VerificationError(EvidenceError):
    """Evidence failed a check: exit 1."""

    exit_code = 1


class FormatError(VerificationError):
    """Bytes that should be in the archive format are not (malformed JSON, note, proof)."""


class SignatureError(FormatError):
    """A signature is missing, malformed or does not verify."""


class ProofError(FormatError):
    """A Merkle inclusion or consistency proof does not verify."""


class WitnessRefusedError(VerificationError):
    """A witness holds a checkpoint the log does not extend (rolled back or forked)."""


# -- reports and packs: exit 3 -------------------------------------------------------


class ReportError(EvidenceError):
    """A report or pack could not be built from the archive: exit 3."""

    exit_code = 3


class GapError(ReportError):
    """The archive does not cover the requested period for every stream: exit 1."""

    exit_code = 1


# -- bugs: exit 4 --------------------------------------------------------------------


class InternalError(EvidenceError):
    """An unexpected exception: a bug in das-evidence, exit 4."""

    exit_code = 4

    @classmethod
    def from_exception(cls, e: BaseException, *, traceback_shown: bool = False) -> InternalError:
        """One line naming ``e`` as a bug, and how to report it."""
        detail = " ".join(str(e).split())
        if len(detail) > 300:
            detail = detail[:297] + "..."
        what = f"{type(e).__name__}: {detail}" if detail else type(e).__name__
        how = (
            "report it with the traceback above"
            if traceback_shown
            else "rerun with --verbose for the traceback and report it"
        )
        return cls(f"internal error: {what} — this is a bug; {how}")


#: The subsystem bases: every error above derives from at least one of them.
SUBSYSTEMS: tuple[type[EvidenceError], ...] = (
    ConfigError,
    CollectorError,
    StoreError,
    SignerError,
    VerificationError,
    ReportError,
    InternalError,
)

#: Exit codes of the CLI contract, as ``evidence --help`` and docs/OPERATIONS.md list them.
EXIT_CODES: dict[int, str] = {
    0: "ok",
    1: "evidence failed a check",
    2: "usage or configuration error",
    3: "a source, the evidence store or the signer could not be reached or read",
    4: "internal error (a bug; rerun with --verbose and report it)",
    130: "interrupted",
}


def describe_exit_codes() -> str:
    """The exit codes as one line each, for help texts."""
    return "\n".join(f"{code}  {meaning}" for code, meaning in EXIT_CODES.items())
