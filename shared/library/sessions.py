"""Browser sessions of the library's web UI: sign in once with the library key, then a
cookie.

The cookie holds a random token; Firestore keeps only its SHA-256 with the key generation
it was opened under and an expiry. A session ends when it expires, when the user signs
out, or when the key is regenerated (its generation no longer matches).
"""

from __future__ import annotations

import datetime as dt
import secrets

from shared.engine import clock, identity
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.engine.store import db
from shared.library import keys
from shared.library.records import SESSIONS

COOKIE = "__session"  # the only cookie Firebase Hosting forwards to functions


def open_session(raw_key: str | None) -> tuple[str, dt.datetime]:
    """A new session for a valid key (library key or a Relay admin key): (token, expiry)."""
    generation = keys.check(raw_key)
    token = secrets.token_urlsafe(32)
    expires_at = clock.now() + dt.timedelta(seconds=get_settings().library_session_ttl_s)
    db().collection(SESSIONS).document(identity.hash_key(token)).set(
        {"generation": generation, "created_at": clock.now(), "expires_at": expires_at}
    )
    return token, expires_at


def check(token: str | None) -> None:
    """UNAUTHENTICATED unless `token` is a live session of the current key."""
    if not token or len(token) > 128:
        raise AppError(ErrorKind.UNAUTHENTICATED, "Not signed in")
    snap = db().collection(SESSIONS).document(identity.hash_key(token)).get()
    if (
        not snap.exists
        or snap.get("expires_at") <= clock.now()
        or int(snap.get("generation")) != keys.generation()
    ):
        raise AppError(ErrorKind.UNAUTHENTICATED, "Not signed in")


def close(token: str | None) -> None:
    if token and len(token) <= 128:
        db().collection(SESSIONS).document(identity.hash_key(token)).delete()
