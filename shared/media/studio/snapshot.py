"""The Studio workspace snapshot: everything the Studio screen opens with, in one answer.

Invariants: every part is the caller's own (queries filter on `account_id`); the active
project is the selected conversation's project, else the most recently updated project; the
asset list is that project's first page in the active scope; workflow runs and approvals are
read from the agent's collections (snake_case fields written by shared/media/studio/agent/)
by equality filters only and sorted here, newest first, at most RECENT of each.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.engine import clock
from shared.engine.errors import AppError
from shared.engine.store import db
from shared.media.studio import listing, settings, views, workspace
from shared.media.studio.models import PLANS, REQUESTS

RECENT: Final = 20
SCAN: Final = 500
TEMPLATES: Final = (
    {
        "id": "tpl_product_shot",
        "title": "Product shot",
        "prompt": "Create a clean studio product photo of my product on a soft gradient.",
        "category": "image",
    },
    {
        "id": "tpl_storyboard",
        "title": "Storyboard a short video",
        "prompt": "Write a six-shot storyboard for a 30-second video about my idea.",
        "category": "storyboard",
    },
    {
        "id": "tpl_script",
        "title": "Draft a script",
        "prompt": "Draft a one-page script with a hook, three beats and a call to action.",
        "category": "text",
    },
    {
        "id": "tpl_jingle",
        "title": "Jingle",
        "prompt": "Compose a 15-second upbeat jingle for my brand.",
        "category": "audio",
    },
)


def publishing_state(account_id: str) -> dict[str, Any]:
    """The account's publishing state: its arcade games, each with the releases its `dev`
    and `live` channels play (the arcade's own game view)."""
    from shared.media.arcade import games as arcade_games
    from shared.media.arcade.views import game_view

    return {"arcadeGames": [game_view(game) for game in arcade_games.mine(account_id)]}


def _recent(collection: str, account_id: str, **equal: str) -> list[dict[str, Any]]:
    query = db().collection(collection).where(filter=FieldFilter("account_id", "==", account_id))
    for field, value in equal.items():
        query = query.where(filter=FieldFilter(field, "==", value))
    rows = [{"id": s.id, **(s.to_dict() or {})} for s in query.limit(SCAN).stream()]
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    rows.sort(key=lambda r: r.get("created_at") or oldest, reverse=True)
    return rows[:RECENT]


def _workflow_runs(account_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": row["id"],
            "status": row.get("status"),
            "projectId": row.get("project_id"),
            "threadId": row.get("thread_id"),
            "createdAt": clock.iso(row.get("created_at")),
        }
        for row in _recent(REQUESTS, account_id)
    ]


def _approvals(account_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": row["id"],
            "projectId": row.get("project_id"),
            "threadId": row.get("thread_id"),
            "estimatedCostUsdMicros": row.get("estimated_cost_usd_micros"),
            "createdAt": clock.iso(row.get("created_at")),
        }
        for row in _recent(PLANS, account_id, status="pending")
    ]


def build(account_id: str) -> dict[str, Any]:
    projects = workspace.list_projects(account_id)
    active_project_id, active_thread_id = settings.active(account_id)
    active_thread = None
    if active_thread_id:
        try:
            thread = workspace.owned_thread(account_id, active_thread_id)
            active_thread = views.thread_detail(thread, workspace.messages(thread))
        except AppError:
            active_project_id = None
    if active_project_id not in {p.id for p in projects}:
        active_project_id = projects[0].id if projects else None
    page = None
    if active_project_id:
        page = listing.list_assets(account_id=account_id, project_id=active_project_id)
    return {
        "settings": settings.read(account_id),
        "projects": [views.project(p) for p in projects],
        "activeProjectId": active_project_id,
        "activeThread": active_thread,
        "assets": [views.asset(a) for a in page.assets] if page else [],
        "assetsTotal": page.total if page else 0,
        "workflowRuns": _workflow_runs(account_id),
        "approvals": _approvals(account_id),
        "templates": [dict(t) for t in TEMPLATES],
        "publishingState": publishing_state(account_id),
    }
