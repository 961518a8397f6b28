"""The asset browser: one project's assets per scope, searched and paged; metadata edits.

Invariants: a list reads only the caller's own project (NOT_FOUND otherwise) and only its
records with the asked scope, by equality filters alone (no composite index). Firestore has
no substring search, so a list scans at most MAX_SCAN records of one project and scope,
newest first (created_at, then id, so pages are stable), and filters in Python on
`search_terms` (lower-cased title and filename). A metadata patch stores `userMetadata` as
given; its reserved boolean `recycled` moves the asset between the active scope and the
recycling bin (the document has no delete route). A patch of another account's asset is
NOT_FOUND and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.media.studio.assets import owned_asset
from shared.media.studio.bodies import RECYCLED_KEY, MetadataPatch
from shared.media.studio.models import ASSETS, Asset, AssetScope
from shared.media.studio.workspace import owned_project

MAX_SCAN: Final = 5_000
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 100
MAX_OFFSET: Final = 10_000
MAX_SEARCH_CHARS: Final = 200
SCOPES: Final = {"active": AssetScope.ACTIVE, "recycling": AssetScope.RECYCLING_BIN}


@dataclass(frozen=True)
class Page:
    assets: list[Asset]
    total: int
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        following = self.offset + len(self.assets)
        return following if following < self.total else None


def parse_scope(raw: str | None) -> AssetScope:
    if raw is None:
        return AssetScope.ACTIVE
    if raw not in SCOPES:
        raise AppError(ErrorKind.INVALID, "scope: must be one of active, recycling")
    return SCOPES[raw]


def parse_search(raw: str | None) -> str:
    text = (raw or "").strip().lower()
    if len(text) > MAX_SEARCH_CHARS:
        raise AppError(ErrorKind.INVALID, f"searchQuery: at most {MAX_SEARCH_CHARS} characters")
    return text


def list_assets(
    *,
    account_id: str,
    project_id: str,
    scope: AssetScope = AssetScope.ACTIVE,
    search: str = "",
    offset: int = 0,
    limit: int = DEFAULT_LIMIT,
) -> Page:
    owned_project(account_id, project_id)
    query = (
        db()
        .collection(ASSETS)
        .where(filter=FieldFilter("account_id", "==", account_id))
        .where(filter=FieldFilter("project_id", "==", project_id))
        .where(filter=FieldFilter("scope", "==", scope.value))
        .limit(MAX_SCAN)
    )
    matched: list[tuple[Any, str, Asset]] = []
    for snap in query.stream():
        data = snap.to_dict()
        if search and search not in str(data.get("search_terms", "")):
            continue
        item = Asset(id=snap.id, **data)
        matched.append((item.created_at, item.id, item))
    matched.sort(key=lambda row: (row[0], row[1]), reverse=True)
    window = [row[2] for row in matched[offset : offset + limit]]
    return Page(assets=window, total=len(matched), offset=offset, limit=limit)


def update_metadata(*, account_id: str, body: MetadataPatch) -> Asset:
    owned_asset(account_id, body.asset_id)
    changes: dict[str, Any] = {"user_metadata": body.user_metadata, "updated_at": clock.now()}
    recycled = body.user_metadata.get(RECYCLED_KEY)
    if isinstance(recycled, bool):
        changes["scope"] = (AssetScope.RECYCLING_BIN if recycled else AssetScope.ACTIVE).value
    db().collection(ASSETS).document(body.asset_id).update(changes)
    return owned_asset(account_id, body.asset_id)
