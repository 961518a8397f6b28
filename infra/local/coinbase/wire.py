"""What every answer of the local Coinbase Commerce server shares: the error envelope
``{"error": {"type", "message"}}`` with its status code, and second-precision UTC timestamps
(``2024-01-01T00:00:00Z``). A handler raises `CommerceError` before changing anything, so a
request that fails leaves the store as it was.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


class CommerceError(Exception):
    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.type, "message": self.message}}


def invalid(message: str) -> CommerceError:
    return CommerceError(400, "invalid_request", message)


def not_found() -> CommerceError:
    return CommerceError(404, "not_found", "Not found")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
