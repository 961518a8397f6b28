"""Text documents and storyboards in Firestore: read, patch under a revision, import, export.

Invariants: a document is read and written only through its asset record, which must be the
caller's and of the route's kind (a text route on a storyboard or an upload is NOT_FOUND, and
the other way round). A patch reads the current body and the record, applies the pure rule
(`documents.apply_patch` / `storyboards.apply_patch`) and writes the new body and the
record's title, size, revision, search terms and updated_at INSIDE one Firestore
transaction, so of two writes based on the same revision exactly one lands and the other is
CONFLICT (revision_conflict) with the winner's text kept; nothing is written on any refusal.
An import reads a legacy source the caller owns (any of their projects) and creates a new
storyboard asset in the caller's target project; the source is never changed.
"""

from __future__ import annotations

import re
from typing import Any

from shared.engine import clock, outputs
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.media.studio import assets, documents, storyboards
from shared.media.studio.bodies import StoryboardImport
from shared.media.studio.models import ASSETS, DOCUMENTS, Asset, AssetKind

_IMPORTABLE_FILES = ("text/plain", "text/markdown", "application/json")
_SLUG = re.compile(r"[^a-z0-9]+")


def _not_found(kind: AssetKind) -> AppError:
    what = "text document" if kind is AssetKind.TEXT else "storyboard"
    return AppError(ErrorKind.NOT_FOUND, f"{what} not found")


def _owned_record(
    account_id: str, asset_id: str, kind: AssetKind, transaction: Any = None
) -> tuple[Asset, dict[str, Any]]:
    """The record and the stored body of the caller's `kind` asset, read in `transaction`."""
    ref = db().collection(ASSETS).document(asset_id)
    snap = ref.get(transaction=transaction)
    data = snap.to_dict() if snap.exists else None
    if data is None or data.get("account_id") != account_id or data.get("kind") != kind.value:
        raise _not_found(kind)
    body = db().collection(DOCUMENTS).document(asset_id).get(transaction=transaction)
    if not body.exists:
        raise _not_found(kind)
    return Asset(id=snap.id, **data), body.to_dict() or {}


def _text(body: dict[str, Any]) -> documents.TextDocument:
    fields = documents.TextDocument.model_fields
    return documents.TextDocument(**{k: v for k, v in body.items() if k in fields})


def _board(body: dict[str, Any]) -> storyboards.Storyboard:
    return storyboards.Storyboard(
        asset_id=body["asset_id"],
        project_id=body["project_id"],
        title=body["title"],
        revision=body.get("revision", 1),
        storyboard=storyboards.parse_document(body.get("storyboard") or {}),
    )


def get_text(*, account_id: str, asset_id: str) -> documents.TextDocument:
    return _text(_owned_record(account_id, asset_id, AssetKind.TEXT)[1])


def get_storyboard(*, account_id: str, asset_id: str) -> storyboards.Storyboard:
    return _board(_owned_record(account_id, asset_id, AssetKind.STORYBOARD)[1])


def _write(
    transaction: Any, *, asset: Asset, title: str, revision: int, size: int, body: dict[str, Any]
) -> None:
    transaction.set(db().collection(DOCUMENTS).document(asset.id), body)
    transaction.update(
        db().collection(ASSETS).document(asset.id),
        {
            "title": title,
            "revision": revision,
            "size_bytes": size,
            "search_terms": assets.search_terms(title, asset.filename),
            "updated_at": clock.now(),
        },
    )


def patch_text(
    *, account_id: str, patch: documents.TextDocumentPatch, if_match: str | None
) -> documents.TextDocument:
    from google.cloud import firestore

    @firestore.transactional
    def run(transaction: Any) -> documents.TextDocument:
        asset, body = _owned_record(account_id, patch.asset_id, AssetKind.TEXT, transaction)
        current = _text(body)
        new = documents.apply_patch(current, patch, if_match=if_match)
        if new is not current:
            stored = {**new.model_dump(), "account_id": account_id}
            size = len(new.content.encode("utf-8"))
            _write(
                transaction, asset=asset, title=new.title, revision=new.revision, size=size,
                body=stored,
            )  # fmt: skip
        return new

    result: documents.TextDocument = run(db().transaction())
    return result


def patch_storyboard(
    *, account_id: str, patch: storyboards.StoryboardPatch, if_match: str | None
) -> storyboards.Storyboard:
    from google.cloud import firestore

    @firestore.transactional
    def run(transaction: Any) -> storyboards.Storyboard:
        asset, body = _owned_record(account_id, patch.asset_id, AssetKind.STORYBOARD, transaction)
        current = _board(body)
        new = storyboards.apply_patch(current, patch, if_match=if_match)
        if new is not current:
            wire = new.storyboard.dump()
            stored = {
                **new.model_dump(exclude={"storyboard"}),
                "storyboard": wire,
                "account_id": account_id,
            }
            size = len(new.storyboard.model_dump_json(by_alias=True).encode("utf-8"))
            _write(
                transaction, asset=asset, title=new.title, revision=new.revision, size=size,
                body=stored,
            )  # fmt: skip
        return new

    result: storyboards.Storyboard = run(db().transaction())
    return result


def _legacy_source(account_id: str, asset_id: str) -> tuple[Asset, str | dict[str, Any] | bytes]:
    source = assets.owned_asset(account_id, asset_id)
    if source.kind is AssetKind.TEXT:
        return source, get_text(account_id=account_id, asset_id=asset_id).content
    if source.kind is AssetKind.STORYBOARD:
        board = get_storyboard(account_id=account_id, asset_id=asset_id)
        return source, board.storyboard.dump()
    if source.storage_path and source.mime_type in _IMPORTABLE_FILES:
        if source.size_bytes > storyboards.MAX_STORYBOARD_BYTES:
            raise AppError(ErrorKind.INVALID, "sourceAssetId: the source is too large to import")
        return source, outputs.read_output(source.storage_path)
    raise AppError(ErrorKind.INVALID, "sourceAssetId: is not a text, Markdown or JSON asset")


def import_storyboard(
    *, account_id: str, body: StoryboardImport
) -> tuple[Asset, storyboards.Storyboard]:
    from shared.media.studio.workspace import owned_project

    owned_project(account_id, body.project_id)
    source, content = _legacy_source(account_id, body.source_asset_id)
    try:
        document = storyboards.import_from_legacy_asset(content)
    except AppError as exc:
        if exc.kind is ErrorKind.TOO_LARGE:
            raise AppError(ErrorKind.INVALID, exc.message) from None
        raise
    create = storyboards.StoryboardCreate.model_construct(
        project_id=body.project_id, title=body.title or source.title[:120], storyboard=document
    )
    return assets.create_storyboard(
        account_id=account_id,
        body=create,
        source={"type": "storyboard_import", "assetId": source.id},
    )


def export_markdown(*, account_id: str, asset_id: str) -> dict[str, Any]:
    board = get_storyboard(account_id=account_id, asset_id=asset_id)
    slug = _SLUG.sub("-", board.title.lower()).strip("-")[:80] or "storyboard"
    return {
        "assetId": board.asset_id,
        "title": board.title,
        "revision": board.revision,
        "filename": f"{slug}.md",
        "mimeType": "text/markdown",
        "markdown": storyboards.export_markdown(board.storyboard, title=board.title),
    }
