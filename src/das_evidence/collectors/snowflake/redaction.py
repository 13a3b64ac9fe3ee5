"""Redact literal values from Snowflake query text before it becomes evidence.

``QUERY_HISTORY.QUERY_TEXT`` is archived as audit evidence, but the text of a
query can carry PHI in its literal values (``WHERE ssn = '123-45-6789'``,
``WHERE mrn IN (100234, 100235)``, ``INSERT ... VALUES ('Jane', ...)``) and in
its comments. :func:`redact_sql` removes both while keeping the shape of the
query (statements, keywords, table and column names) readable for an auditor.
:func:`text_hmac` lets an auditor who holds a key match a redacted row against
a query text they already have, without the archive holding the text.

Placeholder scheme (policy :data:`REDACTION_POLICY`):

* every string literal becomes ``'?'``: single-quoted strings (with ``''`` and
  backslash escapes), ``$$...$$`` dollar-quoted blocks and the quoted part of
  prefixed forms (``X'..'``, ``N'..'``), wherever they stand: casts
  (``'1980-01-02'::DATE``, ``DATE '...'``), ``INTERVAL '3 days'``, JSON paths
  written as strings (``v['ssn']``, ``GET_PATH(v, 'a.b')``), option values
  (``FIELD_DELIMITER = ','``), procedure bodies;
* every numeric literal becomes ``0``: integers, decimals, exponents, ``0x..``,
  and also type sizes (``VARCHAR(0)``), ``LIMIT``/``OFFSET`` and ``ORDER BY``
  ordinals; a sign written before a number is an operator and stays (``-0``);
* kept as written: keywords, ``NULL``/``TRUE``/``FALSE``, identifiers (bare or
  double-quoted, and unquoted JSON path keys such as ``v:patient.name``), stage
  references, bind markers ``?`` and ``:name`` (the digits of ``:1`` are a
  number and become ``0``), and ``$1``-style column positions;
* comments (``-- ...``, ``// ...``, ``/* ... */``, optimizer hints included)
  are dropped.

The number and position of literals survive (``IN (0, 0)``); their values do
not, so an output ``0`` or ``'?'`` carries no information.

How (``RedactionResult.method`` names the engine whose text is returned):

``"none"``
    Fast path: the text has no ``'``, no ``$``, no digit, and no ``--``, ``//``
    or ``/*``. Snowflake SQL without those characters can hold neither a
    literal nor a comment, so the text is returned byte-for-byte.
``"regex"``
    A conservative scanner over the raw text, which keeps its layout. It
    replaces every single-quoted string, ``$$`` block and number token (a digit
    run that does not continue an identifier, with any fraction, exponent and
    trailing identifier characters) by its placeholder and drops comments. An
    unterminated string, ``$$`` block or block comment is redacted to the end
    of the text. It cannot fail. Every text goes through it first.
``"sqlglot"``
    The scanner's output, which holds no literal value and no comment, is then
    tokenized, parsed and regenerated with sqlglot's Snowflake dialect
    (normalized spacing and keyword case, statements joined by ``;`` and a
    newline). Literal tokens are set to the placeholders before parsing and
    comments are not generated, so also any literal form sqlglot knows and the
    scanner did not is replaced. Because sqlglot never sees the original text,
    nothing it builds can hold a value, and its result is a function of the
    literal-free text alone; it is memoized on that (LRU of
    :data:`CACHE_SIZE`), so queries that differ only in their values are parsed
    once. This text is used unless: the scanner met an unterminated string,
    ``$$`` block or comment (the text is not valid SQL); the literal-free text
    is longer than :data:`SQLGLOT_MAX_CHARS`; tokenizing, parsing or
    generating raises; sqlglot logs any warning; a statement fell back to an
    unparsed ``Command``; the output holds something the scanner would still
    change (a string other than ``'?'``, a number other than ``0``, a comment,
    ``$$``); or the body of any literal of 3 or more characters found by the
    scanner in the original text occurs anywhere in the output
    (case-insensitively). In all these cases the scanner's text is returned.

Importing this module adds a filter to the ``sqlglot`` logger. It acts only on
records emitted by the thread that is redacting, during redaction: those are
swallowed (they may quote SQL) and mark the sqlglot result untrusted. Other
records pass unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import threading
from dataclasses import dataclass
from typing import Final, Literal

from sqlglot import Token, TokenType, exp
from sqlglot.dialects.snowflake import Snowflake
from sqlglot.errors import ErrorLevel

__all__ = [
    "NUMBER_PLACEHOLDER",
    "REDACTION_POLICY",
    "STRING_PLACEHOLDER",
    "RedactionMethod",
    "RedactionResult",
    "redact_sql",
    "text_hmac",
]

REDACTION_POLICY: Final = "literals-redacted-v1"
"""Name of the redaction policy, recorded in evidence next to redacted text.

