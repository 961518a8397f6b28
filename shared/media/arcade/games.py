"""Arcade games: who owns them, which release each channel plays, and who may see it.

Invariants: a slug names at most one game, ever (the game and its `arcade_slugs/<slug>`
claim are create()d in one batch, so a second create of the slug is a 409 and writes
nothing); slugs are lowercase `[a-z0-9-]`, 3..64 characters, starting and ending with a
letter or digit; tags are stored lowercase, each once. A game's `channels` maps dev and
live to the release each plays (or None); only review.publish changes it. `visible` is the
one visibility rule every read uses: admins see everything, the owner sees a channel
unless it is `hidden`, anyone else sees only a live channel whose visibility is `public`.
What a caller may not see is a 404.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from enum import StrEnum
from typing import Any, Final

from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import BaseModel

from shared.engine import clock, identity
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import CONFLICTS, db

GAMES: Final = "arcade_games"
SLUGS: Final = "arcade_slugs"
MAX_LISTED: Final = 500

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,62}[a-z0-9]")


class Channel(StrEnum):
    DEV = "dev"
    LIVE = "live"


class Visibility(StrEnum):
    HIDDEN = "hidden"
    OWNER_ONLY = "owner_only"
    PUBLIC = "public"


class Game(BaseModel):
    id: str
    owner_id: str
    slug: str
    title: str
    short_description: str
    description: str
    tags: list[str]
    channels: dict[str, str | None]
    visibility: dict[str, str | None]
    release_count: int = 0
    created_at: dt.datetime
    updated_at: dt.datetime

    def listed(self, channel: Channel) -> bool:
        return self.channels.get(channel) is not None


def normal_slug(raw: str) -> str:
    slug = raw.strip().lower()
    if not _SLUG.fullmatch(slug):
        raise AppError(
            ErrorKind.INVALID,
            "slug: must be 3..64 of a-z, 0-9 and '-', starting and ending with a letter or digit",
        )
    return slug


def is_admin(account_id: str) -> bool:
    try:
        return identity.get_account(account_id).is_admin
    except AppError:
        return False


def visible(game: Game, channel: Channel, *, caller_id: str, admin: bool) -> bool:
    """May the caller see what `channel` of `game` plays (the one visibility rule)."""
    if admin:
        return True
    visibility = game.visibility.get(channel) or Visibility.OWNER_ONLY
    if game.owner_id == caller_id:
        return visibility != Visibility.HIDDEN
    return channel == Channel.LIVE and visibility == Visibility.PUBLIC


def game_ref(game_id: str) -> Any:
    return db().collection(GAMES).document(game_id)


def _game(snap: Any) -> Game:
    return Game(id=snap.id, **snap.to_dict())


def find_game(game_id: str) -> Game | None:
    if not game_id or "/" in game_id or len(game_id) > 128:
        return None
    snap = game_ref(game_id).get()
    return _game(snap) if snap.exists else None


def owned_game(*, game_id: str, owner_id: str) -> Game:
    """The caller's own game; anyone else's (or none) is a 404."""
    game = find_game(game_id)
    if game is None or game.owner_id != owner_id:
        raise AppError(ErrorKind.NOT_FOUND, "gameId: no such game")
    return game


def find_by_slug(raw: str) -> Game | None:
    slug = raw.strip().lower()
    if not _SLUG.fullmatch(slug):
        return None
    claim = db().collection(SLUGS).document(slug).get()
    return find_game(claim.to_dict()["gameId"]) if claim.exists else None


def create(
    *,
    owner_id: str,
    slug: str,
    title: str,
    short_description: str,
    description: str,
    tags: list[str],
) -> Game:
    slug = normal_slug(slug)
    tags = list(dict.fromkeys(tag.strip().lower() for tag in tags))
    now = clock.now()
    game = Game(
        id=uuid.uuid4().hex,
        owner_id=owner_id,
        slug=slug,
        title=title,
        short_description=short_description,
        description=description,
        tags=tags,
        channels={Channel.DEV: None, Channel.LIVE: None},
        visibility={Channel.DEV: None, Channel.LIVE: None},
        created_at=now,
        updated_at=now,
    )
    batch = db().batch()
    batch.create(db().collection(SLUGS).document(slug), {"gameId": game.id, "createdAt": now})
    batch.create(game_ref(game.id), game.model_dump(mode="python", exclude={"id"}))
    try:
        batch.commit()
    except CONFLICTS:
        raise AppError(ErrorKind.CONFLICT, f"slug: {slug!r} is taken") from None
    return game


def mine(owner_id: str) -> list[Game]:
    query = (
        db()
        .collection(GAMES)
        .where(filter=FieldFilter("owner_id", "==", owner_id))
        .limit(MAX_LISTED)
    )
    return sorted((_game(s) for s in query.stream()), key=lambda g: g.created_at)


def catalog(channel: Channel, *, caller_id: str, admin: bool) -> list[Game]:
    """Games with a release on `channel` that the caller may see, by title."""
    if channel == Channel.DEV and not admin:
        found = mine(caller_id)
    else:
        field = f"channels.{channel.value}"
        query = db().collection(GAMES).where(filter=FieldFilter(field, ">", "")).limit(MAX_LISTED)
        found = [_game(s) for s in query.stream()]
    shown = [
        g
        for g in found
        if g.listed(channel) and visible(g, channel, caller_id=caller_id, admin=admin)
    ]
    return sorted(shown, key=lambda g: (g.title.casefold(), g.slug))


def detail(*, slug: str, channel: Channel, caller_id: str, admin: bool) -> Game:
    """The game as `channel` shows it to the caller, or 404."""
    game = find_by_slug(slug)
    if (
        game is None
        or not game.listed(channel)
        or not visible(game, channel, caller_id=caller_id, admin=admin)
    ):
        raise AppError(ErrorKind.NOT_FOUND, "slug: no such game on that channel")
    return game
