"""Tarsify's coded errors: an AppError that names the document's `ERR_xxxx` code.

Services raise `coded(kind, "ERR_5503", "Slug already exists")`; the site's error table
(functions/market/site.py) renders the code with the status the document tables for it.
"""

from __future__ import annotations

from typing import Any

from shared.engine.errors import AppError, ErrorKind


def coded(kind: ErrorKind, code: str, message: str, **details: Any) -> AppError:
    return AppError(kind, message, {"code": code, **details})
