"""Media job prices: one table, integer USD micros, rounded up to the micro.

Units per task (rates are the named constants below, near market rates for serverless GPU
inference):
- image.generate / image.edit: output pixels x inference steps. Steps are IMAGE_STEPS;
  `highDetail` runs 50 % more steps and so bills 50 % more. An upscale bills the upscaled
  canvas. An edit bills EDIT_BILLED_PIXELS (its output follows the source, unknown here).
- video.generate: output frames x output pixels (frames after interpolation); `extremeQuality`
  bills +50 %.
- video.combine: per source clip.
- video.resize: output pixels x billable frames; frames come from the probe (`probed`:
  frames, or duration x fps) or else from `sourceDurationSeconds` (default 8 s) x
  `frameRate` (default 60), rounded up to a whole frame.
- audio.speak: per 1,000 characters of text, by provider.
- audio.annotation.reference: per second of source audio (probed, else
  ANNOTATION_DEFAULT_SECONDS as a hold).
- ace.step.create / moss.sound.effect: per second of requested audio.
- trellis.generate: per quality preset.

Every quote is a positive integer; arithmetic is integers and exact fractions only (a JSON
number such as `sourceDurationSeconds` is read through its decimal text), ceil at the end.
`Quote.meta` is what `pricingMeta` shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final

from shared.media.jobs.request import (
    AceStepRequest,
    AudioAnnotationRequest,
    AudioSpeakRequest,
    ImageEditRequest,
    ImageGenerateRequest,
    MediaJobRequestModel,
    MossSoundEffectRequest,
    TrellisRequest,
    VideoCombineRequest,
    VideoGenerateRequest,
    VideoResizeRequest,
)

MEGAPIXEL: Final = 1_000_000
GIGAPIXEL: Final = 1_000_000_000
HIGH_QUALITY_PERCENT: Final = 150  # highDetail, extremeQuality
BASE_PERCENT: Final = 100

IMAGE_STEPS: Final = 28
IMAGE_MICROS_PER_MEGAPIXEL_STEP: Final = 900  # 1 MP x 28 steps ~ $0.026
EDIT_BILLED_PIXELS: Final = 1024 * 1024
VIDEO_MICROS_PER_GIGAPIXEL: Final = 700_000  # 1280x704, 121 frames at 60 fps ~ $0.15
COMBINE_MICROS_PER_CLIP: Final = 2_000
RESIZE_MICROS_PER_GIGAPIXEL: Final = 10_000  # 1080p, 8 s at 60 fps ~ $0.01
RESIZE_DEFAULT_SECONDS: Final = 8
SPEECH_MICROS_PER_1000_CHARS: Final = {"omnivoice": 15_000, "gemini": 20_000}
ANNOTATION_MICROS_PER_SECOND: Final = 100
ANNOTATION_DEFAULT_SECONDS: Final = 180
ACE_STEP_MICROS_PER_SECOND: Final = 500
MOSS_MICROS_PER_SECOND: Final = 1_000
TRELLIS_MICROS_PER_PRESET: Final = {"performance": 40_000, "balanced": 60_000, "fidelity": 100_000}


@dataclass(frozen=True)
class Probed:
    """What probing a source found; any part may be unknown."""

    duration_seconds: Fraction | int | str | None = None
    frames: int | None = None
    fps: int | None = None


@dataclass(frozen=True)
class Quote:
    micros: int
    meta: dict[str, Any] = field(default_factory=dict)


def _ceil(value: Fraction | int) -> int:
    return -(-Fraction(value).numerator // Fraction(value).denominator)


def _exact(value: Fraction | int | float | str) -> Fraction:
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


def _percent(high: bool) -> int:
    return HIGH_QUALITY_PERCENT if high else BASE_PERCENT


def _quote(task: str, exact: Fraction, percent: int, **meta: Any) -> Quote:
    micros = max(1, _ceil(exact * percent / BASE_PERCENT))
    return Quote(micros, {"task": task, "multiplierPercent": percent, **meta})


def _image(request: ImageGenerateRequest | ImageEditRequest) -> Quote:
    if isinstance(request, ImageGenerateRequest):
        width, height = request.input.output_size()
        pixels = width * height
    else:
        pixels, width, height = EDIT_BILLED_PIXELS, None, None
    steps = IMAGE_STEPS * _percent(request.input.high_detail) // BASE_PERCENT
    exact = Fraction(pixels * steps * IMAGE_MICROS_PER_MEGAPIXEL_STEP, MEGAPIXEL)
    # the step increase is the +50 %: the multiplier is already in `steps`
    return Quote(
        max(1, _ceil(exact)),
        {
            "task": request.task,
            "unit": "megapixel_step",
            "billedPixels": pixels,
            "width": width,
            "height": height,
            "steps": steps,
            "rateMicros": IMAGE_MICROS_PER_MEGAPIXEL_STEP,
            "multiplierPercent": _percent(request.input.high_detail),
        },
    )


def _video(request: VideoGenerateRequest) -> Quote:
    body = request.input
    width, height = body.output_size()
    frames = body.output_frames()
    exact = Fraction(width * height * frames * VIDEO_MICROS_PER_GIGAPIXEL, GIGAPIXEL)
    return _quote(
        request.task,
        exact,
        _percent(body.extreme_quality),
        unit="gigapixel_frame",
        width=width,
        height=height,
        sampledFrames=body.sampled_frames(),
        outputFrames=frames,
        outputFps=body.output_fps(),
        rateMicros=VIDEO_MICROS_PER_GIGAPIXEL,
    )


def _resize(request: VideoResizeRequest, probed: Probed | None) -> Quote:
    body = request.input
    fps = (probed.fps if probed and probed.fps else None) or body.frame_rate
    source = "default"
    if probed and probed.frames:
        frames, source = probed.frames, "probe"
    else:
        if probed and probed.duration_seconds is not None:
            seconds, source = _exact(probed.duration_seconds), "probe"
        elif body.source_duration_seconds is not None:
            seconds, source = _exact(body.source_duration_seconds), "sourceDurationSeconds"
        else:
            seconds = Fraction(RESIZE_DEFAULT_SECONDS)
        frames = max(1, _ceil(seconds * fps))
    exact = Fraction(body.width * body.height * frames * RESIZE_MICROS_PER_GIGAPIXEL, GIGAPIXEL)
    return _quote(
        request.task,
        exact,
        BASE_PERCENT,
        unit="gigapixel_frame",
        width=body.width,
        height=body.height,
        billableFrames=frames,
        frameRate=fps,
        framesFrom=source,
        rateMicros=RESIZE_MICROS_PER_GIGAPIXEL,
    )


def _per_second(task: str, seconds: int | Fraction, rate: int, source: str) -> Quote:
    return _quote(
        task,
        Fraction(seconds) * rate,
        BASE_PERCENT,
        unit="second",
        seconds=str(seconds),
        secondsFrom=source,
        rateMicros=rate,
    )


def quote(request: MediaJobRequestModel, probed: Probed | None = None) -> Quote:
    """The price of a parsed request (`probed` only matters for resize and annotation)."""
    if isinstance(request, ImageGenerateRequest | ImageEditRequest):
        return _image(request)
    if isinstance(request, VideoGenerateRequest):
        return _video(request)
    if isinstance(request, VideoCombineRequest):
        clips = len(request.input.video_urls)
        return _quote(
            request.task,
            Fraction(clips * COMBINE_MICROS_PER_CLIP),
            BASE_PERCENT,
            unit="clip",
            clips=clips,
            rateMicros=COMBINE_MICROS_PER_CLIP,
        )
    if isinstance(request, VideoResizeRequest):
        return _resize(request, probed)
    if isinstance(request, AudioSpeakRequest):
        rate = SPEECH_MICROS_PER_1000_CHARS[request.input.provider]
        chars = len(request.input.text)
        return _quote(
            request.task,
            Fraction(chars * rate, 1000),
            BASE_PERCENT,
            unit="1000_characters",
            characters=chars,
            provider=request.input.provider,
            rateMicros=rate,
        )
    if isinstance(request, AudioAnnotationRequest):
        if probed and probed.duration_seconds is not None:
            seconds, source = _exact(probed.duration_seconds), "probe"
        else:
            seconds, source = Fraction(ANNOTATION_DEFAULT_SECONDS), "default"
        return _per_second(request.task, seconds, ANNOTATION_MICROS_PER_SECOND, source)
    if isinstance(request, AceStepRequest):
        body = request.input
        source = "durationSeconds" if body.duration_seconds is not None else "default"
        return _per_second(request.task, body.billed_seconds(), ACE_STEP_MICROS_PER_SECOND, source)
    if isinstance(request, MossSoundEffectRequest):
        body_m = request.input
        source = "durationSeconds" if body_m.duration_seconds is not None else "default"
        return _per_second(request.task, body_m.billed_seconds(), MOSS_MICROS_PER_SECOND, source)
    if isinstance(request, TrellisRequest):
        preset = request.input.preset()
        rate = TRELLIS_MICROS_PER_PRESET[preset]
        return _quote(
            request.task,
            Fraction(rate),
            BASE_PERCENT,
            unit="preset",
            preset=preset,
            rateMicros=rate,
        )
    raise TypeError(f"no price for {type(request).__name__}")


# Gemini speech is metered by Google in tokens: the submit-time hold is the per-character
# quote above, and the completion bill is the job's exact token count at these rates,
# never more than the hold (the document: "settles to an exact completion-time bill").
GEMINI_MICROS_PER_PROMPT_TOKEN: Final = 1
GEMINI_MICROS_PER_OUTPUT_TOKEN: Final = 12


def gemini_bill(usage: dict[str, int] | None) -> int:
    """The exact bill of a Gemini speech job from its token usage; ValueError without it."""
    if not usage or not {"promptTokens", "outputTokens"} <= set(usage):
        raise ValueError("gemini speech answered no token usage")
    prompt, output = usage["promptTokens"], usage["outputTokens"]
    if not (isinstance(prompt, int) and isinstance(output, int)) or prompt < 0 or output < 0:
        raise ValueError("gemini token usage is not two non-negative integers")
    return max(1, prompt * GEMINI_MICROS_PER_PROMPT_TOKEN + output * GEMINI_MICROS_PER_OUTPUT_TOKEN)


__all__ = ["Probed", "Quote", "gemini_bill", "quote"]
