"""Approval plans (`studio_plans/<planId>`): the persisted, normalised paid-job bundle.

Invariants:
- A plan's `jobs` are MediaJobRequest bodies that passed `parse_request` when the plan was
  made, each priced by the one media price table (`pricing.quote`); the plan's estimate is
  their sum. Execute runs exactly these bodies, never a replanned bundle.
- Job `i` of plan `p` is submitted with idempotencyKey `studio-<p>-<i>`, so any number of
  executes (retried or concurrent) make one job, one hold, per planned job.
- Status moves only pending -> approved (after every job was submitted) or pending ->
  expired (past `expires_at`). The approval's one request has the id
  `request_id_for(plan)`, created with `create()`, so racing executes make one request.
- A plan is visible only to its account; anyone else gets NOT_FOUND.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.media.jobs import pricing
from shared.media.jobs.request import parse_request
from shared.media.jobs.views import usd
from shared.media.studio.models import PLANS, new_id

PLAN_TTL: Final = dt.timedelta(hours=1)
MAX_PLAN_JOBS: Final = 8


class PlanStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EXPIRED = "expired"


class PlannedJob(BaseModel):
    model_config = ConfigDict(frozen=True)
    body: dict[str, Any]  # {task, input}: a MediaJobRequest without client-only keys
    estimated_cost_usd_micros: int
    pricing_meta: dict[str, Any] = {}


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    id: str
    account_id: str
    project_id: str
    thread_id: str
    prompt: str
    agent_model: str
    reasoning_level: str
    jobs: list[PlannedJob]
    estimated_cost_usd_micros: int
    status: PlanStatus = PlanStatus.PENDING
    request_id: str | None = None
    job_ids: list[str] = []
    created_at: dt.datetime
    expires_at: dt.datetime
    approved_at: dt.datetime | None = None


def idempotency_key(plan_id: str, index: int) -> str:
    return f"studio-{plan_id}-{index}"


def request_id_for(plan_id: str) -> str:
    return f"req_{plan_id}"


def normalise_job(arguments: dict[str, Any]) -> PlannedJob:
    """A model's submit_media_job arguments as a priced, validated job body. Only `task`
    and `input` are kept (an idempotency key or callback URL is ours to set, not the
    model's); an invalid body is INVALID naming the field, and never reaches a plan."""
    body = {"task": arguments.get("task"), "input": arguments.get("input")}
    request = parse_request(body)
    quote = pricing.quote(request)
    return PlannedJob(
        body={"task": request.task, "input": body["input"]},
        estimated_cost_usd_micros=quote.micros,
        pricing_meta=quote.meta,
    )


def create(
    *,
    account_id: str,
    project_id: str,
    thread_id: str,
    prompt: str,
    agent_model: str,
    reasoning_level: str,
    jobs: list[PlannedJob],
) -> Plan:
    if len(jobs) > MAX_PLAN_JOBS:
        raise AppError(
            ErrorKind.INVALID, f"prompt: asks for more than {MAX_PLAN_JOBS} paid jobs at once"
        )
    now = clock.now()
    plan = Plan(
        id=new_id("apl"),
        account_id=account_id,
        project_id=project_id,
        thread_id=thread_id,
        prompt=prompt,
        agent_model=agent_model,
        reasoning_level=reasoning_level,
        jobs=jobs,
        estimated_cost_usd_micros=sum(j.estimated_cost_usd_micros for j in jobs),
        created_at=now,
        expires_at=now + PLAN_TTL,
    )
    db().collection(PLANS).document(plan.id).create(plan.model_dump(exclude={"id"}))
    return plan


def owned(account_id: str, plan_id: str) -> Plan:
    snap = db().collection(PLANS).document(plan_id).get()
    data = snap.to_dict() if snap.exists else None
    if data is None or data.get("account_id") != account_id:
        raise AppError(ErrorKind.NOT_FOUND, "approval plan not found")
    return Plan(id=snap.id, **data)


def approve(plan: Plan, *, job_ids: list[str], request_doc: dict[str, Any]) -> tuple[Plan, bool]:
    """Mark the plan approved with its submitted job ids and create its one request.

    The request document's `create()` is the arbiter (no transaction: five executes racing
    on one plan would contend for its lock): exactly one execute creates it and answers
    (plan, True); the others answer (plan, False). Every execute then writes the same
    approval (the job ids are the same: the submits were idempotent), so an execute that
    died between the two writes is completed by the next one. The caller checked expiry
    (`check_live`) before submitting, so a plan that expires mid-execute is still approved,
    never left billed and unapproved."""
    from google.api_core import exceptions as gexc

    from shared.media.studio.models import REQUESTS

    request_id = request_id_for(plan.id)
    try:
        db().collection(REQUESTS).document(request_id).create(request_doc)
        won = True
    except gexc.AlreadyExists:
        won = False
    changes: dict[str, Any] = {
        "status": PlanStatus.APPROVED.value,
        "job_ids": job_ids,
        "request_id": request_id,
    }
    if won:
        changes["approved_at"] = clock.now()
    db().collection(PLANS).document(plan.id).update(changes)
    return owned(plan.account_id, plan.id), won


def check_live(plan: Plan) -> None:
    """GONE (and the plan marked expired) once it is past `expires_at` or already expired."""
    if plan.status is PlanStatus.EXPIRED or plan.expires_at <= clock.now():
        if plan.status is PlanStatus.PENDING:
            db().collection(PLANS).document(plan.id).update({"status": PlanStatus.EXPIRED})
        raise AppError(ErrorKind.GONE, "approval plan expired; prepare the prompt again")


def money(micros: int) -> dict[str, Any]:
    return {"estimatedCostUsdMicros": micros, "estimatedCostUsd": usd(micros)}


def view(plan: Plan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "status": plan.status.value,
        "projectId": plan.project_id,
        "threadId": plan.thread_id,
        "prompt": plan.prompt,
        "agentModel": plan.agent_model,
        "reasoningLevel": plan.reasoning_level,
        "jobs": [
            {
                "index": i,
                "task": job.body["task"],
                "input": job.body["input"],
                **money(job.estimated_cost_usd_micros),
                "pricingMeta": job.pricing_meta,
            }
            for i, job in enumerate(plan.jobs)
        ],
        **money(plan.estimated_cost_usd_micros),
        "createdAt": clock.iso(plan.created_at),
        "expiresAt": clock.iso(plan.expires_at),
    }
