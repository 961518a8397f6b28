"""Probing staged clips and the encoder settings every ffmpeg-video output shares.

Invariants:
- Every staged input is fetched and probed before any encoding starts. A file whose staged
  MIME type is not `video/*`, that ffprobe cannot read, that is a still image, or that has no
  video stream with a positive duration is the caller's fault: `MediaInputError`.
- Work is bounded: a job whose inputs last more than MAX_TOTAL_SECONDS in all, or whose
  frames exceed MAX_SIDE on a side, is refused (`MediaInputError`) before encoding.
- One set of encoder arguments (`H264_ARGS`, `AAC_ARGS`, `BITEXACT_ARGS`) for both tasks:
  fixed preset, CRF, thread count and no timestamps/metadata from the environment, so the
  same input gives byte-identical output (x264 is deterministic at a fixed thread count).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gpu_handlers import media_io
from gpu_handlers.errors import MediaInputError
from shared.schemas.media import MediaFile

MAX_TOTAL_SECONDS: Final = 600.0  # the document's sourceDurationSeconds cap (10 min)
MAX_SIDE: Final = 7680
AUDIO_RATE: Final = 48_000
STILL_FORMATS: Final = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe")

ENCODER_THREADS: Final = "4"  # fixed: x264 output depends on its thread count
H264_ARGS: Final = (
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
    "-threads", ENCODER_THREADS, "-x264-params", f"threads={ENCODER_THREADS}",
)  # fmt: skip
AAC_ARGS: Final = ("-c:a", "aac", "-b:a", "192k", "-ar", str(AUDIO_RATE), "-ac", "2")
BITEXACT_ARGS: Final = (
    "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
    "-map_metadata", "-1", "-map_chapters", "-1", "-movflags", "+faststart",
)  # fmt: skip
SCALE_FLAGS: Final = "bicubic+accurate_rnd+full_chroma_int"


@dataclass(frozen=True)
class Clip:
    path: Path
    width: int
    height: int
    fps: float  # 0.0 when the container states none
    frames: int
    duration: float
    has_audio: bool


def _rate(value: object) -> float:
    num, _, den = str(value or "0/0").partition("/")
    try:
        n, d = float(num), float(den or 1)
    except ValueError:
        return 0.0
    return n / d if d else 0.0


def fetch_clip(value: object, field: str, dest: Path) -> Clip:
    """Fetch and probe one staged video (`input[field]`); MediaInputError if unusable."""
    file: MediaFile = media_io.media_file(value, field)
    if not file.mimeType.startswith("video/"):
        raise MediaInputError(f"input.{field} is {file.mimeType}, not a video")
    media_io.fetch(file, dest)
    try:
        info: dict[str, Any] = media_io.probe(dest)
    except media_io.MediaToolError:
        raise MediaInputError(f"input.{field} is not a readable video") from None
    fmt = info.get("format", {})
    video = next(
        (
            s
            for s in info.get("streams", [])
            if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
        ),
        None,
    )
    try:
        duration = float(fmt.get("duration") or video.get("duration") or 0) if video else 0.0
    except ValueError:
        duration = 0.0
    if video is None or duration <= 0 or str(fmt.get("format_name")) in STILL_FORMATS:
        raise MediaInputError(f"input.{field} has no video stream")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise MediaInputError(f"input.{field} is {width}x{height}; at most {MAX_SIDE} a side")
    return Clip(
        path=dest,
        width=width,
        height=height,
        fps=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")),
        frames=int(video.get("nb_read_packets") or video.get("nb_frames") or 0),
        duration=duration,
        has_audio=any(s.get("codec_type") == "audio" for s in info.get("streams", [])),
    )


def check_total(clips: list[Clip]) -> None:
    total = sum(c.duration for c in clips)
    if total > MAX_TOTAL_SECONDS:
        raise MediaInputError(
            f"the input videos last {total:.1f} s in all; at most {MAX_TOTAL_SECONDS:.0f} s"
        )
