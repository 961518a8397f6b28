"""Studio assets: the records behind the asset browser and the writes that create them.

Invariants: an asset belongs to one project of one account for life and is visible only to
that account (NOT_FOUND for anyone else). A binary asset's bytes are stored at
`studio/<accountId>/<projectId>/<assetId>/<filename>` BEFORE its record is created, so a
record never points at a missing object (a failed record write deletes the object). A text
document's or storyboard's record and its body (`studio_documents/<assetId>`, revision 1)
are created in one batch. `search_terms` is the lower-cased title and filename, which the
list's search matches.
"""

from __future__ import annotations

import hashlib
from typing import Any

from shared.engine import clock, outputs
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.media.studio import documents, storyboards
from shared.media.studio.models import ASSETS, DOCUMENTS, Asset, AssetKind, new_id
from shared.media.studio.workspace import owned_project


def search_terms(title: str, filename: str | None) -> str:
    return f"{title} {filename or ''}".strip().lower()


def _record(asset: Asset) -> dict[str, Any]:
    data = asset.model_dump(mode="python", exclude={"id"})
    data["search_terms"] = search_terms(asset.title, asset.filename)
    return data


def owned_asset(account_id: str, asset_id: str) -> Asset:
    snap = db().collection(ASSETS).document(asset_id).get()
    data = snap.to_dict() if snap.exists else None
    if data is None or data.get("account_id") != account_id:
        raise AppError(ErrorKind.NOT_FOUND, "asset not found")
    return Asset(id=snap.id, **data)


def object_path(account_id: str, project_id: str, asset_id: str, filename: str) -> str:
    return f"studio/{account_id}/{project_id}/{asset_id}/{filename}"


def store_file(
    *,
    account_id: str,
    project_id: str,
    filename: str,
    data: bytes,
    mime_type: str,
    kind: AssetKind = AssetKind.FILE,
    title: str | None = None,
    source: dict[str, Any] | None = None,
) -> Asset:
    """Store checked bytes in Cloud Storage, then record the asset. The caller has checked
    the content and the filename; the project must be the account's."""
    owned_project(account_id, project_id)
    now = clock.now()
    asset_id = new_id("ast")
    path = object_path(account_id, project_id, asset_id, filename)
    asset = Asset(
        id=asset_id,
        account_id=account_id,
        project_id=project_id,
        kind=kind,
        title=title or filename,
        filename=filename,
        mime_type=mime_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_path=path,
        source=source or {},
        created_at=now,
        updated_at=now,
    )
    blob = outputs.bucket().blob(path)
    blob.upload_from_string(data, content_type=mime_type)
    try:
        db().collection(ASSETS).document(asset_id).create(_record(asset))
    except BaseException:
        blob.delete()
        raise
    return asset


def create_text(
    *, account_id: str, body: documents.TextDocumentCreate, source: dict[str, Any] | None = None
) -> tuple[Asset, documents.TextDocument]:
    """A text document asset at revision 1 (record and body in one batch)."""
    owned_project(account_id, body.project_id)
    document = documents.new_document(asset_id=new_id("ast"), body=body)
    asset = _document_asset(
        account_id=account_id,
        asset_id=document.asset_id,
        project_id=body.project_id,
        kind=AssetKind.TEXT,
        title=body.title,
        mime_type=document.mime_type,
        size_bytes=len(document.content.encode("utf-8")),
        source=source,
    )
    _create_with_body(asset, {**document.model_dump(), "account_id": account_id})
    return asset, document


def create_storyboard(
    *, account_id: str, body: storyboards.StoryboardCreate, source: dict[str, Any] | None = None
) -> tuple[Asset, storyboards.Storyboard]:
    """A storyboard asset at revision 1 (record and body in one batch)."""
    owned_project(account_id, body.project_id)
    board = storyboards.new_storyboard(asset_id=new_id("ast"), body=body)
    asset = _document_asset(
        account_id=account_id,
        asset_id=board.asset_id,
        project_id=body.project_id,
        kind=AssetKind.STORYBOARD,
        title=body.title,
        mime_type="application/vnd.killatamata.storyboard+json",
        size_bytes=len(board.storyboard.model_dump_json(by_alias=True).encode("utf-8")),
        source=source,
    )
    # The storyboard is kept in its camelCase wire form (storyboards.parse_document reads it).
    body_doc = {
        **board.model_dump(exclude={"storyboard"}),
        "storyboard": board.storyboard.dump(),
        "account_id": account_id,
    }
    _create_with_body(asset, body_doc)
    return asset, board


def _document_asset(
    *,
    account_id: str,
    asset_id: str,
    project_id: str,
    kind: AssetKind,
    title: str,
    mime_type: str,
    size_bytes: int,
    source: dict[str, Any] | None,
) -> Asset:
    """The list record of a document asset (text or storyboard) at revision 1."""
    now = clock.now()
    return Asset(
        id=asset_id,
        account_id=account_id,
        project_id=project_id,
        kind=kind,
        title=title,
        mime_type=mime_type,
        size_bytes=size_bytes,
        source=source or {},
        revision=1,
        created_at=now,
        updated_at=now,
    )


def _create_with_body(asset: Asset, body: dict[str, Any]) -> None:
    batch = db().batch()
    batch.create(db().collection(ASSETS).document(asset.id), _record(asset))
    batch.create(db().collection(DOCUMENTS).document(asset.id), body)
    batch.commit()
