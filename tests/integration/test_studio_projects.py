"""Studio projects, settings, conversations and the workspace snapshot over HTTP, against the
running stack: happy paths, owner-only access, and bad input refused with nothing written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.engine import clock
from shared.engine.store import db
from shared.media.studio import workspace
from shared.media.studio.models import PLANS, REQUESTS, SETTINGS
from tests.helpers import auth
from tests.studio_helpers import Studio, studio, written_by


@pytest.fixture
def me(stack: Any) -> Studio:
    return studio(stack)


@pytest.fixture
def other(stack: Any) -> Studio:
    return studio(stack)


def test_project_create_and_update(me: Studio) -> None:
    r = me.call("POST", "/projects", json={"title": "Launch", "description": "Spring"})
    assert r.status_code == 201, r.text
    project = r.json()
    assert project["title"] == "Launch" and project["description"] == "Spring"
    assert project["id"].startswith("prj_") and project["createdAt"].endswith("Z")
    r = me.call("PATCH", "/projects/update", json={"projectId": project["id"], "title": "Ship"})
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "Ship" and r.json()["description"] == "Spring"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": "x"},
        {"title": "a" * 121},
        {"title": "ok title", "description": "d" * 4001},
        {"title": "ok title", "colour": "red"},
        {"title": 12},
        [],
    ],
)
def test_project_create_refuses_bad_bodies(me: Studio, body: Any) -> None:
    r = me.call("POST", "/projects", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_request"
    assert written_by(me.account_id)["studio_projects"] == 0


def test_project_update_is_owner_only(me: Studio, other: Studio) -> None:
    project_id = me.project("Mine")
    r = other.call("PATCH", "/projects/update", json={"projectId": project_id, "title": "Theirs"})
    assert r.status_code == 404
    assert workspace.owned_project(me.account_id, project_id).title == "Mine"
    r = me.call("PATCH", "/projects/update", json={"projectId": project_id, "title": "x"})
    assert r.status_code == 400
    assert workspace.owned_project(me.account_id, project_id).title == "Mine"


def test_unauthenticated_is_401(me: Studio) -> None:
    r = me.call("GET", "/snapshot", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


def test_settings_defaults_update_and_refusals(me: Studio) -> None:
    snap = me.call("GET", "/snapshot").json()
    assert snap["settings"]["defaultAgentModel"] == "gpt-5.4-mini"
    assert snap["settings"]["defaultReasoningLevel"] == "default"
    bad = [
        {"defaultAgentModel": "gpt-4", "defaultReasoningLevel": "low"},
        {"defaultAgentModel": "gpt-5.4"},
        {"defaultAgentModel": "gpt-5.4", "defaultReasoningLevel": "low", "x": 1},
        {
            "defaultAgentModel": "gpt-5.4",
            "defaultReasoningLevel": "low",
            "userDisplayName": "u" * 81,
        },
    ]
    for body in bad:
        r = me.call("PATCH", "/settings", json=body)
        assert r.status_code == 400, body
    assert not db().collection(SETTINGS).document(me.account_id).get().exists
    body = {
        "defaultAgentModel": "deepseek-chat",
        "defaultReasoningLevel": "high",
        "userDisplayName": "Kay",
    }
    r = me.call("PATCH", "/settings", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["defaultAgentModel"] == "deepseek-chat"
    assert r.json()["userDisplayName"] == "Kay" and r.json()["assistantDisplayName"] == ""
    assert me.call("GET", "/snapshot").json()["settings"]["defaultReasoningLevel"] == "high"


def test_threads_create_select_detail_rename(me: Studio, other: Studio) -> None:
    project_id = me.project()
    me.call(
        "PATCH", "/settings", json={"defaultAgentModel": "gpt-5.4", "defaultReasoningLevel": "low"}
    )
    r = me.call("POST", "/threads", json={"projectId": project_id})
    assert r.status_code == 201, r.text
    thread = r.json()
    assert thread["title"] == "New conversation" and thread["agentModel"] == "gpt-5.4"
    assert thread["reasoningLevel"] == "low" and thread["messages"] == []
    stored = workspace.owned_thread(me.account_id, thread["id"])
    workspace.append_message(thread=stored, role="user", content="hi")
    r = me.call("POST", "/threads/select", json={"threadId": thread["id"]})
    assert r.status_code == 200 and r.json()["messages"][0]["content"] == "hi"
    r = me.call("GET", "/threads/detail", params={"threadId": thread["id"]})
    assert r.status_code == 200 and r.json()["messageCount"] == 1
    r = me.call("PATCH", "/threads/update", json={"threadId": thread["id"], "title": "Ideas"})
    assert r.status_code == 200 and r.json()["title"] == "Ideas"
    snap = me.call("GET", "/snapshot").json()
    assert snap["activeThread"]["id"] == thread["id"] and snap["activeProjectId"] == project_id
    assert snap["activeThread"]["messages"][0]["content"] == "hi"
    # another account: every thread route is 404 and nothing is written
    before = written_by(other.account_id)
    assert other.call("POST", "/threads", json={"projectId": project_id}).status_code == 404
    assert other.call("POST", "/threads/select", json={"threadId": thread["id"]}).status_code == 404
    r = other.call("GET", "/threads/detail", params={"threadId": thread["id"]})
    assert r.status_code == 404
    r = other.call("PATCH", "/threads/update", json={"threadId": thread["id"], "title": "Mine"})
    assert r.status_code == 404
    assert written_by(other.account_id) == before
    assert workspace.owned_thread(me.account_id, thread["id"]).title == "Ideas"


def test_thread_bad_input_writes_nothing(me: Studio) -> None:
    project_id = me.project()
    before = written_by(me.account_id)
    for body in (
        {"projectId": project_id, "agentModel": "deepseek-chat"},
        {"projectId": project_id, "reasoningLevel": "max"},
        {"projectId": project_id, "title": "x"},
        {"projectId": ""},
        {"projectId": "a/b"},
        {"projectId": project_id, "extra": True},
    ):
        assert me.call("POST", "/threads", json=body).status_code == 400, body
    assert me.call("POST", "/threads", json={"projectId": "prj_missing"}).status_code == 404
    assert me.call("GET", "/threads/detail").status_code == 400
    assert me.call("POST", "/threads/select", json={"threadId": "thr_nope"}).status_code == 404
    assert written_by(me.account_id) == before


def test_snapshot_shows_runs_approvals_templates(me: Studio, other: Studio) -> None:
    empty = me.call("GET", "/snapshot").json()
    assert empty["projects"] == [] and empty["activeThread"] is None and empty["assets"] == []
    assert empty["publishingState"] == {"arcadeGames": []} and len(empty["templates"]) >= 3
    project_id = me.project()
    me.text(project_id)
    now = clock.now()
    db().collection(REQUESTS).document(f"req_{me.account_id}").set(
        {
            "account_id": me.account_id,
            "project_id": project_id,
            "thread_id": "t",
            "status": "running",
            "created_at": now,
        }
    )
    db().collection(PLANS).document(f"pln_{me.account_id}").set(
        {
            "account_id": me.account_id,
            "project_id": project_id,
            "status": "pending",
            "estimated_cost_usd_micros": 40_000,
            "created_at": now,
        }
    )
    db().collection(PLANS).document(f"pln_done_{me.account_id}").set(
        {"account_id": me.account_id, "status": "executed", "created_at": now}
    )
    snap = me.call("GET", "/snapshot").json()
    assert snap["activeProjectId"] == project_id and len(snap["assets"]) == 1
    assert [r["status"] for r in snap["workflowRuns"]] == ["running"]
    assert [(a["id"], a["estimatedCostUsdMicros"]) for a in snap["approvals"]] == [
        (f"pln_{me.account_id}", 40_000)
    ]
    theirs = other.call("GET", "/snapshot").json()
    assert theirs["projects"] == [] and theirs["workflowRuns"] == [] and theirs["approvals"] == []
    # publishing state: the caller's own arcade games, nobody else's
    slug = f"snap-{me.account_id[:12].lower()}"
    body = {"slug": slug, "title": "Snap", "shortDescription": "s", "description": "d"}
    r = httpx.post(f"{me.base}/arcade/games", json=body, headers=auth(me.key), timeout=60)
    assert r.status_code == 201, r.text
    games = me.call("GET", "/snapshot").json()["publishingState"]["arcadeGames"]
    assert [g["slug"] for g in games] == [slug]
    assert other.call("GET", "/snapshot").json()["publishingState"] == {"arcadeGames": []}


def test_hostile_json_is_a_4xx_and_writes_nothing(me: Studio) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    headers = {"Content-Type": "application/json"}
    r = me.call("POST", "/projects", content=deep, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
    huge = b'{"title": "' + b"x" * (2 << 20) + b'"}'
    r = me.call("POST", "/projects", content=huge, headers=headers)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    r = me.call("POST", "/projects", content=b"{not json", headers=headers)
    assert r.status_code == 400
    assert me.call("GET", "/nothing-here").status_code == 404
    assert me.call("DELETE", "/projects").status_code == 405
    assert written_by(me.account_id)["studio_projects"] == 0
