"""Helpers for the tars model and marketplace tests: registered developers and their models.

`developer()` writes market_developers/<account id> straight to Firestore (test setup: the
studio's register route is another area's; switch to POST /api/studio/auth/register once it
is on main).
"""

from __future__ import annotations

import uuid
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.engine import identity
from shared.engine.store import db
from shared.market import records
from tests.market_helpers import Client, data, id_token, register_developer

TARS = "/api/studio/tars-models"


def developer(base: str, *, name: str | None = "Test Developer") -> tuple[Client, str]:
    """A registered developer's client and account id."""
    email, token = id_token()
    account = identity.create_account(email=email)
    register_developer(account.id, name=name)
    return Client(base, token), account.id


def slug(prefix: str = "tars") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_model(client: Client, base_model_id: str, **fields: Any) -> dict[str, Any]:
    """A DRAFT tars model (201), with a fresh slug unless one is given."""
    body = {"title": "Anime Art Generator", "slug": slug(), "baseModelId": base_model_id}
    body.update(fields)
    return dict(data(client.post(TARS, json=body), 201))


def publish(client: Client, model_id: str) -> dict[str, Any]:
    return dict(data(client.post(f"{TARS}/{model_id}/publish")))


def stored_models(slug_value: str) -> list[dict[str, Any]]:
    """The tars model documents holding a slug (what Firestore has, not what the API says)."""
    query = db().collection(records.TARS_MODELS).where(filter=FieldFilter("slug", "==", slug_value))
    docs = query.stream()
    return [d.to_dict() for d in docs]


def slug_claim(slug_value: str) -> dict[str, Any] | None:
    claim_id = records.slug_claim_id("tars", slug_value)
    snap = db().collection(records.SLUGS).document(claim_id).get()
    return snap.to_dict() if snap.exists else None


def set_active(collection: str, doc_id: str, *, active: bool) -> None:
    db().collection(collection).document(doc_id).update({"is_active": active})
