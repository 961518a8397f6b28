"""Arcade launch sessions: one signed, short-lived pass to play one release, and its telemetry.

Invariants: a session's id is derived from (account, idempotencyKey), so the same key always
names the same session; it is create()d, so concurrent launches with one key make exactly one
(the losers read the winner's), and a key reused with another slug or channel is a 409. A
session pins the release its channel played at launch and carries its own expiry
(LIFETIME); its files are reached only through `play_token` URLs whose signature
(itsdangerous, keyed by the media token key) binds the session id and expiry, so a tampered
or expired token opens nothing. Telemetry follows EVENT_RULES in one transaction per event:
`launched` or `failed_bootstrap` first (a reason only and always with failed_bootstrap),
heartbeats only while running, `end` from created or running; nothing after `end` or
`failed_bootstrap` (409), nothing once the session has expired (410), at most MAX_EVENTS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.parse
from enum import StrEnum
from typing import Any, Final

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.engine.store import CONFLICTS, db
from shared.media.arcade import games, releases
from shared.media.arcade.games import Channel
from shared.media.arcade.releases import StoredFile

SESSIONS: Final = "arcade_launch_sessions"
LIFETIME: Final = dt.timedelta(minutes=10)
MAX_EVENTS: Final = 500
PLAY_PATH: Final = "/arcade/play"
_SALT: Final = "relay.arcade.play"


class State(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    ENDED = "ended"
    FAILED = "failed"


class Event(StrEnum):
    LAUNCHED = "launched"
    HEARTBEAT = "heartbeat"
    END = "end"
    FAILED_BOOTSTRAP = "failed_bootstrap"


# (event, state) -> next state; any other pair is refused.
EVENT_RULES: Final[dict[tuple[Event, State], State]] = {
    (Event.LAUNCHED, State.CREATED): State.RUNNING,
    (Event.FAILED_BOOTSTRAP, State.CREATED): State.FAILED,
    (Event.HEARTBEAT, State.RUNNING): State.RUNNING,
    (Event.END, State.CREATED): State.ENDED,
    (Event.END, State.RUNNING): State.ENDED,
}


class Recorded(BaseModel):
    event: Event
    at: dt.datetime
    failure_reason: str | None = None


class Session(BaseModel):
    id: str
    account_id: str
    idempotency_key: str
    game_id: str
    slug: str
    channel: Channel
    release_id: str
    release_sequence: int
    prefix: str
    entry: str
    files: list[StoredFile]
    state: State
    events: list[Recorded] = []
    created_at: dt.datetime
    expires_at: dt.datetime
    updated_at: dt.datetime

    def expired(self, now: dt.datetime) -> bool:
        return now >= self.expires_at


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().media_token_key, salt=_SALT)


def play_token(session_id: str, expires_at: dt.datetime) -> str:
    return _serializer().dumps({"s": session_id, "e": int(expires_at.timestamp())})


def read_token(token: str, *, now: dt.datetime) -> str | None:
    """The session id a genuine, unexpired token names, else None."""
    try:
        claims = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("s"), str):
        return None
    expiry = claims.get("e")
    if not isinstance(expiry, int) or now.timestamp() >= expiry:
        return None
    return claims["s"]


def file_url(session: Session, path: str) -> str:
    base = get_settings().media_public_url.rstrip("/")
    token = play_token(session.id, session.expires_at)
    return f"{base}{PLAY_PATH}/{token}/{urllib.parse.quote(path)}"


def session_id(account_id: str, idempotency_key: str) -> str:
    return hashlib.sha256(f"{account_id}\n{idempotency_key}".encode()).hexdigest()[:40]


def _ref(sid: str) -> Any:
    return db().collection(SESSIONS).document(sid)


def find(sid: str) -> Session | None:
    if not sid or "/" in sid or len(sid) > 128:
        return None
    snap = _ref(sid).get()
    return Session(id=snap.id, **snap.to_dict()) if snap.exists else None


def _same_request(session: Session, *, slug: str, channel: Channel) -> Session:
    if session.slug != slug or session.channel != channel:
        raise AppError(
            ErrorKind.CONFLICT, "idempotencyKey: already used for another slug or channel"
        )
    return session


def launch(
    *, account_id: str, slug: str, channel: Channel, idempotency_key: str
) -> tuple[Session, bool]:
    """(session, created): the session for this key, created if it is new."""
    sid = session_id(account_id, idempotency_key)
    slug = slug.strip().lower()
    existing = find(sid)
    if existing is not None:
        return _same_request(existing, slug=slug, channel=channel), False
    admin = games.is_admin(account_id)
    game = games.detail(slug=slug, channel=channel, caller_id=account_id, admin=admin)
    release = releases.find(game.channels[channel] or "")
    if release is None:
        raise AppError(ErrorKind.NOT_FOUND, "slug: no such game on that channel")
    now = clock.now()
    session = Session(
        id=sid,
        account_id=account_id,
        idempotency_key=idempotency_key,
        game_id=game.id,
        slug=game.slug,
        channel=channel,
        release_id=release.id,
        release_sequence=release.sequence,
        prefix=release.prefix,
        entry=release.manifest["entry"],
        files=release.files,
        state=State.CREATED,
        created_at=now,
        expires_at=now + LIFETIME,
        updated_at=now,
    )
    try:
        _ref(sid).create(session.model_dump(mode="python", exclude={"id"}))
    except CONFLICTS:
        winner = find(sid)
        assert winner is not None  # sessions are never deleted
        return _same_request(winner, slug=slug, channel=channel), False
    return session, True


def record(
    *, account_id: str, session_id: str, event: Event, failure_reason: str | None
) -> Session:
    """Append one telemetry event under EVENT_RULES (the session's owner only)."""
    from google.cloud import firestore

    if (event == Event.FAILED_BOOTSTRAP) != bool(failure_reason and failure_reason.strip()):
        raise AppError(
            ErrorKind.INVALID,
            "failureReason: is required with failed_bootstrap and allowed only with it",
        )
    found = find(session_id)
    if found is None or found.account_id != account_id:
        raise AppError(ErrorKind.NOT_FOUND, "sessionId: no such launch session")

    @firestore.transactional
    def apply(tx: Any) -> None:
        snap = _ref(session_id).get(transaction=tx)
        session = Session(id=snap.id, **snap.to_dict())
        now = clock.now()
        if session.expired(now):
            raise AppError(ErrorKind.GONE, "sessionId: the launch session has expired")
        target = EVENT_RULES.get((event, session.state))
        if target is None:
            raise AppError(
                ErrorKind.CONFLICT,
                f"event: {event.value} is not allowed in a {session.state.value} session",
                {"state": session.state.value},
            )
        if len(session.events) >= MAX_EVENTS:
            raise AppError(ErrorKind.CONFLICT, f"event: a session records {MAX_EVENTS} at most")
        added = Recorded(event=event, at=now, failure_reason=failure_reason)
        tx.update(
            _ref(session_id),
            {
                "state": target.value,
                "updated_at": now,
                "events": [*(e.model_dump() for e in session.events), added.model_dump()],
            },
        )

    apply(db().transaction())
    updated = find(session_id)
    assert updated is not None
    return updated
