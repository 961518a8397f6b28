"""The user's edits of a model (PATCH /api/models/:id): name, type and baseModel over the
scanned values, and notes kept apart from the record.

- Edits never touch what the scan wrote (models_store.edit keeps `scan`); an empty string
  clears an edit, showing the scanned value again; notes "" clears the notes.
- A body is checked whole before anything is written; a model that does not exist is
  NOT_FOUND and nothing is written.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shared.library import models_store, notes, views
from shared.library.notes import MAX_NOTES

Label = Annotated[str, Field(max_length=200)]


class ModelPatch(BaseModel):
    """All fields optional; absent (or null) ones stay as they are."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)
    name: Label | None = None
    type: Annotated[str, Field(max_length=64)] | None = None
    baseModel: Annotated[str, Field(max_length=64)] | None = None
    notes: Annotated[str, Field(max_length=MAX_NOTES)] | None = None


def apply(*, model_id: int, patch: ModelPatch) -> dict[str, Any]:
    """Apply the edits and return the updated model object."""
    changes = {
        field: getattr(patch, field)
        for field in ("name", "type", "baseModel")
        if getattr(patch, field) is not None
    }
    if changes:
        models_store.edit(model_id, changes)
    else:
        models_store.get(model_id)  # NOT_FOUND before the notes are written
    if patch.notes is not None:
        notes.put(model_id, patch.notes)
    return views.detail(model_id)
