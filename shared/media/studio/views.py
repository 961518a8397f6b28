"""Studio's answers: one camelCase view per stored shape.

Every id is a string, every time ISO 8601 UTC (`clock.iso`). A binary asset's view carries a
signed GET URL for its object, valid SIGNED_URL_TTL from the moment of the answer; text
documents and storyboards carry none (their bodies are read through their own routes).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from shared.engine import clock, outputs
from shared.media.studio.models import Asset, AssetScope, Message, Project, Thread

SIGNED_URL_TTL: Final = dt.timedelta(hours=1)
SCOPE_NAMES: Final = {AssetScope.ACTIVE: "active", AssetScope.RECYCLING_BIN: "recycling"}


def project(item: Project) -> dict[str, Any]:
    return {
        "id": item.id,
        "title": item.title,
        "description": item.description,
        "createdAt": clock.iso(item.created_at),
        "updatedAt": clock.iso(item.updated_at),
    }


def thread(item: Thread) -> dict[str, Any]:
    return {
        "id": item.id,
        "projectId": item.project_id,
        "title": item.title,
        "agentModel": item.agent_model,
        "reasoningLevel": item.reasoning_level,
        "messageCount": item.message_count,
        "createdAt": clock.iso(item.created_at),
        "updatedAt": clock.iso(item.updated_at),
    }


def message(item: Message) -> dict[str, Any]:
    return {
        "seq": item.seq,
        "role": item.role,
        "content": item.content,
        "requestId": item.request_id,
        "toolCalls": item.tool_calls,
        "createdAt": clock.iso(item.created_at),
    }


def thread_detail(item: Thread, messages: list[Message]) -> dict[str, Any]:
    return {**thread(item), "messages": [message(m) for m in messages]}


def asset(item: Asset) -> dict[str, Any]:
    url: str | None = None
    expires: str | None = None
    if item.storage_path:
        now = clock.now()
        url = outputs.signed_url(item.storage_path, expires_at=now + SIGNED_URL_TTL, now=now)
        expires = clock.iso(now + SIGNED_URL_TTL)
    return {
        "id": item.id,
        "projectId": item.project_id,
        "kind": item.kind.value,
        "title": item.title,
        "filename": item.filename,
        "mimeType": item.mime_type,
        "sizeBytes": item.size_bytes,
        "sha256": item.sha256,
        "scope": SCOPE_NAMES[item.scope],
        "userMetadata": item.user_metadata,
        "source": item.source,
        "revision": item.revision,
        "url": url,
        "urlExpiresAt": expires,
        "createdAt": clock.iso(item.created_at),
        "updatedAt": clock.iso(item.updated_at),
    }
