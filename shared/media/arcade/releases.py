"""Arcade releases: an uploaded Godot web export, stored once, then moved only by review.

Invariants: everything a client sends (game ownership, manifest, bundle, cover image) is
checked before the first write, so a refused upload stores no object and no document.
Files live under `arcade/<gameId>/<releaseId>/files/<path>` (the cover at
`arcade/<gameId>/<releaseId>/cover.<ext>`) in the outputs bucket; the release document is
created only after every object is stored, in a transaction that also numbers it within its
game, and if storing or that transaction fails the objects already written are deleted.
A release starts as `draft`; its status changes only through shared/media/arcade/review.py.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from enum import StrEnum
from typing import Any, Final

from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import BaseModel

from shared.engine import clock, outputs
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.media.arcade import games
from shared.media.arcade.bundle import ValidatedBundle, validate_bundle

RELEASES: Final = "arcade_releases"
MAX_COVER_BYTES: Final = 5 * 1024 * 1024
MAX_COVER_PIXELS: Final = 4096 * 4096
COVER_TYPES: Final = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"),
                      "WEBP": ("image/webp", "webp")}  # fmt: skip


class Status(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    PUBLISHED = "published"


class StoredFile(BaseModel):
    path: str
    size: int
    sha256: str
    content_type: str


class Cover(BaseModel):
    object_path: str
    content_type: str
    size: int
    width: int
    height: int


class Move(BaseModel):
    action: str
    from_status: str
    to_status: str
    actor_id: str
    at: dt.datetime
    notes: str | None = None
    channel: str | None = None
    visibility: str | None = None


class Release(BaseModel):
    id: str
    game_id: str
    owner_id: str
    sequence: int
    status: Status
    manifest: dict[str, Any]
    files: list[StoredFile]
    total_bytes: int
    prefix: str
    cover: Cover | None = None
    notes: str | None = None
    published_channels: list[str] = []
    history: list[Move] = []
    created_at: dt.datetime
    updated_at: dt.datetime

    def object_path(self, path: str) -> str:
        return f"{self.prefix}files/{path}"


def release_ref(release_id: str) -> Any:
    return db().collection(RELEASES).document(release_id)


def from_snap(snap: Any) -> Release:
    return Release(id=snap.id, **snap.to_dict())


def find(release_id: str) -> Release | None:
    if not release_id or "/" in release_id or len(release_id) > 128:
        return None
    snap = release_ref(release_id).get()
    return from_snap(snap) if snap.exists else None


def for_owner(owner_id: str) -> list[Release]:
    query = (
        db().collection(RELEASES).where(filter=FieldFilter("owner_id", "==", owner_id)).limit(2000)
    )
    return sorted((from_snap(s) for s in query.stream()), key=lambda r: r.sequence)


def in_status(status: Status, *, limit: int = 200) -> list[Release]:
    query = (
        db()
        .collection(RELEASES)
        .where(filter=FieldFilter("status", "==", status.value))
        .limit(limit)
    )
    return sorted((from_snap(s) for s in query.stream()), key=lambda r: r.created_at)


def check_cover(data: bytes) -> tuple[str, str, int, int]:
    """(content type, extension, width, height) of a PNG, JPEG or WebP cover, or 400."""
    from PIL import Image

    if not data:
        raise AppError(ErrorKind.INVALID, "coverImage: is empty")
    if len(data) > MAX_COVER_BYTES:
        raise AppError(ErrorKind.INVALID, f"coverImage: is larger than {MAX_COVER_BYTES} bytes")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, (width, height) = image.format, image.size
            if kind not in COVER_TYPES or width * height > MAX_COVER_PIXELS:
                raise ValueError("unsupported")
            image.verify()
    except Exception:  # Pillow raises many types for hostile images; all mean "not a cover"
        raise AppError(
            ErrorKind.INVALID,
            f"coverImage: must be a PNG, JPEG or WebP image of at most {MAX_COVER_PIXELS} pixels",
        ) from None
    content_type, extension = COVER_TYPES[kind]
    return content_type, extension, width, height


def _store(bundle: ValidatedBundle, prefix: str, cover: bytes | None) -> tuple[list[str], Any]:
    written: list[str] = []
    stored_cover = None
    try:
        for item, data in bundle.contents():
            path = f"{prefix}files/{item.path}"
            outputs.bucket().blob(path).upload_from_string(data, content_type=item.content_type)
            written.append(path)
        if cover is not None:
            content_type, extension, width, height = check_cover(cover)
            path = f"{prefix}cover.{extension}"
            outputs.bucket().blob(path).upload_from_string(cover, content_type=content_type)
            written.append(path)
            stored_cover = Cover(
                object_path=path,
                content_type=content_type,
                size=len(cover),
                width=width,
                height=height,
            )
    except BaseException:
        _delete(written)
        raise
    return written, stored_cover


def _delete(paths: list[str]) -> None:
    for path in paths:
        outputs.bucket().blob(path).delete()


def upload(
    *, owner_id: str, game_id: str, manifest_json: str, bundle: bytes, cover: bytes | None
) -> Release:
    """Validate everything, store the files, then create the draft release."""
    from google.cloud import firestore

    games.owned_game(game_id=game_id, owner_id=owner_id)
    checked = validate_bundle(bundle, manifest_json)
    if cover is not None:
        check_cover(cover)
    release_id = uuid.uuid4().hex
    prefix = f"arcade/{game_id}/{release_id}/"
    written, stored_cover = _store(checked, prefix, cover)
    now = clock.now()

    @firestore.transactional
    def create(tx: Any) -> Release:
        snap = games.game_ref(game_id).get(transaction=tx)
        sequence = int(snap.get("release_count") or 0) + 1
        release = Release(
            id=release_id,
            game_id=game_id,
            owner_id=owner_id,
            sequence=sequence,
            status=Status.DRAFT,
            manifest=checked.manifest.model_dump(mode="json", by_alias=True, exclude_none=True),
            files=[
                StoredFile(path=f.path, size=f.size, sha256=f.sha256, content_type=f.content_type)
                for f in checked.files
            ],
            total_bytes=checked.total_bytes,
            prefix=prefix,
            cover=stored_cover,
            created_at=now,
            updated_at=now,
        )
        tx.update(games.game_ref(game_id), {"release_count": sequence, "updated_at": now})
        tx.create(release_ref(release_id), release.model_dump(mode="python", exclude={"id"}))
        return release

    try:
        return create(db().transaction())
    except BaseException:
        _delete(written)
        raise


def read_file(release: Release, path: str) -> bytes:
    return outputs.bucket().blob(release.object_path(path)).download_as_bytes()


def cover_url(release: Release, *, now: dt.datetime) -> str | None:
    if release.cover is None:
        return None
    return outputs.signed_url(
        release.cover.object_path, expires_at=now + dt.timedelta(hours=1), now=now
    )
