"""PicShapes: image generation sold by quality tier.

Rules of the site, in one place: tier prices (basic 1, pro 3, premium 5 credits, the same
for every model), per-model/per-tier size limits, model defaults (z-image-turbo 8 steps,
flux-schnell 4), and how the shared job states read in PicShapes' words. Entry points in
functions/pics/ only parse, authorize, call these and render.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from shared.engine import clock, jobs, ledger
from shared.engine.backends import backend
from shared.engine.errors import AppError, ErrorKind
from shared.engine.identity import Account, Site
from shared.engine.jobs import JobCreate, JobRecord, JobState
from shared.engine.money import credits_to_micros, micros_to_whole_credits
from shared.engine.outputs import signed_url
from shared.engine.settings import get_settings
from shared.schemas.images import MAX_SEED, MIN_SIDE, ImageGenerationInput, ImageModel

DEFAULT_MODEL = ImageModel.Z_IMAGE_TURBO
DEFAULT_TIER = "basic"
# A polled job asks its backend for news at most this often (per function instance).
RECONCILE_EVERY_S = 2.0


class TierConfig(BaseModel):
    name: str
    description: str
    max_width: int
    max_height: int
    max_steps: int
    default_width: int
    default_height: int
    default_steps: int
    credits: int
    min_vram: int


# name, description, credits, min VRAM (GB), default side
_TIERS = {
    "basic": ("Basic", "Fast drafts at standard resolution", 1, 8, 512),
    "pro": ("Pro", "Higher resolution for finished work", 3, 16, 1024),
    "premium": ("Premium", "Maximum resolution", 5, 24, 1024),
}
# Largest side per model and tier, from the PicShapes document.
_MAX_SIDE = {
    ImageModel.Z_IMAGE_TURBO: {"basic": 1024, "pro": 1440, "premium": 1536},
    ImageModel.FLUX_SCHNELL: {"basic": 1024, "pro": 1280, "premium": 1536},
}
_MODELS = {
    ImageModel.Z_IMAGE_TURBO: ("Z-Image Turbo", "Fast, high-quality (8 steps)", 8),
    ImageModel.FLUX_SCHNELL: ("FLUX.1 Schnell", "Ultra-fast, excellent prompts (4 steps)", 4),
}
STATUS_WORDS = {
    JobState.PENDING: "pending",
    JobState.QUEUED: "pending",
    JobState.CLAIMED: "claimed",
    JobState.RUNNING: "processing",
    JobState.COMPLETED: "completed",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "failed",
}


def tier_config(model: ImageModel, tier: str) -> TierConfig:
    name, description, credits, min_vram, default_side = _TIERS[tier]
    max_side = _MAX_SIDE[model][tier]
    steps = _MODELS[model][2]
    return TierConfig(
        name=name,
        description=description,
        max_width=max_side,
        max_height=max_side,
        max_steps=steps,
        default_width=min(default_side, max_side),
        default_height=min(default_side, max_side),
        default_steps=steps,
        credits=credits,
        min_vram=min_vram,
    )


def tiers() -> dict[str, Any]:
    """The tier table; size limits shown are the default model's."""
    return {tier: tier_config(DEFAULT_MODEL, tier).model_dump() for tier in _TIERS}


def models() -> dict[str, Any]:
    settings = get_settings()
    out = {}
    for model, (name, description, steps) in _MODELS.items():
        health = backend(settings.image_backends.get(model, "runpod")).health(model=model)
        available = health.reachable and (
            health.ready_workers > 0 or settings.image_backends.get(model) == "modal"
        )
        out[str(model)] = {
            "id": str(model),
            "name": name,
            "description": description,
            "optimal_steps": steps,
            "is_default": model is DEFAULT_MODEL,
            "tier_configs": {t: tier_config(model, t).model_dump() for t in _TIERS},
            "available": available,
            "worker_count": health.ready_workers,
            "tiers": {
                t: {"available": available, "worker_count": health.ready_workers} for t in _TIERS
            },
        }
    return {"models": out, "default_model": str(DEFAULT_MODEL)}


class CreateJobRequest(BaseModel):
    """POST /api/v1/jobs. Unknown fields are ignored, as the document does not forbid them."""

    model_config = ConfigDict(extra="ignore")

    prompt: StrictStr
    negative_prompt: StrictStr | None = None
    model: StrictStr = str(DEFAULT_MODEL)
    tier: StrictStr = DEFAULT_TIER
    width: StrictInt | None = None
    height: StrictInt | None = None
    seed: StrictInt | None = None


def _invalid(code: str, message: str) -> AppError:
    return AppError(ErrorKind.INVALID, message, {"code": code})


