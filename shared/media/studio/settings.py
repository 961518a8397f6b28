"""Studio settings: one document per account (`studio_settings/<accountId>`).

Invariants: before the first PATCH an account reads the defaults (DEFAULTS); a PATCH stores
the whole settings object the document describes (the two required fields and the optional
display names and instructions, which keep their stored value when absent). Selecting a
conversation stores its id and its project's id in the same document, only after the
conversation is proven the caller's (anyone else's id is NOT_FOUND and nothing is written).
"""

from __future__ import annotations

from typing import Any, Final

from shared.engine import clock
from shared.engine.store import db
from shared.media.studio import workspace
from shared.media.studio.bodies import THREAD_MODELS, SettingsUpdate
from shared.media.studio.llm import DEFAULT_AGENT_MODEL
from shared.media.studio.models import SETTINGS, Thread

DEFAULTS: Final[dict[str, Any]] = {
    "userDisplayName": "",
    "assistantDisplayName": "",
    "conversationStarterInstructions": "",
    "defaultAgentModel": DEFAULT_AGENT_MODEL,
    "defaultReasoningLevel": workspace.DEFAULT_REASONING,
}
_FIELDS: Final = {
    "user_display_name": "userDisplayName",
    "assistant_display_name": "assistantDisplayName",
    "conversation_starter_instructions": "conversationStarterInstructions",
    "default_agent_model": "defaultAgentModel",
    "default_reasoning_level": "defaultReasoningLevel",
}


def _stored(account_id: str) -> dict[str, Any]:
    snap = db().collection(SETTINGS).document(account_id).get()
    return (snap.to_dict() or {}) if snap.exists else {}


def read(account_id: str) -> dict[str, Any]:
    """The settings answer: every field, defaults where never set, plus `updatedAt`."""
    stored = _stored(account_id)
    answer = {wire: stored.get(field, DEFAULTS[wire]) for field, wire in _FIELDS.items()}
    answer["updatedAt"] = clock.iso(stored.get("updated_at"))
    return answer


def active(account_id: str) -> tuple[str | None, str | None]:
    """(active project id, active thread id) as last selected, or Nones."""
    stored = _stored(account_id)
    return stored.get("active_project_id"), stored.get("active_thread_id")


def update(*, account_id: str, body: SettingsUpdate) -> dict[str, Any]:
    changes: dict[str, Any] = {
        field: value
        for field, value in body.model_dump().items()
        if field in _FIELDS and value is not None
    }
    changes.update({"account_id": account_id, "updated_at": clock.now()})
    db().collection(SETTINGS).document(account_id).set(changes, merge=True)
    return read(account_id)


def select_thread(*, account_id: str, thread_id: str) -> Thread:
    thread = workspace.owned_thread(account_id, thread_id)
    db().collection(SETTINGS).document(account_id).set(
        {
            "account_id": account_id,
            "active_thread_id": thread.id,
            "active_project_id": thread.project_id,
            "updated_at": clock.now(),
        },
        merge=True,
    )
    return thread


def thread_defaults(account_id: str) -> tuple[str, str]:
    """(agentModel, reasoningLevel) for a new conversation: the settings' defaults, where
    the settings' model is one a conversation may use (else the site default)."""
    current = read(account_id)
    model = current["defaultAgentModel"]
    return (model if model in THREAD_MODELS else DEFAULT_AGENT_MODEL), current[
        "defaultReasoningLevel"
    ]
