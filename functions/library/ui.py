"""Model Manager's web UI: the pages at /, the session sign-in, its static files and the
library pictures the pages show.

- Pages (/, /models/<id>) are static HTML shells; their scripts read everything through the
  JSON API with the session cookie, and build the DOM with textContent only (names, notes,
  tags and descriptions come from files and users). A page without a valid session
  redirects to /signin. Every page carries a CSP that allows this origin's scripts only.
- POST /session trades the library key (form or JSON `{key}`) for an HttpOnly, SameSite=
  Strict cookie; a sign-in or sign-out from another site's page is refused.
- Scripts and styles are served at /assets/<name> (not /static: Flask, under
  functions-framework, claims /static/* for itself and answers 404 there).
- /files/<object> serves pictures only (shared/library/served_files.py), never model files.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from urllib.parse import quote

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict, Field

from functions.http import entry_point
from functions.library import site
from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.library import served_files, sessions

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
STATIC_NAME = re.compile(r"[a-z0-9_-]{1,40}\.(?:js|css)")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=256)


@functools.cache
def _asset(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def _page(name: str) -> flask.Response:
    response = flask.Response(_asset(name), mimetype="text/html")
    response.headers.update(
        {
            "Cache-Control": "no-store",
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        }
    )
    return response


def _signed_in_page(request: flask.Request, name: str) -> flask.Response:
    try:
        site.ui_caller(request)
    except AppError as exc:
        if exc.kind is not ErrorKind.UNAUTHENTICATED:
            raise
        here = request.full_path.rstrip("?")
        return _see_other(f"/signin?next={quote(here, safe='')}")
    return _page(name)


def _see_other(location: str) -> flask.Response:
    return flask.Response(status=303, headers={"Location": location})


def _local_path(raw: str | None) -> str:
    """Where a sign-in returns to: a path on this site, never another origin."""
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/"


def browse(request: flask.Request) -> flask.Response:
    return _signed_in_page(request, "browse.html")


def model_page(request: flask.Request, raw_id: str) -> flask.Response:
    site.model_id(raw_id)
    return _signed_in_page(request, "model.html")


def signin_page(request: flask.Request) -> flask.Response:
    return _page("signin.html")


def sign_in(request: flask.Request) -> flask.Response:
    site.same_site(request)
    form = request.mimetype in FORM_TYPES
    raw = request.form.get("key", "") if form else site.body(request, SignIn).key
    try:
        token, expires_at = sessions.open_session(raw)
    except AppError as exc:
        if form and exc.kind is ErrorKind.UNAUTHENTICATED:
            return _see_other("/signin?failed=1")
        raise
    if form:
        response = _see_other(_local_path(request.form.get("next")))
    else:
        response = site.ok({"signedIn": True, "expiresAt": expires_at.isoformat()})
    response.set_cookie(
        sessions.COOKIE,
        token,
        max_age=max(0, int((expires_at - clock.now()).total_seconds())),
        path="/",
        secure=_https(request),
        httponly=True,
        samesite="Strict",
    )
    return response


def sign_out(request: flask.Request) -> flask.Response:
    site.same_site(request)
    sessions.close(site.session_token(request))
    if request.mimetype in FORM_TYPES:
        response = _see_other("/signin")
    else:
        response = site.ok({"signedIn": False})
    response.delete_cookie(
        sessions.COOKIE, path="/", secure=_https(request), httponly=True, samesite="Strict"
    )
    return response


def _https(request: flask.Request) -> bool:
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.is_secure or forwarded == "https"


def static_file(request: flask.Request, name: str) -> flask.Response:
    if not STATIC_NAME.fullmatch(name) or not (STATIC / name).is_file():
        raise AppError(ErrorKind.NOT_FOUND, "Not found")
    response = flask.Response(_asset(name), content_type=STATIC_TYPES[Path(name).suffix])
    response.headers["Cache-Control"] = "no-cache"  # revalidated by ETag: edits show at once
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.add_etag()
    response.make_conditional(request)
    return response


def library_file(request: flask.Request, object_name: str) -> flask.Response:
    site.ui_caller(request)
    served = served_files.read(object_name=object_name)
    headers = {
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "ETag": served.etag,
    }
    if served.etag in request.headers.get("If-None-Match", ""):
        return flask.Response(status=304, headers=headers)
    headers["Content-Length"] = str(served.size)
    return flask.Response(served.chunks, content_type=served.content_type, headers=headers)


ROUTES: list = [
    ("GET", "/", browse),
    ("GET", "/models/<raw_id>", model_page),
    ("GET", "/signin", signin_page),
    ("POST", "/session", sign_in),
    ("POST", "/session/logout", sign_out),
    ("GET", "/assets/<name>", static_file),
    ("GET", "/files/<path:object_name>", library_file),
]

_ui = entry_point(ROUTES, site.render_error)


@functions_framework.http
def library_ui(request: flask.Request) -> flask.Response:
    return _ui(request)
