"""The Studio agent's edges: the loop's Cloud Task target (OIDC token, redelivery), expired
plans, broken provider replies, and the per-account prompt rate limit."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx

from shared.engine import clock
from shared.engine.store import db
from shared.media.studio import workspace
from shared.media.studio.agent.service import PROMPTS_PER_MINUTE
from shared.media.studio.models import PLANS, THREADS
from tests.helpers import media_account, task_headers
from tests.studio_agent_helpers import (
    follow,
    jobs_of,
    post,
    project,
    requests_of,
    script,
    threads_of,
)

FUNDS = 50_000_000


def _task(
    stack: Any, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    url = f"http://127.0.0.1:{stack.ports['functions']}/studio_agent_task"
    headers = task_headers("studio_agent_task") if headers is None else headers
    return httpx.post(url, json=body, headers=headers, timeout=60)


def test_the_task_target_needs_a_task_token_and_ignores_a_redelivery(stack: Any) -> None:
    account_id, key = media_account()
    project_id = project(account_id)
    sent = post(stack, key, "messages", {"projectId": project_id, "prompt": "hello agent"})
    assert sent.status_code == 202, sent.text
    request_id = sent.json()["requestId"]
    final, text, _, _ = follow(stack, key, request_id)
    assert final["status"] == "completed" and text == "Echo: hello agent"
    assert _task(stack, {"request_id": request_id}, headers={}).status_code == 401
    # A token for another target (its audience) is refused too.
    swept = _task(stack, {"request_id": request_id}, headers=task_headers("task_sweep"))
    assert swept.status_code == 401
    again = _task(stack, {"request_id": request_id})
    assert again.status_code == 200 and again.json()["outcome"] == "nothing to do"
    assert _task(stack, {"request_id": "req_unknown"}).json()["outcome"] == "nothing to do"
    assert _task(stack, {"nope": 1}).status_code == 400
    (thread,) = threads_of(account_id)
    assert thread["message_count"] == 2  # the redelivery wrote nothing


def test_an_expired_plan_is_410_and_submits_nothing(stack: Any) -> None:
    account_id, key = media_account(micros=FUNDS)
    project_id = project(account_id)
    token = uuid.uuid4().hex[:12]
    job = {"task": "image.generate", "input": {"prompt": "fox", "width": 64, "height": 64}}
    script(
        stack, [{"match": token, "tool_calls": [{"name": "submit_media_job", "arguments": job}]}]
    )
    r = post(stack, key, "messages/prepare", {"projectId": project_id, "prompt": f"fox {token}"})
    plan_id = r.json()["approvalPlan"]["id"]
    past = clock.now() - dt.timedelta(seconds=1)
    db().collection(PLANS).document(plan_id).update({"expires_at": past})
    r = post(stack, key, "approval-plans/execute", {"approvalPlanId": plan_id})
    assert r.status_code == 410 and r.json()["error"]["code"] == "gone", r.text
    assert db().collection(PLANS).document(plan_id).get().get("status") == "expired"
    assert jobs_of(account_id) == [] and requests_of(account_id) == []
    r = post(stack, key, "approval-plans/execute", {"approvalPlanId": plan_id})
    assert r.status_code == 410, r.text


def test_a_broken_provider_reply_fails_the_request_with_its_reason(stack: Any) -> None:
    account_id, key = media_account()
    project_id = project(account_id)
    token = uuid.uuid4().hex[:12]
    bad = {"name": "list_assets", "arguments": "{not json"}
    script(stack, [{"match": token, "tool_calls": [bad]}])
    sent = post(stack, key, "messages", {"projectId": project_id, "prompt": f"list {token}"})
    final, _, events, _ = follow(stack, key, sent.json()["requestId"])
    assert final["status"] == "failed" and final["done"] is True
    assert final["error"]["code"] == "provider_unavailable"
    assert "not a JSON object" in final["error"]["message"]
    # The pieces that streamed before the reply broke stay readable.
    assert {e["type"] for e in events} == {"call"}
    assert "".join(e["arguments"] for e in events) == "{not json"
    # prepare meets the same reply synchronously: the site's 503, nothing written.
    r = post(stack, key, "messages/prepare", {"projectId": project_id, "prompt": f"list {token}"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable", r.text
    assert len(requests_of(account_id)) == 1


def test_prompts_are_rate_limited_per_account(stack: Any) -> None:
    account_id, key = media_account()
    project_id = project(account_id)
    body = {"projectId": project_id, "prompt": "just chatting"}
    # A fixed window may roll over mid-test: at most two windows' worth pass before a 429.
    codes: list[int] = []
    while 429 not in codes and len(codes) <= 2 * PROMPTS_PER_MINUTE:
        r = post(stack, key, "messages/prepare", body)
        codes.append(r.status_code)
    assert codes[-1] == 429 and set(codes[:-1]) == {200}, codes
    assert PROMPTS_PER_MINUTE <= len(codes) - 1 <= 2 * PROMPTS_PER_MINUTE
    assert r.json()["error"]["code"] == "rate_limited", r.text
    assert int(r.headers["Retry-After"]) > 0
    _, other = media_account()
    other_project = project(_)
    r = post(stack, other, "messages/prepare", {"projectId": other_project, "prompt": "hi there"})
    assert r.status_code == 200, r.text
    assert db().collection(THREADS).where("account_id", "==", account_id).get() == []


def test_an_approved_plan_whose_task_was_lost_is_restarted_by_the_next_execute(
    stack: Any,
) -> None:
    from shared.media.studio.agent import plans, requests  # the stored shapes, written directly

    account_id, key = media_account()
    project_id = project(account_id)
    thread_id = workspace.create_thread(account_id=account_id, project_id=project_id).id
    plan = plans.create(
        account_id=account_id,
        project_id=project_id,
        thread_id=thread_id,
        prompt="nothing paid",
        agent_model="gpt-5.4-mini",
        reasoning_level="default",
        jobs=[],
    )
    doc = requests.new_document(
        account_id=account_id,
        project_id=project_id,
        thread_id=thread_id,
        kind=requests.RequestKind.PLAN,
        prompt=plan.prompt,
        agent_model=plan.agent_model,
        reasoning_level=plan.reasoning_level,
        plan_id=plan.id,
    )
    doc["created_at"] = clock.now() - dt.timedelta(minutes=5)
    plans.approve(plan, job_ids=[], request_doc=doc)  # ... and the task was never enqueued
    r = post(stack, key, "approval-plans/execute", {"approvalPlanId": plan.id})
    assert r.status_code == 200 and r.json()["requestId"] == plans.request_id_for(plan.id)
    final, text, _, _ = follow(stack, key, plans.request_id_for(plan.id), timeout=60)
    assert final["status"] == "completed" and "ran 0 job(s)" in text
