"""How a release moves: one table (MOVES), applied by one preconditioned batch.

    draft     --submit (owner) / send_to_review (admin)--> in_review
    in_review --approve (admin)--> approved
    in_review --reject (admin, notes required)--> rejected
    approved  --publish (admin, channel dev|live)--> published
    published --publish (admin, the other channel or again)--> published

Every other (action, status) pair is a 409 that writes nothing. A move reads the release and
writes it back only if it is unchanged since that read (a `last_update_time` precondition,
no lock held): of concurrent moves from the same status exactly one lands, and the others
re-read, find the new status, and are refused. Publishing assigns the game's channel to the
release and sets that channel's visibility in the same batch. Every landed move is appended
to the release's history with its actor and server time.
"""

from __future__ import annotations

from typing import Any, Final

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import CONFLICTS, db
from shared.media.arcade import games, releases
from shared.media.arcade.games import Channel, Game, Visibility
from shared.media.arcade.releases import Move, Release, Status

SUBMIT: Final = "submit"
ADMIN_ACTIONS: Final = ("send_to_review", "approve", "reject", "publish")
MOVES: Final[dict[tuple[str, Status], Status]] = {
    (SUBMIT, Status.DRAFT): Status.IN_REVIEW,
    ("send_to_review", Status.DRAFT): Status.IN_REVIEW,
    ("approve", Status.IN_REVIEW): Status.APPROVED,
    ("reject", Status.IN_REVIEW): Status.REJECTED,
    ("publish", Status.APPROVED): Status.PUBLISHED,
    ("publish", Status.PUBLISHED): Status.PUBLISHED,
}
MAX_TRIES: Final = 8  # concurrent moves of one release before a retryable 409
DEFAULT_VISIBILITY: Final = {Channel.DEV: Visibility.OWNER_ONLY, Channel.LIVE: Visibility.PUBLIC}


def _check_arguments(
    action: str, notes: str | None, channel: Channel | None, visibility: Visibility | None
) -> None:
    if action == "reject" and not (notes and notes.strip()):
        raise AppError(ErrorKind.INVALID, "notes: are required to reject a release")
    if action == "publish" and channel is None:
        raise AppError(ErrorKind.INVALID, "channel: is required to publish")
    if action != "publish" and (channel is not None or visibility is not None):
        raise AppError(ErrorKind.INVALID, "channel, visibility: only apply to publish")


def move(
    *,
    release_id: str,
    action: str,
    actor_id: str,
    notes: str | None = None,
    channel: Channel | None = None,
    visibility: Visibility | None = None,
) -> Release:
    """Apply one move to a release; owner-only for submit, admins for the rest."""
    admin = games.is_admin(actor_id)
    if action != SUBMIT and not admin:
        raise AppError(ErrorKind.FORBIDDEN, "review actions are for admins")
    _check_arguments(action, notes, channel, visibility)
    if releases.find(release_id) is None:
        raise AppError(ErrorKind.NOT_FOUND, "releaseId: no such release")

    for _ in range(MAX_TRIES):
        snap = releases.release_ref(release_id).get()
        batch = db().batch()
        _apply(batch, snap, action, actor_id, notes, channel, visibility)
        try:
            batch.commit()
            break
        except CONFLICTS:
            continue  # moved meanwhile: read it again (its new status decides)
    else:
        raise AppError(ErrorKind.CONFLICT, "releaseId: the release is being changed; retry")
    moved = releases.find(release_id)
    assert moved is not None  # releases are never deleted
    return moved


def _apply(
    batch: Any,
    snap: Any,
    action: str,
    actor_id: str,
    notes: str | None,
    channel: Channel | None,
    visibility: Visibility | None,
) -> None:
    """Add the move's writes to `batch`, the release's conditioned on `snap` being current."""
    release = releases.from_snap(snap)
    if action == SUBMIT and release.owner_id != actor_id:
        raise AppError(ErrorKind.NOT_FOUND, "releaseId: no such release")
    target = MOVES.get((action, release.status))
    if target is None:
        raise AppError(
            ErrorKind.CONFLICT,
            f"releaseId: a {release.status.value} release cannot {action}",
            {"status": release.status.value},
        )
    now = clock.now()
    shown = visibility or (DEFAULT_VISIBILITY[channel] if channel else None)
    entry = Move(
        action=action,
        from_status=release.status,
        to_status=target,
        actor_id=actor_id,
        at=now,
        notes=notes,
        channel=channel,
        visibility=shown,
    )
    changes: dict[str, Any] = {
        "status": target.value,
        "updated_at": now,
        "history": [*(m.model_dump() for m in release.history), entry.model_dump()],
    }
    if notes is not None:
        changes["notes"] = notes
    if channel is not None:
        changes["published_channels"] = sorted({*release.published_channels, channel})
        batch.update(
            games.game_ref(release.game_id),
            {
                f"channels.{channel.value}": release.id,
                f"visibility.{channel.value}": str(shown),
                "updated_at": now,
            },
        )
    batch.update(
        snap.reference,
        changes,
        option=db().write_option(last_update_time=snap.update_time),
    )


def queue(caller_id: str) -> list[tuple[Release, Game | None]]:
    """Releases awaiting review, oldest first, with their games (admins only)."""
    if not games.is_admin(caller_id):
        raise AppError(ErrorKind.FORBIDDEN, "the review queue is for admins")
    waiting = releases.in_status(Status.IN_REVIEW)
    return [(release, games.find_game(release.game_id)) for release in waiting]
