"""Tarsify's OpenAPI document as Relay serves it: GET /openapi.yaml (public).

firebase.json also sends every `/api/**` path no other market function serves here, so an
unknown path answers ERR_3001 in Tarsify's envelope (with its rate-limit headers).

The document is docs/api/market.openapi.yaml, served byte for byte as `application/yaml`;
it is read once per process on first request (nothing at import time) and counts against
the caller's public rate limit like every other public route.
"""

from __future__ import annotations

import functools
from pathlib import Path

import flask
import functions_framework

from functions.market.site import market_entry, public

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "api" / "market.openapi.yaml"


@functools.cache
def _document() -> bytes:
    return DOCUMENT.read_bytes()


def get_document(request: flask.Request) -> flask.Response:
    public(request)
    return flask.Response(_document(), status=200, mimetype="application/yaml")


_handle = market_entry([("GET", "/openapi.yaml", get_document)])


@functions_framework.http
def market_docs(request: flask.Request) -> flask.Response:
    return _handle(request)
