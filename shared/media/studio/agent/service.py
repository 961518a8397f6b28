"""The Studio agent's operations: prepare, send (direct run), execute a plan, request state.

Invariants:
- Nothing paid runs without an approved plan: prepare only plans (one model call, paid
  tool calls turned into a priced plan, nothing submitted); a direct run offers the model
  no paid tool; execute submits exactly the plan's stored jobs, each with the plan-derived
  idempotency key, so any number of executes bill each planned job once.
- Execute checks the balance against the plan's not-yet-submitted jobs before submitting
  any, so a short balance is INSUFFICIENT_FUNDS with nothing billed and the plan pending.
- "Pre-approved" runs are exactly the zero-cost ones: a prompt whose plan holds no paid
  job answers execute_now; there is no standing approval of paid work.
- Prompts are rate-limited per account (PROMPTS_PER_MINUTE, prepare and direct runs
  together); the model's usage is not billed to the account.
- Every operation acts only on the caller's own project, plan and request (NOT_FOUND
  otherwise), and a refused call writes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.engine import clock, jobs, ledger, ratelimit
from shared.engine.errors import AppError, ErrorKind
from shared.engine.validate import DocId
from shared.media.jobs import service as media_jobs
from shared.media.studio import llm, workspace
from shared.media.studio.agent import plans, requests, runner, tools
from shared.media.studio.agent.plans import Plan, PlanStatus
from shared.media.studio.agent.requests import RequestKind

PROMPTS_PER_MINUTE: Final = 30
STUCK_AFTER: Final = dt.timedelta(minutes=1)
AgentModel = Literal["gpt-5.4-nano", "gpt-5.4-mini", "gpt-5.4"]
ReasoningLevel = Literal["default", "low", "medium", "high", "xhigh"]


class _Body(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, alias_generator=to_camel
    )


class AgentPrompt(_Body):
    """POST /api/v1/studio/agent/messages and /messages/prepare."""

    project_id: DocId
    prompt: Annotated[str, Field(min_length=2, max_length=12000)]
    agent_model: AgentModel = llm.DEFAULT_AGENT_MODEL  # type: ignore[assignment]
    reasoning_level: ReasoningLevel = "default"


class PlanExecute(_Body):
    """POST /api/v1/studio/agent/approval-plans/execute."""

    approval_plan_id: DocId


def _limit(account_id: str) -> None:
    ratelimit.hit(subject=f"studio-agent:{account_id}", limits=[(60, PROMPTS_PER_MINUTE)])


def _thread_id(account_id: str, body: AgentPrompt) -> str:
    """The project's most recent conversation, or a new one."""
    found = workspace.list_threads(account_id, body.project_id, limit=50)
    if found:
        return found[0].id
    return workspace.create_thread(
        account_id=account_id,
        project_id=body.project_id,
        agent_model=body.agent_model,
        reasoning_level=body.reasoning_level,
    ).id


def prepare(*, account_id: str, body: AgentPrompt) -> dict[str, Any]:
    workspace.owned_project(account_id, body.project_id)
    _limit(account_id)
    reply = llm.complete_chat(
        [
            {"role": "system", "content": runner.SYSTEM_PROMPT},
            {"role": "user", "content": body.prompt},
        ],
        tools.PLAN_TOOLS,
        body.agent_model,
        reasoning_level=body.reasoning_level,
        settings=runner.llm_settings(),
    )
    paid = [c for c in reply.tool_calls if c.name == tools.SUBMIT_MEDIA_JOB]
    if not paid:
        return {"mode": "execute_now", "projectId": body.project_id, **plans.money(0)}
    planned = [plans.normalise_job(call.arguments) for call in paid]
    plan = plans.create(
        account_id=account_id,
        project_id=body.project_id,
        thread_id=_thread_id(account_id, body),
        prompt=body.prompt,
        agent_model=body.agent_model,
        reasoning_level=body.reasoning_level,
        jobs=planned,
    )
    return {
        "mode": "approval_required",
        "projectId": body.project_id,
        "approvalPlan": plans.view(plan),
    }


