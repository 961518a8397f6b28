"""The arcade's public shapes (camelCase): built only here, shared by every arcade route.

Owner-facing fields (review notes, history, storage details) appear only where the caller
owns the game or is an admin (`full=True`); the catalog and detail views show a release as
players see it. No view exposes an object path or a signing secret.
"""

from __future__ import annotations

from typing import Any

from shared.engine import clock
from shared.media.arcade import launches, releases
from shared.media.arcade.games import Channel, Game
from shared.media.arcade.launches import Session
from shared.media.arcade.releases import Release


def game_view(game: Game) -> dict[str, Any]:
    return {
        "id": game.id,
        "slug": game.slug,
        "title": game.title,
        "shortDescription": game.short_description,
        "description": game.description,
        "tags": game.tags,
        "ownerId": game.owner_id,
        "channels": {c.value: game.channels.get(c) for c in Channel},
        "visibility": {c.value: game.visibility.get(c) for c in Channel},
        "releaseCount": game.release_count,
        "createdAt": clock.iso(game.created_at),
        "updatedAt": clock.iso(game.updated_at),
    }


def release_view(release: Release, *, full: bool = True) -> dict[str, Any]:
    manifest = release.manifest
    body: dict[str, Any] = {
        "id": release.id,
        "gameId": release.game_id,
        "sequence": release.sequence,
        "status": str(release.status),
        "engine": manifest.get("engine"),
        "engineVersion": manifest.get("engineVersion"),
        "entry": manifest.get("entry"),
        "title": manifest.get("title"),
        "description": manifest.get("description"),
        "orientation": manifest.get("orientation"),
        "files": [
            {"path": f.path, "size": f.size, "sha256": f.sha256, "contentType": f.content_type}
            for f in release.files
        ],
        "totalBytes": release.total_bytes,
        "cover": (
            {
                "contentType": release.cover.content_type,
                "size": release.cover.size,
                "width": release.cover.width,
                "height": release.cover.height,
                "url": releases.cover_url(release, now=clock.now()),
            }
            if release.cover
            else None
        ),
        "publishedChannels": release.published_channels,
        "createdAt": clock.iso(release.created_at),
        "updatedAt": clock.iso(release.updated_at),
    }
    if full:
        body["notes"] = release.notes
        body["history"] = [
            {
                "action": m.action,
                "from": m.from_status,
                "to": m.to_status,
                "actorId": m.actor_id,
                "at": clock.iso(m.at),
                "notes": m.notes,
                "channel": m.channel,
                "visibility": m.visibility,
            }
            for m in release.history
        ]
    return body


def channel_entry_view(
    game: Game, release: Release | None, channel: Channel, *, full: bool
) -> dict[str, Any]:
    return {
        "channel": channel.value,
        "game": game_view(game),
        "release": release_view(release, full=full) if release else None,
    }


def session_view(session: Session) -> dict[str, Any]:
    expired = session.expired(clock.now())
    return {
        "sessionId": session.id,
        "status": session.state.value,
        "expired": expired,
        "channel": session.channel.value,
        "slug": session.slug,
        "gameId": session.game_id,
        "release": {"id": session.release_id, "sequence": session.release_sequence},
        "createdAt": clock.iso(session.created_at),
        "expiresAt": clock.iso(session.expires_at),
        "entryUrl": None if expired else launches.file_url(session, session.entry),
        "files": []
        if expired
        else [{"path": f.path, "url": launches.file_url(session, f.path)} for f in session.files],
        "events": [
            {"event": e.event.value, "at": clock.iso(e.at), "failureReason": e.failure_reason}
            for e in session.events
        ],
    }
