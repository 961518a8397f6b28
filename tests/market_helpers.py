"""Helpers for tests that drive Tarsify (`market`) as its clients do.

Every client gets its own `X-Forwarded-For` address, so the per-IP public limits of one
test never spend another's window (the local gateway forwards the header as Google's front
end would append it).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from typing import Any

import httpx

from shared.engine import identity
from shared.engine.store import db
from shared.market import records
from tests.helpers import site_url

# The input schema of the seeded image base models (consumer-facing; the handler's fixed
# fields come from the base model's fixed input).
IMAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prompt"],
    "additionalProperties": False,
    "properties": {
        "prompt": {"type": "string", "title": "Prompt", "minLength": 1, "maxLength": 2000},
        "negative_prompt": {"type": "string", "title": "Negative Prompt", "maxLength": 2000},
        "width": {"type": "integer", "default": 256, "enum": [256, 512]},
        "height": {"type": "integer", "default": 256, "enum": [256, 512]},
        "seed": {"type": "integer", "minimum": 0, "maximum": 4294967295},
    },
}


def market_api(stack: Any) -> str:
    return site_url(stack, "market")


def random_ip() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


class Client:
    """One market client: a base URL, optional credentials and its own client address."""

    def __init__(self, base: str, token: str | None = None, ip: str | None = None):
        self.base = base
        self.token = token
        self.ip = ip or random_ip()

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"X-Forwarded-For": self.ip}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return {**headers, **(extra or {})}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = self.headers(kwargs.pop("headers", None))
        return httpx.request(method, f"{self.base}{path}", headers=headers, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


def id_token(email: str | None = None, *, admin: bool = False) -> tuple[str, str]:
    """A Firebase ID token from the Auth emulator for a fresh (or given) email; returns
    (email, token)."""
    from infra.local.firebase_tokens import emulator_id_token

    email = email or f"tars-{uuid.uuid4().hex[:12]}@example.com"
    return email, emulator_id_token(email, admin=admin)


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert body["success"] is False, body
    return str(body["error"]["code"])


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def seed_base_model(
    *,
    price_credits: int = 10,
    max_price_credits: int | None = None,
    runpod_endpoint_id: str = "z-image-turbo",
    endpoint_active: bool = True,
    model_active: bool = True,
    category: records.Category = records.Category.IMAGE,
    schema: dict[str, Any] | None = None,
    fixed_input: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """An endpoint and a base model written straight to Firestore (test setup, for tests
    that are not about the admin API); returns (endpoint id, base model id)."""
    now = dt.datetime.now(dt.UTC)
    endpoint = records.Endpoint(
        id=str(uuid.uuid4()),
        runpod_endpoint_id=runpod_endpoint_id,
        name=f"endpoint {runpod_endpoint_id}",
        is_active=endpoint_active,
        created_at=now,
        updated_at=now,
    )
    base = records.BaseModelRecord(
        id=str(uuid.uuid4()),
        endpoint_id=endpoint.id,
        slug=f"base-{uuid.uuid4().hex[:10]}",
        name="Test base model",
        description="A base model for tests",
        category=category,
        input_schema_json=json.dumps(schema or IMAGE_SCHEMA),
        output_type="IMAGE",
        output_format="png",
        estimated_seconds=5,
        is_active=model_active,
        price_credits=price_credits,
        max_price_credits=max_price_credits,
        fixed_input_json=json.dumps(
            fixed_input if fixed_input is not None else {"model": "z-image-turbo", "steps": 2}
        ),
        created_at=now,
        updated_at=now,
    )
    db().collection(records.ENDPOINTS).document(endpoint.id).set(
        endpoint.model_dump(mode="python", exclude={"id"})
    )
    db().collection(records.BASE_MODELS).document(base.id).set(
        base.model_dump(mode="python", exclude={"id"})
    )
    db().collection(records.SLUGS).document(records.slug_claim_id("base", base.slug)).set(
        {"id": base.id}
    )
    return endpoint.id, base.id


def register_developer(account_id: str, *, name: str | None = "Test Developer") -> None:
    """Register the account as a Tarsify developer, through the studio's register service
    (what POST /api/studio/auth/register runs), for tests about other routes."""
    from shared.market import developers

    account = identity.get_account(account_id)
    developers.register(
        account_id=account_id,
        account_email=account.email,
        firebase_uid=None,
        request=developers.DeveloperCreate.model_validate(
            {"email": account.email, "displayName": name or "Test Developer"}
        ),
    )


def api_key_for(email: str) -> str:
    """A Relay API key of the account behind `email` (one key on every site)."""
    account = identity.create_account(email=email)
    return identity.create_api_key(account_id=account.id, site=identity.Site.MARKET)
