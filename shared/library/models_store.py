"""Writes of model records: the scan's facts and the user's edits, each merged with the
other in one transaction so the effective and query fields always agree with both.

The scan never writes `user` and never touches notes (library_notes) or user images
(library_images); a user edit never writes `scan`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.cloud import firestore

from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.library import records


def ref(model_id: int) -> Any:
    return db().collection(records.MODELS).document(str(model_id))


def get(model_id: int) -> dict[str, Any]:
    """The model document, or NOT_FOUND."""
    snap = ref(model_id).get()
    if not snap.exists:
        raise AppError(ErrorKind.NOT_FOUND, "Model not found")
    return snap.to_dict()


def put_scanned(*, path: str, scan: dict[str, Any], added_at: dt.datetime) -> int:
    """Create or refresh the record of the file at `path` (relative to the models root)
    with the scan's facts, keeping the user's edits; returns its id. `added_at` is kept
    from the first scan (it orders newest / oldest)."""
    model_id = records.model_id(path)

    @firestore.transactional
    def run(tx: Any) -> None:
        snap = ref(model_id).get(transaction=tx)
        old = snap.to_dict() if snap.exists else {}
        tx.set(
            ref(model_id),
            {
                "id": model_id,
                "path": path,
                "added_at": old.get("added_at", added_at),
                **records.document(scan, old.get("user")),
            },
        )

    run(db().transaction())
    return model_id


def put_scanned_many(*, items: list[tuple[str, dict[str, Any], dt.datetime]]) -> list[int]:
    """Write many fresh records at once, (path, scan, added_at) each, replacing any record
    of the same path including its user edits: only for seeding an empty catalogue at
    volume (the bench); scans use put_scanned."""
    writer = db().bulk_writer()
    ids = []
    for path, scan, added_at in items:
        model_id = records.model_id(path)
        doc = {"id": model_id, "path": path, "added_at": added_at}
        writer.set(ref(model_id), {**doc, **records.document(scan, None)})
        ids.append(model_id)
    writer.close()
    return ids


def edit(model_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply the user's edits of name / type / baseModel (an empty string clears an edit,
    showing the scanned value again); returns the updated document. NOT_FOUND if none."""

    @firestore.transactional
    def run(tx: Any) -> dict[str, Any]:
        snap = ref(model_id).get(transaction=tx)
        if not snap.exists:
            raise AppError(ErrorKind.NOT_FOUND, "Model not found")
        old = snap.to_dict()
        user = {**(old.get("user") or {}), **changes}
        user = {k: v for k, v in user.items() if v not in (None, "")}
        new = {**old, **records.document(old.get("scan") or {}, user)}
        tx.set(ref(model_id), new)
        return new

    return run(db().transaction())


def remove(model_id: int) -> None:
    """Forget a model whose file is gone (its notes and user images stay, keyed by id, and
    come back if the file does)."""
    ref(model_id).delete()
