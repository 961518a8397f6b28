"""`video.generate`, `video.combine` and `video.resize` inputs, and the LTX frame rules.

`video.generate` (LTX):
- `prompt` 1..4000. A start frame is optional (text-to-video without one): `startFrameImage`
  or `startFrameImageUrl`, or their legacy aliases `sourceImage` / `sourceImageUrl`, all folded
  into `startFrameImage`. Overlap frames (at most 12, chronological) as `overlapFrameImages`
  or `overlapFrameImageUrls` (folded into `overlapFrameImages`). A final frame as
  `finalFrameImage` or `finalFrameImageUrl`. Reference audio as `referenceAudio` or
  `referenceAudioUrl`; it requires a start frame or overlap frames (strict: never silently
  dropped). Two spellings of one input are INVALID.
- Frames: `durationFrames` 9..257 must be 8n + 1. `durationSeconds` 3..20 is accepted only
  when its implied sampled-frame count `durationSeconds x sampledFps`, rounded up to the next
  8n + 1, stays within 257 (at the default 30 fps: 3..8 s). When both are given
  `durationFrames` wins (the document prefers it) and the seconds are dropped (an adjustment).
  With neither, DEFAULT_DURATION_FRAMES.
- `sampledFps` 1..50, default 30. `interpolationFps` 0 (off: output at sampled fps) or
  30..60, default 60. Output frames = ceil(sampled frames x interpolationFps / sampledFps).
- `width` + `height` together, >= 32, multiples of 32 (no pixel cap is stated for video);
  otherwise the canvas follows `aspectRatio` (default 16:9) through DEFAULT_CANVAS.
- `seed` 1..2**31 - 1; `extremeQuality` default false (+50 % price).

`video.combine`: `videoUrls` 2..24 URLs; `overlapFrames` 0..120 default 1; `frameRate`
1..120 default 60.

`video.resize`: `sourceVideoUrl`; `width` and `height` required, even, 2..7680; `frameRate`
1..120 default 60; `sourceDurationSeconds` 0.1..600 optional (pricing falls back to 8 s when
the source cannot be probed).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, field_validator, model_validator

from shared.media.jobs import formats
from shared.media.jobs.assets import (
    AudioInput,
    AudioUrl,
    ImageInput,
    ImageUrl,
    InputModel,
    VideoUrl,
)
from shared.media.jobs.images import AspectRatio, Prompt, Side

LTX_MIN_FRAMES: Final = 9
LTX_MAX_FRAMES: Final = 257
LTX_FRAME_STEP: Final = 8
DEFAULT_SAMPLED_FPS: Final = 30
DEFAULT_INTERPOLATION_FPS: Final = 60
DEFAULT_DURATION_FRAMES: Final = 121  # about 4 s at 30 fps
MAX_OVERLAP_FRAMES: Final = 12
DEFAULT_ASPECT_RATIO: Final = "16:9"
DEFAULT_CANVAS: Final[dict[str, tuple[int, int]]] = {
    "16:9": (1280, 704),
    "9:16": (704, 1280),
    "1:1": (960, 960),
    "9:7": (1152, 896),
    "7:9": (896, 1152),
}
Seed = Annotated[int, Field(ge=1, le=2_147_483_647)]
Frames = Annotated[int, Field(ge=LTX_MIN_FRAMES, le=LTX_MAX_FRAMES)]


def is_ltx_frames(frames: int) -> bool:
    """The LTX rule: 8n + 1 frames."""
    return frames % LTX_FRAME_STEP == 1


def ltx_frames_for_seconds(seconds: int, fps: int) -> int:
    """The smallest 8n + 1 at or above seconds x fps (may exceed LTX_MAX_FRAMES)."""
    implied = seconds * fps
    steps = -(-(implied - 1) // LTX_FRAME_STEP)
    return steps * LTX_FRAME_STEP + 1


class VideoGenerateInput(InputModel):
    prompt: Prompt
    start_frame_image: ImageInput | None = None
    start_frame_image_url: Annotated[ImageUrl | None, Field(exclude=True)] = None
    source_image: Annotated[ImageInput | None, Field(exclude=True)] = None
    source_image_url: Annotated[ImageUrl | None, Field(exclude=True)] = None
    overlap_frame_images: (
        Annotated[list[ImageInput], Field(max_length=MAX_OVERLAP_FRAMES)] | None
    ) = None
    overlap_frame_image_urls: Annotated[
        Annotated[list[ImageUrl], Field(max_length=MAX_OVERLAP_FRAMES)] | None,
        Field(exclude=True),
    ] = None
    final_frame_image: ImageInput | None = None
    final_frame_image_url: Annotated[ImageUrl | None, Field(exclude=True)] = None
    reference_audio: AudioInput | None = None
    reference_audio_url: Annotated[AudioUrl | None, Field(exclude=True)] = None
    duration_seconds: Annotated[int, Field(ge=3, le=20)] | None = None
    duration_frames: Frames | None = None
    aspect_ratio: AspectRatio | None = None
    sampled_fps: Annotated[int, Field(ge=1, le=50)] = DEFAULT_SAMPLED_FPS
    width: Side | None = None
    height: Side | None = None
    interpolation_fps: int = DEFAULT_INTERPOLATION_FPS
    seed: Seed | None = None
    extreme_quality: bool = False

    @field_validator("interpolation_fps")
    @classmethod
    def _interpolation(cls, value: int) -> int:
        if value != 0 and not 30 <= value <= 60:
            raise ValueError(f"must be 0 (off) or 30..60, not {value}")
        return value

    @model_validator(mode="after")
    def _rules(self) -> VideoGenerateInput:
        self.fold("start_frame_image", "start_frame_image_url", "source_image", "source_image_url")
        self.fold("overlap_frame_images", "overlap_frame_image_urls")
        self.fold("final_frame_image", "final_frame_image_url")
        self.fold("reference_audio", "reference_audio_url")
        formats.check_canvas(self.width, self.height, max_pixels=None)
        if self.reference_audio is not None and not (
            self.start_frame_image is not None or self.overlap_frame_images
        ):
            raise ValueError(
                "input.referenceAudio needs a start frame (startFrameImage) or overlap frames"
                " (overlapFrameImages)"
            )
        if self.duration_frames is not None and not is_ltx_frames(self.duration_frames):
            raise ValueError(
                f"input.durationFrames must be 8n + 1 (9, 17, 25, ...), not {self.duration_frames}"
            )
        if self.duration_seconds is not None:
            implied = ltx_frames_for_seconds(self.duration_seconds, self.sampled_fps)
            if implied > LTX_MAX_FRAMES:
                raise ValueError(
                    f"input.durationSeconds {self.duration_seconds} at sampledFps"
                    f" {self.sampled_fps} implies {self.duration_seconds * self.sampled_fps}"
                    f" frames; the LTX budget is {LTX_MAX_FRAMES} (use durationFrames)"
                )
            if self.duration_frames is not None:
                self.adjust(
                    "durationSeconds",
                    self.duration_seconds,
                    None,
                    "durationFrames given; it wins over durationSeconds",
                )
                self.duration_seconds = None
        return self

    def sampled_frames(self) -> int:
        """Sampled (base-fps) frames: 8n + 1, at most LTX_MAX_FRAMES."""
        if self.duration_frames is not None:
            return self.duration_frames
        if self.duration_seconds is not None:
            return ltx_frames_for_seconds(self.duration_seconds, self.sampled_fps)
        return DEFAULT_DURATION_FRAMES

    def output_fps(self) -> int:
        return self.interpolation_fps or self.sampled_fps

    def output_frames(self) -> int:
        frames = self.sampled_frames()
        return -(-frames * self.output_fps() // self.sampled_fps)

    def output_size(self) -> tuple[int, int]:
        if self.width is not None and self.height is not None:
            return self.width, self.height
        return DEFAULT_CANVAS[self.aspect_ratio or DEFAULT_ASPECT_RATIO]


class VideoCombineInput(InputModel):
    video_urls: Annotated[list[VideoUrl], Field(min_length=2, max_length=24)]
    overlap_frames: Annotated[int, Field(ge=0, le=120)] = 1
    frame_rate: Annotated[int, Field(ge=1, le=120)] = 60


EvenSide = Annotated[int, Field(ge=2, le=7680, multiple_of=2)]


class VideoResizeInput(InputModel):
    source_video_url: VideoUrl
    width: EvenSide
    height: EvenSide
    frame_rate: Annotated[int, Field(ge=1, le=120)] = 60
    source_duration_seconds: Annotated[float, Field(ge=0.1, le=600)] | None = None


VideoTask = Literal["video.generate", "video.combine", "video.resize"]
