"""Requests a browser makes on a cookie: the login-CSRF and cross-site-write guard.

A route that sets a cookie (sign-in, sign-out, attribution capture) or that a cookie
authenticates accepts a state-changing request only when (1) the browser names its page's
origin in `Origin` and that origin is one of the site's allowed origins (settings; a
missing Origin is refused: every current browser sends one on POST, PUT, PATCH and
DELETE), and (2) a request with a body declares `application/json`: a cross-site HTML form
or a no-CORS fetch can send only text/plain, form-urlencoded or multipart without a CORS
preflight, so JSON plus the Origin check closes login CSRF. Reads (GET, HEAD, OPTIONS)
change nothing and pass. One copy of the rule; each site passes its own allowed origins.
"""

from __future__ import annotations

from collections.abc import Iterable

import flask

from shared.engine.errors import AppError, ErrorKind

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def require_own_origin(
    request: flask.Request, allowed_origins: Iterable[str], *, json_body: bool = True
) -> None:
    """FORBIDDEN for a cross-site (or origin-less) write; INVALID for a non-JSON body."""
    if request.method in SAFE_METHODS:
        return
    origin = (request.headers.get("Origin") or "").rstrip("/")
    if not origin or origin not in {o.rstrip("/") for o in allowed_origins}:
        raise AppError(ErrorKind.FORBIDDEN, "Cross-site request refused")
    if json_body and request.method != "DELETE" and request.mimetype != "application/json":
        raise AppError(ErrorKind.INVALID, "Content-Type must be application/json")
