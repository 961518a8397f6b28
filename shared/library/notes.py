"""The user's notes on a model: `library_notes/<id>`, apart from the scanned record, so
a rescan (which rewrites the record) never touches them."""

from __future__ import annotations

from shared.engine import clock
from shared.engine.store import db
from shared.library.records import NOTES

MAX_NOTES = 100_000  # characters


def get(model_id: int) -> str | None:
    snap = db().collection(NOTES).document(str(model_id)).get()
    return snap.get("notes") if snap.exists else None


def put(model_id: int, text: str) -> None:
    db().collection(NOTES).document(str(model_id)).set({"notes": text, "updated_at": clock.now()})
