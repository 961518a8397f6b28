"""`video.resize`: rescale one staged clip to exactly width x height, deterministically.

Invariants:
- The output is exactly `width` x `height` (square pixels, aspect not kept: the client
  chose the size), H.264 yuv420p MP4 with the shared fixed encoder settings and bit-exact
  muxing (`clips.H264_ARGS`, `clips.BITEXACT_ARGS`, fixed scaler flags): the same source and
  size always give byte-identical output.
- Frame rate: the source's timing is kept frame for frame; only a source that states no
  frame rate is timed at `frameRate`.
- Audio: the first audio track is kept, stream-copied when it is AAC, else encoded to AAC
  (deterministic); a source without audio gives an output without audio.
- meta: width, height, frames, fps, durationSeconds, hasAudio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gpu_handlers import media_io
from gpu_handlers.errors import MediaInputError
from gpu_handlers.ffmpeg_video import clips
from shared.schemas.media import MediaHandlerInput

EvenSide = Annotated[int, Field(ge=2, le=clips.MAX_SIDE, multiple_of=2)]


class ResizeInput(BaseModel):
    """The effective input (shared/media/jobs/video.py VideoResizeInput, media staged)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sourceVideoUrl: dict[str, Any]
    width: EvenSide
    height: EvenSide
    frameRate: Annotated[int, Field(ge=1, le=120)] = 60
    sourceDurationSeconds: float | None = None  # a pricing hint; the probe is the truth


def _audio_args(path: Path) -> list[str]:
    info = media_io.probe(path)
    audio = next((s for s in info["streams"] if s.get("codec_type") == "audio"), None)
    if audio is None:
        return ["-an"]
    codec = ["-c:a", "copy"] if audio.get("codec_name") == "aac" else list(clips.AAC_ARGS)
    return ["-map", "0:a:0", *codec]


def run(job: MediaHandlerInput, work: Path) -> tuple[Path, dict[str, Any]]:
    """Resize the job's clip; returns (output path, meta)."""
    try:
        args = ResizeInput.model_validate(job.input)
    except ValidationError as exc:
        raise MediaInputError(f"input: {exc.errors(include_url=False)[0]['msg']}") from None
    clip = clips.fetch_clip(args.sourceVideoUrl, "sourceVideoUrl", work / "source")
    clips.check_total([clip])
    rate = [] if clip.fps > 0 else ["-r", str(args.frameRate)]
    chain = f"scale={args.width}:{args.height}:flags={clips.SCALE_FLAGS},setsar=1,format=yuv420p"
    out = work / "resized.mp4"
    media_io.ffmpeg(
        "-i", str(clip.path), "-map", "0:v:0", *_audio_args(clip.path), "-sn", "-dn",
        "-vf", chain, *rate, *clips.H264_ARGS, *clips.BITEXACT_ARGS, str(out),
    )  # fmt: skip
    return out, media_io.video_meta(out)
