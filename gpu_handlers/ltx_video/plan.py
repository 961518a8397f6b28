"""The `video.generate` job as the LTX handler runs it: effective input -> sampling plan.

Pure (no torch): everything here is decided before any weights are touched.

Invariants:
- The frame, fps and canvas rules are the gateway's own (`shared.media.jobs.video`):
  sampled frames are 8n + 1; output fps is `interpolationFps` or, when it is 0, `sampledFps`;
  output frames = ceil(sampled frames x output fps / sampledFps); the canvas is
  `width` x `height` or the `aspectRatio` default. This module never restates them.
- Two passes, as the document states: the first at half the final size (rounded down to the
  VAE's 32-pixel grid, at least 32), then the latent is upsampled 2x by the spatial latent
  upsampler and refined at twice the first-pass size; the decoded frames are resized to the
  exact canvas only when the 32-pixel grid forced a different size.
- `extremeQuality` runs 50 % more denoising steps in both passes (the +50 % price).
- Conditioning frame positions: overlap frames are the clip's leading frames 0..k-1 (the
  combine step trims exactly those); a start frame is frame k (0 without overlap frames);
  a final frame is the last frame. Positions that collide or fall outside the clip are an
  input error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpu_handlers.errors import MediaInputError
from shared.media.jobs import video as rules

GRID = 32  # LTX VAE spatial compression: pass sizes are multiples of it
FIRST_PASS_STEPS = 30
REFINE_STEPS = 10
EXTREME_FACTOR = 1.5
REFINE_DENOISE = 0.4


class VideoJobInput(BaseModel):
    """The effective `video.generate` input the gateway sends (media inputs as MediaFile)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1)
    startFrameImage: dict[str, Any] | None = None
    overlapFrameImages: list[dict[str, Any]] | None = None
    finalFrameImage: dict[str, Any] | None = None
    referenceAudio: dict[str, Any] | None = None
    durationSeconds: int | None = Field(default=None, ge=1)
    durationFrames: int | None = Field(default=None, ge=rules.LTX_MIN_FRAMES)
    aspectRatio: str | None = None
    sampledFps: int = Field(default=rules.DEFAULT_SAMPLED_FPS, ge=1)
    width: int | None = Field(default=None, ge=GRID)
    height: int | None = Field(default=None, ge=GRID)
    interpolationFps: int = Field(default=rules.DEFAULT_INTERPOLATION_FPS, ge=0)
    seed: int | None = Field(default=None, ge=0)
    extremeQuality: bool = False


@dataclass(frozen=True)
class Plan:
    sampled_frames: int
    sampled_fps: int
    output_frames: int
    output_fps: int
    width: int
    height: int
    first_pass: tuple[int, int]  # (width, height)
    refine: tuple[int, int]  # 2 x first_pass
    first_steps: int
    refine_steps: int
    overlap_count: int
    start_index: int | None
    final_index: int | None

    @property
    def interpolates(self) -> bool:
        return self.output_fps != self.sampled_fps


def read_input(raw: dict[str, Any]) -> VideoJobInput:
    try:
        return VideoJobInput.model_validate(raw)
    except ValidationError as exc:
        where = "; ".join(
            f"input.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise MediaInputError(where) from None


def half_size(side: int) -> int:
    """The first-pass side: half the final side on the VAE grid (rounded down, >= GRID)."""
    return max(GRID, side // 2 // GRID * GRID)


def make_plan(job: VideoJobInput) -> Plan:
    gateway = rules.VideoGenerateInput.model_construct(
        duration_frames=job.durationFrames,
        duration_seconds=job.durationSeconds,
        sampled_fps=job.sampledFps,
        interpolation_fps=job.interpolationFps,
        width=job.width,
        height=job.height,
        aspect_ratio=job.aspectRatio,
    )
    frames = gateway.sampled_frames()
    if not rules.is_ltx_frames(frames) or frames > rules.LTX_MAX_FRAMES:
        raise MediaInputError(f"input.durationFrames: {frames} is not an LTX 8n + 1 count")
    width, height = gateway.output_size()
    first = (half_size(width), half_size(height))
    overlap = len(job.overlapFrameImages or ())
    start = overlap if job.startFrameImage is not None else None
    final = frames - 1 if job.finalFrameImage is not None else None
    last_leading = start if start is not None else overlap - 1
    if (final is not None and last_leading >= final) or last_leading >= frames:
        raise MediaInputError(
            f"{overlap} overlap frame(s){' and a start frame' if start is not None else ''}"
            f" do not fit before the end of a {frames}-frame clip"
        )
    scale = EXTREME_FACTOR if job.extremeQuality else 1.0
    return Plan(
        sampled_frames=frames,
        sampled_fps=job.sampledFps,
        output_frames=gateway.output_frames(),
        output_fps=gateway.output_fps(),
        width=width,
        height=height,
        first_pass=first,
        refine=(2 * first[0], 2 * first[1]),
        first_steps=round(FIRST_PASS_STEPS * scale),
        refine_steps=round(REFINE_STEPS * scale),
        overlap_count=overlap,
        start_index=start,
        final_index=final,
    )
