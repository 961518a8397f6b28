"""Boundary validators: the one copy of each rule for values that arrive from a client.

Nothing a client sends reaches Firestore, `int()` or `datetime` unchecked. A value that
becomes a Firestore document id is a `DocId` (non-empty, at most 1,500 UTF-8 bytes, no `/`,
not `.` or `..`, not `__...__`); a value that becomes a map key in a document is a
`FieldKey` (non-empty, at most 1,500 bytes, not `__...__`). Integers from query strings and
paths are ASCII digits only (`int()` takes Unicode digits and `str.isdigit()` takes
superscripts that `int()` then refuses). Timestamps are ISO 8601 whose UTC form lies in years
1..9999. JSON bodies are decoded only after a linear scan proves their nesting depth is
bounded, so no recursive decoder ever sees a hostile document. Each rule raises
`AppError(INVALID)` (or `ValueError` inside a pydantic model, which the doorway renders the
same way) and never changes anything.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from itertools import accumulate
from typing import Annotated, Any

from pydantic import AfterValidator

from shared.engine.errors import AppError, ErrorKind

MAX_ID_BYTES = 1_500  # Firestore's limit on a document id and on a field name
MAX_JSON_DEPTH = 64
# Firestore integers are signed 64-bit; ids and counters never come near it.
MAX_INT = 2**63 - 1

_RESERVED = re.compile(r"__.*__", re.DOTALL)
_ASCII_INT = re.compile(r"-?[0-9]+")
# A JSON string with its escapes (the unrolled-loop form, linear on long strings).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _check_key(value: str, what: str) -> str:
    if not value:
        raise ValueError(f"{what} must not be empty")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        raise ValueError(f"{what} must be at most {MAX_ID_BYTES} bytes")
    if _RESERVED.fullmatch(value):
        raise ValueError(f"{what} must not look like __name__")
    return value


def check_doc_id(value: str) -> str:
    """A string Firestore accepts as a document id; ValueError otherwise."""
    _check_key(value, "id")
    if "/" in value or value in (".", ".."):
        raise ValueError("id must not contain '/' or be '.' or '..'")
    return value


def check_field_key(value: str) -> str:
    """A string Firestore accepts as one map key (one field-path segment)."""
    return _check_key(value, "key")


DocId = Annotated[str, AfterValidator(check_doc_id)]
FieldKey = Annotated[str, AfterValidator(check_field_key)]


def doc_id(raw: str, *, name: str) -> str:
    """A path or query parameter that becomes a document id; 4xx (INVALID) if it cannot."""
    try:
        return check_doc_id(raw)
    except ValueError as exc:
        raise AppError(ErrorKind.INVALID, f"{name}: {exc}") from None


def strict_int(raw: str) -> int | None:
    """ASCII digits with an optional leading minus, within int64; None for anything else."""
    if len(raw) > 20 or not _ASCII_INT.fullmatch(raw):
        return None
    value = int(raw)
    return value if -MAX_INT - 1 <= value <= MAX_INT else None


def query_int(
    raw: str | None, *, name: str, default: int, minimum: int, maximum: int | None = None
) -> int:
    """An integer query parameter: absent -> default; not ASCII digits or below the minimum
    -> INVALID; above the maximum -> the maximum (a page size asks for "as many as you can")."""
    if raw is None:
        return default
    value = strict_int(raw)
    if value is None and len(raw) <= 4_000 and _ASCII_INT.fullmatch(raw):
        # An integer beyond int64 is as far as int64 goes in its direction (then bounded).
        value = -MAX_INT if raw.startswith("-") else MAX_INT
    if value is None or value < minimum:
        raise AppError(ErrorKind.INVALID, f"{name}: must be an integer of at least {minimum}")
    return value if maximum is None else min(value, maximum)


def query_moment(raw: str | None, *, name: str) -> dt.datetime | None:
    """An ISO 8601 date-time (naive means UTC) whose UTC instant lies in years 1..9999."""
    if raw is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        # Normalising can leave the representable range (0001-01-01T00:00+01:00).
        return moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise AppError(
            ErrorKind.INVALID, f"{name}: must be an ISO 8601 date-time in years 1..9999"
        ) from None


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in `text`, by a linear scan outside strings. An
    unterminated string is scanned as if it were not one, which only overcounts."""
    bare = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if not bare:
        return 0
    return max(accumulate(_DEPTH_STEP[c] for c in bare))


def loads_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode a JSON body whose nesting is at most `max_depth`; INVALID otherwise."""
    try:
        text = raw.decode(json.detect_encoding(raw))
    except (UnicodeDecodeError, LookupError):
        raise AppError(ErrorKind.INVALID, "Malformed JSON body") from None
    if text.count("[") + text.count("{") > max_depth and json_depth(text) > max_depth:
        raise AppError(ErrorKind.INVALID, f"JSON body nests deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except ValueError:
        raise AppError(ErrorKind.INVALID, "Malformed JSON body") from None