def quote(request: CreateJobRequest) -> tuple[ImageGenerationInput, str, int]:
    """Validate against the site's rules; returns (handler input, tier, price micros)."""
    try:
        model = ImageModel(request.model)
    except ValueError:
        raise _invalid("INVALID_MODEL", "Invalid model") from None
    if request.tier not in _TIERS:
        raise _invalid("INVALID_TIER", "Invalid tier")
    config = tier_config(model, request.tier)
    if not request.prompt.strip():
        raise _invalid("INVALID_REQUEST", "Prompt is required")
    width = config.default_width if request.width is None else request.width
    height = config.default_height if request.height is None else request.height
    for label, value, limit in (
        ("Width", width, config.max_width),
        ("Height", height, config.max_height),
    ):
        if value > limit:
            raise _invalid("TIER_LIMIT_EXCEEDED", f"{label} exceeds tier maximum")
        if value < MIN_SIDE:
            raise _invalid("INVALID_REQUEST", f"{label} must be at least {MIN_SIDE}")
    seed = secrets.randbelow(MAX_SEED + 1) if request.seed is None else request.seed
    if not 0 <= seed <= MAX_SEED:
        raise _invalid("INVALID_REQUEST", f"Seed must be between 0 and {MAX_SEED}")
    payload = ImageGenerationInput(
        model=model,
        prompt=request.prompt,
        negative_prompt=request.negative_prompt or "",
        width=width,
        height=height,
        steps=config.default_steps,
        seed=seed,
    )
    return payload, request.tier, credits_to_micros(config.credits)


def create_job(*, account_id: str, request: CreateJobRequest) -> JobRecord:
    payload, tier, price = quote(request)
    try:
        return jobs.submit(
            JobCreate(
                account_id=account_id,
                site=Site.PICS,
                model=str(payload.model),
                backend=get_settings().image_backends.get(payload.model, "runpod"),
                input=payload.model_dump(mode="json"),
                price_micros=price,
                site_fields={"tier": tier},
            )
        )
    except AppError as exc:
        if exc.kind is ErrorKind.INSUFFICIENT_FUNDS:
            available = ledger.balance(account_id).available_micros
            raise AppError(
                ErrorKind.INSUFFICIENT_FUNDS,
                "Insufficient credits",
                {
                    "credits": micros_to_whole_credits(available),
                    "credits_needed": price // credits_to_micros(1),
                },
            ) from exc
        raise


def credits(account_id: str) -> int:
    return micros_to_whole_credits(ledger.balance(account_id).available_micros)


def result_url(job: JobRecord) -> str | None:
    if job.state is not JobState.COMPLETED or not job.outputs or job.completed_at is None:
        return None
    expires = job.completed_at + dt.timedelta(seconds=get_settings().output_url_ttl_s)
    return signed_url(job.outputs[0], expires_at=expires, now=clock.now())


def render_job(job: JobRecord) -> dict[str, Any]:
    data = job.input
    body: dict[str, Any] = {
        "id": job.id,
        "status": STATUS_WORDS[job.state],
        "prompt": data.get("prompt"),
        "negative_prompt": data.get("negative_prompt") or None,
        "model": job.model,
        "tier": job.site_fields.get("tier"),
        "width": data.get("width"),
        "height": data.get("height"),
        "steps": data.get("steps"),
        "seed": data.get("seed"),
        "result_url": result_url(job),
        "error_msg": job.error if job.state in (JobState.FAILED, JobState.CANCELLED) else None,
        "created_at": clock.iso(job.created_at),
        "started_at": clock.iso(job.started_at),
        "completed_at": clock.iso(job.completed_at),
    }
    return {k: v for k, v in body.items() if v is not None}


def profile(account: Account) -> dict[str, Any]:
    body = {
        "id": account.id,
        "email": account.email,
        "display_name": account.display_name,
        "photo_url": account.photo_url,
        "credits": credits(account.id),
        "role": "admin" if account.is_admin else "user",
        "created_at": clock.iso(account.created_at),
        "last_login_at": clock.iso(account.last_login_at),
    }
    return {k: v for k, v in body.items() if v is not None}


def get_job(job_id: str) -> JobRecord:
    """A job by id for the unauthenticated status endpoints; refreshes a stale one."""
    job = jobs.find(job_id)
    if job is None or job.site != Site.PICS:
        raise AppError(ErrorKind.NOT_FOUND, "Job not found", {"code": "JOB_NOT_FOUND"})
    if job.state in (JobState.QUEUED, JobState.RUNNING):
        from shared.engine.dispatch import reconcile_at_most_every

        job = reconcile_at_most_every(job, seconds=RECONCILE_EVERY_S)
    return job
