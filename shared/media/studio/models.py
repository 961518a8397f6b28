"""Studio's stored shapes and collection names: the one place the Firestore layout is named.

Layout (fields are the models' snake_case names; every document carries `account_id`, and
a read by anyone else is NOT_FOUND, never FORBIDDEN, so ids do not leak):
- `studio_projects/<projectId>`: a project.
- `studio_threads/<threadId>`: a conversation of one project; its messages are the
  subcollection `messages/<seq>` (zero-padded sequence, so the id order is the turn order).
- `studio_assets/<assetId>`: the browser's asset list. Binary assets point at a Cloud
  Storage object (`storagePath`); text documents and storyboards keep their body in
  `studio_documents/<assetId>` (so lists never read 512 KiB bodies).
- `studio_settings/<accountId>`: the account's studio settings and its active thread.
- `studio_plans/<planId>` and `studio_requests/<requestId>`: the agent's approval plans and
  request state (shared/media/studio/agent/).
Ids are `<prefix>_<20 hex>` drawn from `secrets`, so they are unguessable.
"""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

PROJECTS: Final = "studio_projects"
THREADS: Final = "studio_threads"
MESSAGES: Final = "messages"  # subcollection of a thread
ASSETS: Final = "studio_assets"
DOCUMENTS: Final = "studio_documents"
SETTINGS: Final = "studio_settings"
PLANS: Final = "studio_plans"
REQUESTS: Final = "studio_requests"


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


class AssetKind(StrEnum):
    FILE = "file"  # an uploaded binary
    TEXT = "text"  # a text document (studio_documents)
    STORYBOARD = "storyboard"  # a storyboard document (studio_documents)
    MEDIA = "media"  # a media job's output, attached by the agent


class AssetScope(StrEnum):
    ACTIVE = "active"
    RECYCLING_BIN = "recycling_bin"


class _Stored(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Project(_Stored):
    id: str
    account_id: str
    title: str
    description: str = ""
    created_at: dt.datetime
    updated_at: dt.datetime


class Thread(_Stored):
    id: str
    account_id: str
    project_id: str
    title: str
    agent_model: str
    reasoning_level: str
    message_count: int = 0
    created_at: dt.datetime
    updated_at: dt.datetime


class Message(_Stored):
    seq: int
    role: str  # user | assistant
    content: str
    request_id: str | None = None
    tool_calls: list[dict[str, Any]] = []
    created_at: dt.datetime


class Asset(_Stored):
    id: str
    account_id: str
    project_id: str
    kind: AssetKind
    title: str
    filename: str | None = None
    mime_type: str
    size_bytes: int
    sha256: str | None = None
    storage_path: str | None = None  # binary assets only
    user_metadata: dict[str, Any] = {}
    scope: AssetScope = AssetScope.ACTIVE
    source: dict[str, Any] = {}  # e.g. {"type": "media_job", "jobId": ...}
    revision: int | None = None  # text documents and storyboards
    created_at: dt.datetime
    updated_at: dt.datetime
