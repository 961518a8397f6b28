"""Helpers for the Studio agent tests: the scripted OpenAI stand-in, the agent's routes,
and reads of what the agent wrote (plans, requests, jobs, assets) straight from Firestore."""

from __future__ import annotations

import time
from typing import Any

import httpx

from shared.engine.store import JOBS, db
from shared.media.studio import workspace
from shared.media.studio.models import ASSETS, PLANS, REQUESTS, THREADS
from tests.helpers import auth, site_url


def agent_url(stack: Any, path: str) -> str:
    return f"{site_url(stack, 'media')}/api/v1/studio/agent/{path}"


def script(stack: Any, rules: list[dict[str, Any]]) -> None:
    """Add rules to the stand-in (the first matching rule wins, newest first)."""
    url = f"http://127.0.0.1:{stack.ports['openai']}/_local/script"
    httpx.post(url, json={"rules": rules}, timeout=10).raise_for_status()


def project(account_id: str) -> str:
    return workspace.create_project(account_id=account_id, title="Agent project").id


def post(stack: Any, key: str, path: str, body: Any) -> httpx.Response:
    return httpx.post(agent_url(stack, path), json=body, headers=auth(key), timeout=60)


def state(stack: Any, key: str, params: dict[str, Any]) -> httpx.Response:
    return httpx.get(agent_url(stack, "requests"), params=params, headers=auth(key), timeout=30)


def follow(
    stack: Any, key: str, request_id: str, *, timeout: float = 240.0
) -> tuple[dict[str, Any], str, list[dict[str, Any]], list[dict[str, Any]]]:
    """Poll a request with the offsets each answer gives until it is done; answers (the last
    body, the concatenated text deltas, the concatenated tool-call deltas, every body)."""
    deadline = time.monotonic() + timeout
    text, events, seen = "", [], []
    params = {"requestId": request_id, "assistantOffset": 0, "toolCallOffset": 0}
    while time.monotonic() < deadline:
        response = state(stack, key, params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen.append(body)
        text += body["assistantDelta"]
        events += body["toolCallDeltas"]
        params["assistantOffset"] = body["assistantOffset"]
        params["toolCallOffset"] = body["toolCallOffset"]
        if body["done"]:
            return body, text, events, seen
        time.sleep(0.05)
    raise AssertionError(f"agent request {request_id} not done after {timeout}s")


def docs(collection: str, account_id: str) -> list[dict[str, Any]]:
    query = db().collection(collection).where("account_id", "==", account_id)
    return [{"id": s.id, **s.to_dict()} for s in query.stream()]


def plans_of(account_id: str) -> list[dict[str, Any]]:
    return docs(PLANS, account_id)


def requests_of(account_id: str) -> list[dict[str, Any]]:
    return docs(REQUESTS, account_id)


def jobs_of(account_id: str) -> list[dict[str, Any]]:
    return docs(JOBS, account_id)


def assets_of(account_id: str) -> list[dict[str, Any]]:
    return docs(ASSETS, account_id)


def threads_of(account_id: str) -> list[dict[str, Any]]:
    return docs(THREADS, account_id)