``literals-redacted-v1``: in the recorded query text every string literal
(single-quoted, ``$$``-quoted, hex, national) is replaced by ``'?'`` and every
numeric literal by ``0``, and all comments are removed; keywords,
``NULL``/``TRUE``/``FALSE``, identifiers, bind markers and ``$n`` column
positions are kept. The recorded text is sqlglot's Snowflake regeneration of
the redacted query or, when that regeneration fails any check, the original
layout with the same substitutions. The unredacted text is not recorded; at
most its HMAC-SHA256 under a key held by the evidence owner (:func:`text_hmac`).
"""

STRING_PLACEHOLDER: Final = "'?'"
"""What every string literal becomes."""

NUMBER_PLACEHOLDER: Final = "0"
"""What every numeric literal becomes."""

SQLGLOT_MAX_CHARS: Final = 20_000
"""Longer literal-free texts (bulk ``INSERT ... VALUES``) keep the regex result."""

CACHE_SIZE: Final = 4096
"""Entries in the memo of sqlglot results, keyed on literal-free text."""

_CACHE_MAX_CHARS: Final = 8192
_BACKSTOP_MIN_CHARS: Final = 3

RedactionMethod = Literal["none", "sqlglot", "regex"]


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """Redacted query text, the engine that produced it, and the literal count.

    ``literals`` counts the string and number literals replaced (comments are
    dropped but not counted).
    """

    text: str
    method: RedactionMethod
    literals: int


def text_hmac(key: bytes, text: str) -> str:
    """Return the hex HMAC-SHA256 of the UTF-8 encoding of ``text`` under ``key``.

    Computed over the original, unredacted text, so a key holder can confirm
    that a given query text is the one recorded. Lone surrogates, which UTF-8
    cannot express, are encoded with ``surrogatepass`` rather than rejected.
    An empty key gives no secrecy (anyone could hash candidate texts) and is
    refused with ``ValueError``.
    """
    if not key:
        raise ValueError("text_hmac needs a non-empty key")
    data = text.encode("utf-8", errors="surrogatepass")
    return hmac.new(key, data, hashlib.sha256).hexdigest()


_MAY_HOLD_LITERAL: Final = re.compile(r"['$\d]|--|//|/\*")


def redact_sql(text: str) -> RedactionResult:
    """Replace every literal in Snowflake SQL ``text`` and drop its comments.

    Deterministic and total: any ``str`` gives a result, nothing is raised or
    logged. The placeholder scheme and the engines are described in the module
    docstring.
    """
    if _MAY_HOLD_LITERAL.search(text) is None:
        return RedactionResult(text, "none", 0)
    scan = _scan(text)
    normalized = None if scan.unterminated else _normalize(scan.text)
    if normalized is not None and _bodies_absent(normalized, scan.bodies):
        return RedactionResult(normalized, "sqlglot", scan.literals)
    return RedactionResult(scan.text, "regex", scan.literals)


# --------------------------------------------------------------------------- #
# Regex engine
# --------------------------------------------------------------------------- #

# Alternatives are tried in order at each position; re.sub passes over the
# characters no alternative matches (operators, spaces, a lone double quote).
_SCANNER: Final = re.compile(
    r"""
      (?P<uri>(?i:file)://)                          # PUT/GET file:///path, not a comment
    | (?P<line_comment>(?:--|//)[^\r\n]*+)
    | (?P<block_comment>/\*(?s:.*?)(?:\*/|(?P<open_comment>\Z)))
    | (?P<dollar>\$\$(?P<dollar_body>(?s:.*?))(?:\$\$|(?P<open_dollar>\Z)))
    | (?P<string>'(?P<string_body>(?:[^'\\]++|\\(?s:.)?|'')*+)(?:'|(?P<open_string>\Z)))
    | (?P<quoted_ident>"(?:[^"]++|"")*+")            # kept only when closed
    | (?P<word>[^\W\d][\w$]*+)                       # identifier or keyword
    | (?P<position>\$\d++)                           # $1: column position
    | (?P<number>\d++(?:\.\d*+)?(?:[eE][+-]?\d++)?[\w$]*+)
    """,
    re.VERBOSE,
)


_MAY_BE_OPEN: Final = {
    "string": "open_string",
    "dollar": "open_dollar",
    "block_comment": "open_comment",
}


@dataclass(frozen=True, slots=True)
class _Scan:
    text: str
    literals: int
    bodies: tuple[str, ...]
    unterminated: bool  # a string, $$ block or comment ran to the end of the text


def _scan(text: str) -> _Scan:
    """Regex-redact ``text``; also return the bodies of the literals it replaced."""
    bodies: list[str] = []
    unterminated = False

    def replace(m: re.Match[str]) -> str:
        nonlocal unterminated
        kind = m.lastgroup
        open_group = _MAY_BE_OPEN.get(kind or "")
        if open_group is not None and m.group(open_group) is not None:
            unterminated = True
        if kind == "string":
            bodies.append(m.group("string_body"))
            return STRING_PLACEHOLDER
        if kind == "number":
            bodies.append(m.group())
            return NUMBER_PLACEHOLDER
        if kind == "dollar":
            bodies.append(m.group("dollar_body"))
            return STRING_PLACEHOLDER
        if kind == "line_comment":
            return ""
        if kind == "block_comment":
            return " "
        return m.group()

    redacted = _SCANNER.sub(replace, text)
    return _Scan(redacted, len(bodies), tuple(bodies), unterminated)


def _bodies_absent(output: str, bodies: tuple[str, ...]) -> bool:
    """Whether no literal body of 3+ characters occurs in ``output``, in any case."""
    folded = output.casefold()
    for body in bodies:
        for form in (body, body.replace("''", "'"), body.replace("\\", "")):
            needle = form.strip().casefold()
            if len(needle) >= _BACKSTOP_MIN_CHARS and needle in folded:
                return False
    return True


# --------------------------------------------------------------------------- #
# sqlglot engine (input: the scanner's literal-free text)
# --------------------------------------------------------------------------- #

_DIALECT: Final = Snowflake()
_STRING_TOKENS: Final = frozenset(
    tt for tt in TokenType if tt.name == "STRING" or tt.name.endswith("_STRING")
)
_capture = threading.local()


class _WarningTrap(logging.Filter):
    """Swallow and flag sqlglot log records emitted while this thread redacts.

    sqlglot logs, for instance, statements it could only keep as raw text. A
    warning means the parse cannot be trusted, and a log line must not carry
    query text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_capture, "active", False):
            _capture.warned = True
            return False
        return True


