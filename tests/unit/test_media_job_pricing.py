"""Media job prices: integer micros, +50 % flags, per-task units, monotonic in size and
duration."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.media.jobs import pricing
from shared.media.jobs.pricing import Probed, quote
from shared.media.jobs.request import parse_request

URL = "https://cdn.example.com/a.webp"
CLIP = "https://cdn.example.com/a.mp4"


def _q(task: str, probed: Probed | None = None, **body: Any) -> pricing.Quote:
    return quote(parse_request({"task": task, "input": body}), probed)


ALL: list[tuple[str, dict[str, Any]]] = [
    ("image.generate", {"prompt": "x"}),
    ("image.edit", {"prompt": "x", "sourceImage": URL}),
    ("video.generate", {"prompt": "x"}),
    ("video.combine", {"videoUrls": [CLIP, CLIP]}),
    ("video.resize", {"sourceVideoUrl": CLIP, "width": 1920, "height": 1080}),
    ("audio.speak", {"text": "hello"}),
    ("audio.annotation.reference", {"sourceAudio": URL}),
    ("ace.step.create", {"tags": "pop", "lyrics": "la"}),
    ("moss.sound.effect", {"prompt": "boom"}),
    ("trellis.generate", {"sourceImageUrl": URL}),
]


@pytest.mark.parametrize(("task", "body"), ALL, ids=[t for t, _ in ALL])
def test_every_task_has_a_positive_integer_price(task: str, body: dict[str, Any]) -> None:
    result = _q(task, **body)
    assert type(result.micros) is int and result.micros > 0
    assert result.meta["task"] == task
    assert result.meta["unit"]
    # market sanity: under a dollar at the defaults
    assert result.micros <= 1_000_000, (task, result.micros)


def test_image_price_is_megapixels_times_steps() -> None:
    result = _q("image.generate", prompt="x", width=1024, height=1024)
    expected = -(-1024 * 1024 * pricing.IMAGE_STEPS * pricing.IMAGE_MICROS_PER_MEGAPIXEL_STEP
                 // pricing.MEGAPIXEL)  # fmt: skip
    assert result.micros == expected == 26_425
    assert result.meta["billedPixels"] == 1024 * 1024 and result.meta["steps"] == 28


def test_image_defaults_follow_the_aspect_ratio_and_upscale() -> None:
    assert _q("image.generate", prompt="x").meta["billedPixels"] == 1024 * 1024
    assert _q("image.generate", prompt="x", aspectRatio="16:9").meta["width"] == 1344
    upscaled = _q("image.generate", prompt="x", upscale=True)
    assert upscaled.meta["billedPixels"] == 1536 * 1536


@pytest.mark.parametrize(
    ("task", "body", "flag"),
    [
        ("image.generate", {"prompt": "x", "width": 1024, "height": 1024}, "highDetail"),
        ("image.edit", {"prompt": "x", "sourceImage": URL}, "highDetail"),
        ("video.generate", {"prompt": "x", "durationFrames": 121}, "extremeQuality"),
    ],
)
def test_high_quality_flags_bill_fifty_percent_more(
    task: str, body: dict[str, Any], flag: str
) -> None:
    base = _q(task, **body)
    high = _q(task, **body, **{flag: True})
    assert high.meta["multiplierPercent"] == 150 and base.meta["multiplierPercent"] == 100
    assert high.micros * 2 == base.micros * 3 or abs(high.micros * 2 - base.micros * 3) <= 3


def test_video_price_is_output_frames_times_pixels() -> None:
    result = _q("video.generate", prompt="x", width=1280, height=704, durationFrames=121)
    assert result.meta["outputFrames"] == 242 and result.meta["sampledFrames"] == 121
    exact = Fraction(1280 * 704 * 242 * pricing.VIDEO_MICROS_PER_GIGAPIXEL, pricing.GIGAPIXEL)
    assert result.micros == -(-exact.numerator // exact.denominator) == 152_650
    no_interp = _q("video.generate", prompt="x", width=1280, height=704, durationFrames=121,
                   interpolationFps=0)  # fmt: skip
    assert no_interp.meta["outputFrames"] == 121 and no_interp.micros < result.micros


def test_video_seconds_bill_their_ltx_frames() -> None:
    by_seconds = _q("video.generate", prompt="x", durationSeconds=8)
    by_frames = _q("video.generate", prompt="x", durationFrames=241)
    assert by_seconds.micros == by_frames.micros


def test_combine_bills_per_clip() -> None:
    two = _q("video.combine", videoUrls=[CLIP] * 2)
    five = _q("video.combine", videoUrls=[CLIP] * 5)
    assert two.micros == 2 * pricing.COMBINE_MICROS_PER_CLIP
    assert five.micros == 5 * pricing.COMBINE_MICROS_PER_CLIP and five.meta["clips"] == 5


def test_resize_frames_from_probe_then_hint_then_default() -> None:
    body = {"sourceVideoUrl": CLIP, "width": 1920, "height": 1080}
    default = _q("video.resize", **body)
    assert default.meta["billableFrames"] == 8 * 60 and default.meta["framesFrom"] == "default"
    hinted = _q("video.resize", **body, sourceDurationSeconds=2.5, frameRate=24)
    assert hinted.meta["billableFrames"] == 60 and hinted.meta["framesFrom"] == (
        "sourceDurationSeconds"
    )
    fractional = _q("video.resize", **body, sourceDurationSeconds=0.1, frameRate=25)
    assert fractional.meta["billableFrames"] == 3  # 2.5 frames, rounded up
    probed = _q("video.resize", Probed(duration_seconds=Fraction(10), fps=30), **body,
                sourceDurationSeconds=2.5)  # fmt: skip
    assert probed.meta["billableFrames"] == 300 and probed.meta["framesFrom"] == "probe"
    frames = _q("video.resize", Probed(frames=123), **body)
    assert frames.meta["billableFrames"] == 123
    exact = Fraction(1920 * 1080 * 480 * pricing.RESIZE_MICROS_PER_GIGAPIXEL, pricing.GIGAPIXEL)
    assert default.micros == -(-exact.numerator // exact.denominator)


def test_speech_bills_per_thousand_characters_by_provider() -> None:
    omni = _q("audio.speak", text="x" * 1000)
    gemini = _q("audio.speak", text="x" * 1000, provider="gemini")
    assert omni.micros == pricing.SPEECH_MICROS_PER_1000_CHARS["omnivoice"]
    assert gemini.micros == pricing.SPEECH_MICROS_PER_1000_CHARS["gemini"]
    assert _q("audio.speak", text="x").micros == 15  # 15,000 / 1,000, exact
    assert _q("audio.speak", text="x" * 1001).micros == 15_015
    assert omni.meta["characters"] == 1000 and gemini.meta["provider"] == "gemini"


def test_audio_bills_per_second() -> None:
    assert _q("moss.sound.effect", prompt="x", durationSeconds=10).micros == 10_000
    assert _q("moss.sound.effect", prompt="x").meta["secondsFrom"] == "default"
    assert _q("ace.step.create", tags="t", lyrics="l", durationSeconds=30).micros == 15_000
    hq = _q("ace.step.create", tags="t", lyrics="l", qualityPreset="high_quality")
    assert hq.micros == 108 * pricing.ACE_STEP_MICROS_PER_SECOND
    annotated = _q("audio.annotation.reference", Probed(duration_seconds="12.5"), sourceAudio=URL)
    assert annotated.micros == 1_250 and annotated.meta["secondsFrom"] == "probe"
    held = _q("audio.annotation.reference", sourceAudio=URL)
    assert held.micros == pricing.ANNOTATION_DEFAULT_SECONDS * pricing.ANNOTATION_MICROS_PER_SECOND


def test_trellis_bills_per_preset() -> None:
    prices = [
        _q("trellis.generate", sourceImageUrl=URL, qualityPreset=p).micros
        for p in ("performance", "balanced", "fidelity")
    ]
    assert prices == sorted(prices) and len(set(prices)) == 3
    assert _q("trellis.generate", sourceImageUrl=URL).meta["preset"] == "balanced"


@settings(max_examples=100, deadline=None)
@given(a=st.integers(1, 64), b=st.integers(1, 64), c=st.integers(1, 64))
def test_image_price_is_monotonic_in_size(a: int, b: int, c: int) -> None:
    small = _q("image.generate", prompt="x", width=32 * a, height=32 * b)
    large = _q("image.generate", prompt="x", width=32 * max(a, c), height=32 * b)
    assert small.micros <= large.micros


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 31), m=st.integers(1, 31), side=st.integers(1, 40))
def test_video_price_is_monotonic_in_frames_and_size(n: int, m: int, side: int) -> None:
    lo, hi = sorted((n, m))
    short = _q("video.generate", prompt="x", durationFrames=8 * lo + 1, width=32 * side, height=320)
    long = _q("video.generate", prompt="x", durationFrames=8 * hi + 1, width=32 * side, height=320)
    wide = _q("video.generate", prompt="x", durationFrames=8 * hi + 1, width=32 * side + 32,
              height=320)  # fmt: skip
    assert short.micros <= long.micros <= wide.micros


@settings(max_examples=100, deadline=None)
@given(d1=st.floats(0.1, 600), d2=st.floats(0.1, 600), fps=st.integers(1, 120))
def test_resize_price_is_monotonic_in_duration(d1: float, d2: float, fps: int) -> None:
    lo, hi = sorted((d1, d2))
    body = {"sourceVideoUrl": CLIP, "width": 640, "height": 360, "frameRate": fps}
    assert (
        _q("video.resize", **body, sourceDurationSeconds=lo).micros
        <= _q("video.resize", **body, sourceDurationSeconds=hi).micros
    )


@settings(max_examples=100, deadline=None)
@given(k=st.integers(1, 6000), j=st.integers(1, 6000))
def test_speech_price_is_monotonic_in_text(k: int, j: int) -> None:
    lo, hi = sorted((k, j))
    assert _q("audio.speak", text="x" * lo).micros <= _q("audio.speak", text="x" * hi).micros


def test_gemini_bill_is_exact_from_token_usage() -> None:
    from shared.media.jobs.pricing import gemini_bill

    assert gemini_bill({"promptTokens": 10, "outputTokens": 100}) == 10 * 1 + 100 * 12
    assert gemini_bill({"promptTokens": 0, "outputTokens": 0}) == 1  # never free
    for bad in (None, {}, {"promptTokens": 3}, {"promptTokens": -1, "outputTokens": 2}):
        with pytest.raises(ValueError):
            gemini_bill(bad)


def test_usd_strings_have_six_places_and_no_float() -> None:
    from shared.media.jobs.views import usd

    assert usd(0) == "0.000000"
    assert usd(26_100) == "0.026100"
    assert usd(20_000_000) == "20.000000"
    assert usd(1_234_567_891) == "1234.567891"
