"""PicShapes pricing and limits, as pure rules."""

import pytest

from shared.engine.errors import AppError, ErrorKind
from shared.pics.service import quote
from shared.pics.views import STATUS_WORDS, CreateJobRequest


def test_defaults_are_z_image_turbo_basic_with_eight_steps() -> None:
    payload, tier, price = quote(CreateJobRequest(prompt="a cat"))
    assert (str(payload.model), tier, price, payload.steps) == ("z-image-turbo", "basic", 10_000, 8)
    assert 0 <= payload.seed < 2**32


def test_flux_defaults_to_four_steps_and_prices_are_per_tier() -> None:
    prices = {
        t: quote(CreateJobRequest(prompt="x", model="flux-schnell", tier=t))[2]
        for t in ("basic", "pro", "premium")
    }
    assert prices == {"basic": 10_000, "pro": 30_000, "premium": 50_000}
    assert quote(CreateJobRequest(prompt="x", model="flux-schnell"))[0].steps == 4


@pytest.mark.parametrize(
    ("model", "tier", "largest"),
    [
        ("z-image-turbo", "basic", 1024),
        ("z-image-turbo", "pro", 1440),
        ("z-image-turbo", "premium", 1536),
        ("flux-schnell", "pro", 1280),
        ("flux-schnell", "premium", 1536),
    ],
)
def test_size_limits_per_model_and_tier(model: str, tier: str, largest: int) -> None:
    payload, _, _ = quote(
        CreateJobRequest(prompt="x", model=model, tier=tier, width=largest, height=largest)
    )
    assert payload.width == largest
    with pytest.raises(AppError) as err:
        quote(CreateJobRequest(prompt="x", model=model, tier=tier, width=largest + 1))
    assert err.value.details["code"] == "TIER_LIMIT_EXCEEDED"
    assert err.value.message == "Width exceeds tier maximum"


def test_given_seed_is_kept() -> None:
    assert quote(CreateJobRequest(prompt="x", seed=42))[0].seed == 42


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"tier": "gold"}, "INVALID_TIER"),
        ({"model": "dalle"}, "INVALID_MODEL"),
        ({"width": 32}, "INVALID_REQUEST"),
        ({"seed": 2**32}, "INVALID_REQUEST"),
    ],
)
def test_invalid_requests_name_their_code(fields: dict, code: str) -> None:
    with pytest.raises(AppError) as err:
        quote(CreateJobRequest(prompt="x", **fields))
    assert err.value.kind is ErrorKind.INVALID and err.value.details["code"] == code


def test_status_words_cover_every_state() -> None:
    from shared.engine.jobs import JobState

    assert set(STATUS_WORDS) == set(JobState)
    assert set(STATUS_WORDS.values()) <= {
        "pending",
        "claimed",
        "processing",
        "completed",
        "failed",
    }