logging.getLogger("sqlglot").addFilter(_WarningTrap())


def _normalize(skeleton: str) -> str | None:
    """sqlglot's Snowflake regeneration of literal-free ``skeleton``, if trustworthy."""
    if len(skeleton) > SQLGLOT_MAX_CHARS:
        return None
    if len(skeleton) > _CACHE_MAX_CHARS:
        return _normalize_uncached(skeleton)
    return _normalize_cached(skeleton)


def _normalize_uncached(skeleton: str) -> str | None:
    _capture.active = True
    _capture.warned = False
    try:
        output = _regenerate(skeleton)
    except Exception:  # any sqlglot failure means: keep the regex result
        return None
    finally:
        _capture.active = False
    if output is None or _capture.warned:
        return None
    if _scan(output).text != output:  # a value, comment or $$ the scanner would change
        return None
    return output


_normalize_cached = functools.lru_cache(maxsize=CACHE_SIZE)(_normalize_uncached)


def _regenerate(sql: str) -> str | None:
    tokens = _DIALECT.tokenize(sql)
    _placeholder_tokens(tokens)
    statements = _DIALECT.parser(error_level=ErrorLevel.IMMEDIATE).parse(tokens, sql)
    generator = _DIALECT.generator(comments=False, unsupported_level=ErrorLevel.RAISE)
    parts: list[str] = []
    for statement in statements:
        if statement is None:
            continue
        if isinstance(statement, exp.Command) or statement.find(exp.Command) is not None:
            return None
        parts.append(generator.generate(statement, copy=False))
    return ";\n".join(parts)


def _placeholder_tokens(tokens: list[Token]) -> None:
    """Set every literal token to its placeholder and drop token comments."""
    previous: Token | None = None
    for token in tokens:
        token.comments = []
        if token.token_type in _STRING_TOKENS:
            token.token_type = TokenType.STRING
            token.text = "?"
        elif token.token_type == TokenType.NUMBER and not _is_position(previous, token):
            token.text = NUMBER_PLACEHOLDER
        previous = token


def _is_position(previous: Token | None, token: Token) -> bool:
    """``$1``-style column position: a ``$`` parameter glued to a number."""
    return (
        previous is not None
        and previous.token_type == TokenType.PARAMETER
        and previous.text == "$"
        and previous.end + 1 == token.start
    )
