"""The Studio agent over HTTP against the real stack and the scripted OpenAI stand-in:
prepare (execute_now or a priced approval plan), execute (once, however often it is sent),
the Cloud Task loop, and agent/requests deltas that reassemble the streamed reply."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.engine import ledger
from shared.engine.store import db
from shared.media.jobs import pricing
from shared.media.jobs.request import parse_request
from shared.media.studio.models import PLANS
from tests.helpers import media_account, wait_at_rest
from tests.studio_agent_helpers import (
    assets_of,
    follow,
    jobs_of,
    plans_of,
    post,
    project,
    requests_of,
    script,
    state,
    threads_of,
)

FUNDS = 50_000_000


def _token() -> str:
    return uuid.uuid4().hex[:12]


def _image_rule(token: str, **fields: Any) -> dict[str, Any]:
    job = {"task": "image.generate", "input": {"prompt": f"a red fox {token}", **fields}}
    return {"match": token, "tool_calls": [{"name": "submit_media_job", "arguments": job}]}


def _small_image(token: str) -> dict[str, Any]:
    return _image_rule(token, width=64, height=64, outputFormat="png")


def _plan(stack: Any, key: str, project_id: str, token: str) -> dict[str, Any]:
    r = post(stack, key, "messages/prepare", {"projectId": project_id, "prompt": f"fox {token}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "approval_required", body
    return body["approvalPlan"]


def test_prepare_zero_cost_answers_execute_now(stack: Any) -> None:
    account_id, key = media_account(micros=FUNDS)
    project_id = project(account_id)
    token = _token()
    script(stack, [{"match": token, "content": "An outline, coming right up."}])
    body = {"projectId": project_id, "prompt": f"outline {token}", "agentModel": "gpt-5.4-nano"}
    r = post(stack, key, "messages/prepare", body)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "mode": "execute_now",
        "projectId": project_id,
        "estimatedCostUsdMicros": 0,
        "estimatedCostUsd": "0.000000",
    }
    assert plans_of(account_id) == [] and requests_of(account_id) == []


def test_prepare_paid_persists_a_plan_priced_by_the_table(stack: Any) -> None:
    account_id, key = media_account(micros=FUNDS)
    project_id = project(account_id)
    token = _token()
    script(stack, [_small_image(token)])
    plan = _plan(stack, key, project_id, token)
    expected_job = _small_image(token)["tool_calls"][0]["arguments"]
    price = pricing.quote(parse_request(expected_job)).micros
    assert price > 0
    assert plan["estimatedCostUsdMicros"] == price
    assert plan["estimatedCostUsd"] == f"0.{price:06d}"
    (job,) = plan["jobs"]
    assert (job["task"], job["input"], job["estimatedCostUsdMicros"]) == (
        "image.generate",
        expected_job["input"],
        price,
    )
    stored = db().collection(PLANS).document(plan["id"]).get().to_dict()
    assert stored["status"] == "pending" and stored["estimated_cost_usd_micros"] == price
    assert stored["jobs"][0]["body"] == expected_job
    assert jobs_of(account_id) == []  # planning submits nothing


def test_execute_sent_five_times_bills_the_plan_once_and_attaches_the_image(stack: Any) -> None:
    account_id, key = media_account(micros=FUNDS)
    project_id = project(account_id)
    token = _token()
    script(stack, [_small_image(token)])
    plan = _plan(stack, key, project_id, token)
    with ThreadPoolExecutor(5) as pool:
        answers = list(
            pool.map(
                lambda _: post(
                    stack, key, "approval-plans/execute", {"approvalPlanId": plan["id"]}
                ),
                range(5),
            )
        )
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 202], [
        a.text for a in answers
    ]
    request_ids = {a.json()["requestId"] for a in answers}
    assert len(request_ids) == 1
    (request_id,) = request_ids
    assert len(jobs_of(account_id)) == 1
    assert len(requests_of(account_id)) == 1
    final, text, events, _ = follow(stack, key, request_id)
    assert final["status"] == "completed", final
    (asset_id,) = final["assetIds"]
    (asset,) = [a for a in assets_of(account_id) if a["id"] == asset_id]
    (job,) = jobs_of(account_id)
    assert asset["project_id"] == project_id and asset["kind"] == "media"
    assert asset["source"]["jobId"] == job["id"] and asset["mime_type"] == "image/png"
    assert "added to the project's assets" in text
    assert [e["type"] for e in events] == ["call", "result"]
    # A sixth execute, after the run: the same request, nothing new submitted or billed.
    again = post(stack, key, "approval-plans/execute", {"approvalPlanId": plan["id"]})
    assert (again.status_code, again.json()["requestId"]) == (200, request_id)
    assert len(jobs_of(account_id)) == 1 and len(assets_of(account_id)) == 1
    wait_at_rest(account_id)
    money = ledger.balance(account_id)
    assert (money.available_micros, money.held_micros) == (
        FUNDS - plan["estimatedCostUsdMicros"],
        0,
    )


def test_request_deltas_reassemble_the_streamed_reply(stack: Any) -> None:
    account_id, key = media_account()
    project_id = project(account_id)
    token = _token()
    long_reply = " ".join(f"line {i}: the fox crosses the river {token}." for i in range(80))
    arguments = {"title": "Fox notes", "content": "The fox crosses the river."}
    script(
        stack,
        [
            {
                "match": token,
                "content": long_reply,
                "tool_calls": [{"name": "create_text_document", "arguments": arguments}],
                "piece_delay_ms": 4,
            },
            {"match": token, "after_tool_result": True, "content": "Saved the notes."},
        ],
    )
    sent = post(stack, key, "messages", {"projectId": project_id, "prompt": f"notes {token}"})
    assert sent.status_code == 202, sent.text
    request_id = sent.json()["requestId"]
    assert sent.json()["status"] == "queued"
    final, text, events, seen = follow(stack, key, request_id)
    assert final["status"] == "completed", final
    assert text == long_reply + "\n\n" + "Saved the notes."
    # Polled while it streamed: some answer held part of the reply, not all of it.
    assert any(0 < b["assistantOffset"] < len(long_reply) for b in seen)
    calls = [e for e in events if e["type"] == "call"]
    assert calls[0]["name"] == "create_text_document" and calls[0]["id"]
    assert json.loads("".join(e["arguments"] for e in calls)) == arguments
    (result,) = [e for e in events if e["type"] == "result"]
    assert result["status"] == "completed"
    (asset_id,) = final["assetIds"]
    assert result["result"]["assetId"] == asset_id
    (asset,) = assets_of(account_id)
    assert (asset["kind"], asset["title"]) == ("text", "Fox notes")
    # Offsets past the end are an empty delta, not an error.
    far = state(stack, key, {"requestId": request_id, "assistantOffset": 10**9})
    assert far.status_code == 200 and far.json()["assistantDelta"] == ""
    (thread,) = threads_of(account_id)
    assert thread["message_count"] == 2


def test_a_direct_run_offers_no_paid_tool(stack: Any) -> None:
    account_id, key = media_account(micros=FUNDS)
    project_id = project(account_id)
    prompt = f"draw me an image of a fox {_token()}"  # the stand-in's built-in image rule
    sent = post(stack, key, "messages", {"projectId": project_id, "prompt": prompt})
    assert sent.status_code == 202, sent.text
    final, text, events, _ = follow(stack, key, sent.json()["requestId"])
    assert final["status"] == "completed" and text == f"Echo: {prompt}"
    assert events == [] and jobs_of(account_id) == []
    assert ledger.balance(account_id).available_micros == FUNDS
    # The same prompt prepared: the built-in rule plans an image.generate job.
    r = post(stack, key, "messages/prepare", {"projectId": project_id, "prompt": prompt})
    assert r.status_code == 200 and r.json()["mode"] == "approval_required", r.text


def test_another_account_gets_404(stack: Any) -> None:
    owner_id, owner_key = media_account(micros=FUNDS)
    _, other_key = media_account(micros=FUNDS)
    project_id = project(owner_id)
    token = _token()
    script(stack, [_small_image(token)])
    plan = _plan(stack, owner_key, project_id, token)
    sent = post(stack, owner_key, "messages", {"projectId": project_id, "prompt": "hello"})
    request_id = sent.json()["requestId"]
    for path, body in (
        ("approval-plans/execute", {"approvalPlanId": plan["id"]}),
        ("messages/prepare", {"projectId": project_id, "prompt": f"fox {token}"}),
        ("messages", {"projectId": project_id, "prompt": "hello"}),
    ):
        r = post(stack, other_key, path, body)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    r = state(stack, other_key, {"requestId": request_id})
    assert r.status_code == 404, r.text
    stored = db().collection(PLANS).document(plan["id"]).get().to_dict()
    assert stored["status"] == "pending" and jobs_of(owner_id) == []


BAD_PROMPTS = [
    {"prompt": "hello"},
    {"projectId": "", "prompt": "hello"},
    {"projectId": "P", "prompt": "x"},
    {"projectId": "P", "prompt": "x" * 12001},
    {"projectId": "P", "prompt": "hello", "agentModel": "gpt-4o"},
    {"projectId": "P", "prompt": "hello", "reasoningLevel": "max"},
    {"projectId": "P", "prompt": "hello", "temperature": 1},
    {"projectId": "P", "prompt": 12345},
    ["projectId", "P"],
]


@pytest.mark.parametrize("path", ["messages/prepare", "messages"])
@pytest.mark.parametrize("index", range(len(BAD_PROMPTS)))
def test_bad_prompt_bodies_are_400_with_nothing_written(stack: Any, path: str, index: int) -> None:
    account_id, key = media_account(micros=FUNDS)
    project_id = project(account_id)
    body = json.loads(json.dumps(BAD_PROMPTS[index]).replace('"P"', json.dumps(project_id)))
    r = post(stack, key, path, body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request", r.text
    assert plans_of(account_id) == [] and requests_of(account_id) == []
    assert jobs_of(account_id) == [] and threads_of(account_id) == []


@pytest.mark.parametrize(
    "body", [{}, {"approvalPlanId": ""}, {"approvalPlanId": 7}, {"approvalPlanId": "a", "x": 1}]
)
def test_bad_execute_bodies_are_400(stack: Any, body: dict[str, Any]) -> None:
    account_id, key = media_account(micros=FUNDS)
    r = post(stack, key, "approval-plans/execute", body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request", r.text
    assert jobs_of(account_id) == [] and requests_of(account_id) == []


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"requestId": ""},
        {"requestId": "r", "assistantOffset": "-1"},
        {"requestId": "r", "assistantOffset": "abc"},
        {"requestId": "r", "toolCallOffset": "\uff11"},  # a fullwidth digit
        {"requestId": "r", "toolCallOffset": "1.5"},
    ],
)
def test_bad_request_queries_are_400(stack: Any, params: dict[str, str]) -> None:
    _, key = media_account()
    r = state(stack, key, params)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request", r.text


def test_an_invalid_planned_job_is_400_and_no_plan(stack: Any) -> None:
    account_id, key = media_account(micros=FUNDS)
    project_id = project(account_id)
    token = _token()
    script(stack, [_image_rule(token, width=33, height=64)])  # not a multiple of 32
    r = post(stack, key, "messages/prepare", {"projectId": project_id, "prompt": f"fox {token}"})
    assert r.status_code == 400 and "input.width" in r.json()["error"]["message"], r.text
    assert plans_of(account_id) == [] and threads_of(account_id) == []


def test_unknown_plan_and_request_are_404(stack: Any) -> None:
    _, key = media_account(micros=FUNDS)
    r = post(stack, key, "approval-plans/execute", {"approvalPlanId": "apl_missing"})
    assert r.status_code == 404, r.text
    assert state(stack, key, {"requestId": "req_missing"}).status_code == 404


def test_insufficient_funds_is_402_and_the_plan_stays_pending(stack: Any) -> None:
    account_id, key = media_account(micros=10)
    project_id = project(account_id)
    token = _token()
    script(stack, [_small_image(token)])
    plan = _plan(stack, key, project_id, token)
    r = post(stack, key, "approval-plans/execute", {"approvalPlanId": plan["id"]})
    assert r.status_code == 402 and r.json()["error"]["code"] == "insufficient_credits", r.text
    stored = db().collection(PLANS).document(plan["id"]).get().to_dict()
    assert stored["status"] == "pending" and stored.get("request_id") is None
    assert jobs_of(account_id) == [] and requests_of(account_id) == []
    money = ledger.balance(account_id)
    assert (money.available_micros, money.held_micros) == (10, 0)