def send(*, account_id: str, body: AgentPrompt) -> dict[str, Any]:
    workspace.owned_project(account_id, body.project_id)
    _limit(account_id)
    thread_id = _thread_id(account_id, body)
    request_id = requests.create(
        requests.new_document(
            account_id=account_id,
            project_id=body.project_id,
            thread_id=thread_id,
            kind=RequestKind.PROMPT,
            prompt=body.prompt,
            agent_model=body.agent_model,
            reasoning_level=body.reasoning_level,
        )
    )
    runner.enqueue(request_id)
    return {"requestId": request_id, "status": "queued", "threadId": thread_id}


def _check_funds(plan: Plan) -> None:
    """The plan's jobs not yet submitted must fit the available balance."""
    missing = sum(
        job.estimated_cost_usd_micros
        for i, job in enumerate(plan.jobs)
        if jobs.find_by_idempotency_key(
            account_id=plan.account_id, key=plans.idempotency_key(plan.id, i)
        )
        is None
    )
    available = ledger.balance(plan.account_id).available_micros
    if missing > available:
        raise AppError(
            ErrorKind.INSUFFICIENT_FUNDS,
            "insufficient credits for this plan",
            {"requiredUsdMicros": missing, "availableUsdMicros": available},
        )


def _executed(plan: Plan, status: int) -> tuple[dict[str, Any], int]:
    return {
        "approvalPlanId": plan.id,
        "status": plan.status.value,
        "requestId": plan.request_id,
        "projectId": plan.project_id,
        "threadId": plan.thread_id,
        "jobIds": plan.job_ids,
        **plans.money(plan.estimated_cost_usd_micros),
    }, status


def _restart_if_stuck(request_id: str) -> None:
    """An approved plan's request still queued long after approval lost its task (the
    approving execute died before enqueueing): enqueue it again (the loop leases it, so a
    duplicate task does nothing)."""
    found = requests.get(request_id)
    if (
        found is not None
        and found.status is requests.RequestStatus.QUEUED
        and clock.now() - found.created_at > STUCK_AFTER
    ):
        runner.enqueue(request_id)


def execute(*, account_id: str, body: PlanExecute) -> tuple[dict[str, Any], int]:
    """Approve and run the plan: (answer, 202) for the execute that approved it, (answer,
    200) for any execute of an already-approved plan (nothing new is submitted)."""
    plan = plans.owned(account_id, body.approval_plan_id)
    if plan.status is PlanStatus.APPROVED:
        _restart_if_stuck(plans.request_id_for(plan.id))
        return _executed(plan, 200)
    plans.check_live(plan)
    _check_funds(plan)
    job_ids = [
        media_jobs.submit(
            account_id=account_id,
            api_key=None,
            body={**job.body, "idempotencyKey": plans.idempotency_key(plan.id, i)},
        )["externalJobId"]
        for i, job in enumerate(plan.jobs)
    ]
    doc = requests.new_document(
        account_id=account_id,
        project_id=plan.project_id,
        thread_id=plan.thread_id,
        kind=RequestKind.PLAN,
        prompt=plan.prompt,
        agent_model=plan.agent_model,
        reasoning_level=plan.reasoning_level,
        plan_id=plan.id,
        job_ids=job_ids,
    )
    approved, won = plans.approve(plan, job_ids=job_ids, request_doc=doc)
    if won:
        runner.enqueue(plans.request_id_for(plan.id))
    return _executed(approved, 202 if won else 200)


def state(
    *, account_id: str, request_id: str, assistant_offset: int, tool_call_offset: int
) -> dict[str, Any]:
    found = requests.owned(account_id, request_id)
    return requests.view(
        found, assistant_offset=assistant_offset, tool_call_offset=tool_call_offset
    )
