"""Vibe Earning's public shapes: the requests it parses and the bodies it renders.

One renderer per resource, used by the HTTP doorway and by the services that send
webhooks, so a job's webhook payload is always exactly its `GET /jobs/{id}` body.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from shared.engine import clock
from shared.engine.jobs import JobRecord, JobState
from shared.engine.validate import FieldKey
from shared.grid import fields, pricing

if TYPE_CHECKING:  # the services import this module for its request models
    from shared.grid.credits import Payout, Summary
    from shared.grid.usage import Usage
    from shared.grid.workers import CatalogEntry

MAX_PROMPT_CHARS = 200_000
CREDIT_VALUE_USD = 0.01
STATUS_WORDS = {
    JobState.PENDING: "pending",
    JobState.QUEUED: "pending",
    JobState.CLAIMED: "claimed",
    JobState.RUNNING: "running",
    JobState.COMPLETED: "completed",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "cancelled",
}


class JobCreateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: StrictStr | None = Field(default=None, max_length=200)
    model_match: Literal["exact", "family", "any"] = "family"
    prompt: StrictStr = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    priority: StrictInt | None = Field(default=None, ge=-1000, le=1000)
    timeout_seconds: StrictInt = Field(default=600, ge=1, le=86_400)
    tag: FieldKey | None = Field(default=None, max_length=100)  # a map key in usage counters
    webhook_url: StrictStr | None = Field(default=None, max_length=2048)
    priority_boost: StrictBool = False
    blob_ids: list[StrictInt] = Field(default_factory=list, max_length=20)

    def fingerprint(self) -> str:
        """sha256 of the request's canonical JSON (defaults filled in, keys sorted): the
        same Idempotency-Key with another request is refused."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class PriorityChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    priority: StrictInt = Field(ge=-1000, le=1000)


class ResultRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    output: StrictStr = Field(max_length=1_000_000)
    input_tokens: StrictInt = Field(default=0, ge=0, le=10_000_000)
    output_tokens: StrictInt = Field(ge=0, le=10_000_000)
    duration_ms: StrictInt = Field(ge=0, le=86_400_000)
    model_used: StrictStr | None = Field(default=None, max_length=200)


class FailRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    error: StrictStr = Field(default="no reason given", max_length=10_000)


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: StrictStr = Field(max_length=200)
    serves_family: StrictBool = False


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: StrictStr | None = Field(default=None, max_length=200)
    agent_version: StrictStr | None = Field(default=None, max_length=50)
    platform: StrictStr | None = Field(default=None, max_length=100)
    models: list[ModelEntry] = Field(max_length=200)
    catch_all: StrictBool = False
    # An addition to the document: how many jobs this worker runs at once (its claim cap).
    max_concurrent_jobs: StrictInt = Field(default=1, ge=1)


class ModelsUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    models: list[ModelEntry] = Field(default_factory=list, max_length=200)


class BlobCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    blob_type: str = "image"
    # An addition to the document: the upload's exact size, signed into the PUT URL.
    size_bytes: StrictInt | None = None


def job(record: JobRecord) -> dict[str, Any]:
    """The document's `Job` (plus `priority_boost` when the client asked for one)."""
    sf = fields.of(record)
    body = {
        "job_id": sf.grid_id,
        "status": STATUS_WORDS[record.state],
        "model": record.model or None,
        "model_match": sf.model_match,
        "output": sf.output,
        "input_tokens": sf.input_tokens,
        "output_tokens": sf.output_tokens,
        "duration_ms": sf.duration_ms,
        "priority": sf.priority,
        "timeout_seconds": sf.timeout_seconds,
        "tag": sf.tag,
        "created_at": clock.iso(record.created_at),
        "completed_at": clock.iso(record.completed_at),
    }
    if sf.boost:
        body["priority_boost"] = {
            k: sf.boost[k] for k in ("status", "checkout_url") if k in sf.boost
        }
    return body


def assignment(record: JobRecord) -> dict[str, Any]:
    """The document's `JobAssignment`: what a worker gets when it claims a job."""
    from shared.grid.blobs import assignment_blobs

    sf = fields.of(record)
    return {
        "job_id": sf.grid_id,
        "model": record.model or None,
        "model_family": sf.model_family,
        "model_match": sf.model_match,
        "prompt": record.input["prompt"],
        "blobs": assignment_blobs(sf.blob_ids),
    }


def catalog(entries: list[CatalogEntry]) -> list[dict[str, Any]]:
    """`GET /models`: the document's `ModelInfo` list."""
    return [
        {
            "name": e.name,
            "family": e.family,
            "display_name": e.name,
            "description": None,
            "worker_count": e.worker_count,
            "family_worker_count": e.family_worker_count,
        }
        for e in entries
    ]


def usage(used: Usage) -> dict[str, Any]:
    """`GET /usage`."""
    return {
        "period": used.period,
        "tag": used.tag,
        "tokens_used": used.tokens,
        "requests_used": used.requests,
        "by_tag": used.by_tag,
    }


def credit_summary(summary: Summary) -> dict[str, Any]:
    """`GET /worker/credits`: balances in credits (4 decimals), newest earnings first."""
    return {
        "balance": pricing.credits(summary.balance_micros),
        # An addition to the document: the part of the balance past its settlement window.
        "payable": pricing.credits(summary.payable_micros),
        "total_earned": pricing.credits(summary.total_earned_micros),
        "credit_value_usd": CREDIT_VALUE_USD,
        "history": [
            {
                "id": e.grid_id,
                "credits_earned": pricing.credits(e.micros),
                "output_tokens": e.output_tokens,
                "duration_ms": e.duration_ms,
                "paid_out": e.paid_out,
                "created_at": clock.iso(e.created_at),
            }
            for e in summary.history
        ],
    }


def payout(created: Payout) -> dict[str, Any]:
    """`POST /worker/payout`."""
    credits = pricing.credits(created.amount_micros)
    return {
        "batch_id": created.batch_id,
        "amount_credits": credits,
        "amount_usd": round(credits * CREDIT_VALUE_USD, 6),
        "status": created.status,
    }
