"""One error type for the whole domain.

Services raise `AppError(kind, message, details)`; each site renders a kind with its own
documented status code and envelope in one table. Kinds are defined once, here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    INVALID = "invalid"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    GONE = "gone"  # a retired route or resource
    TOO_LARGE = "too_large"  # a request body over the size limit
    INSUFFICIENT_FUNDS = "insufficient_funds"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class AppError(Exception):
    def __init__(self, kind: ErrorKind, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details or {}

    def __repr__(self) -> str:
        return f"AppError({self.kind!s}, {self.message!r}, {self.details!r})"
