"""PicShapes: image generation sold by quality tier.

Rules of the site, in one place: tier prices (basic 1, pro 3, premium 5 credits, the same
for every model), per-model/per-tier size limits, model defaults (z-image-turbo 8 steps,
flux-schnell 4). Request models, status words and renderers are in shared/pics/views.py;
entry points in functions/pics/ only parse, authorize, call these and render through it.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel

from shared.engine import jobs, ledger
from shared.engine.backends import backend
from shared.engine.errors import AppError, ErrorKind
from shared.engine.identity import Site
from shared.engine.jobs import JobCreate, JobRecord, JobState
from shared.engine.money import credits_to_micros, micros_to_whole_credits
from shared.engine.settings import get_settings
from shared.pics.views import DEFAULT_MODEL, CreateJobRequest
from shared.schemas.images import MAX_SEED, MIN_SIDE, ImageGenerationInput, ImageModel

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


def create_job(
    *, account_id: str, request: CreateJobRequest, idempotency_key: str | None = None
) -> JobRecord:
    """Quote and submit. With an Idempotency-Key, a repeat of the same request answers with
    the first job (one hold); the key with another request is a CONFLICT."""
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
                idempotency_key=idempotency_key,
                request_fingerprint=request.fingerprint(),
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


def get_job(job_id: str) -> JobRecord:
    """A job by id for the unauthenticated status endpoints; refreshes a stale one."""
    job = jobs.find(job_id)
    if job is None or job.site != Site.PICS:
        raise AppError(ErrorKind.NOT_FOUND, "Job not found", {"code": "JOB_NOT_FOUND"})
    if job.state in (JobState.QUEUED, JobState.RUNNING):
        from shared.engine.dispatch import reconcile_at_most_every

        job = reconcile_at_most_every(job, seconds=RECONCILE_EVERY_S)
    return job
