"""What every media handler does around its model: read the payload, fetch the staged
inputs, encode the result with ffmpeg, upload it, and answer (shared.schemas.media).

Invariants:
- `parse(payload, handler_id)` refuses a payload that fails the contract or names another
  handler or a task this handler does not run (`MediaInputError`, a ValueError that the
  runtimes report as `invalid input: ...`).
- `fetch` never keeps more than the staged size (plus nothing): a URL that serves more than
  `sizeBytes` is refused, so a handler's disk use is bounded by what the gateway checked.
- `upload` PUTs the file once with the target's content type and answers its exact size and
  SHA-256; a file over `maxBytes` is refused before any byte is sent.
- ffmpeg and ffprobe run as subprocesses with argument lists (never a shell), stdin closed
  unless fed, and a failure raises `MediaToolError` carrying ffmpeg's last stderr lines.
- Audio and video are written from raw samples/frames piped to ffmpeg: float32 PCM for
  audio, RGB24 frames for video (H.264 yuv420p MP4 with `+faststart`, AAC audio when given).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image
from pydantic import ValidationError

from gpu_handlers.errors import MediaInputError
from shared.schemas.media import (
    HANDLER_TASKS,
    MediaFile,
    MediaHandlerInput,
    MediaHandlerOutput,
    OutputTarget,
)

FETCH_TIMEOUT_S = 120.0
UPLOAD_TIMEOUT_S = 600.0
CHUNK = 1 << 20
IMAGE_SAVE_ARGS: dict[str, dict[str, Any]] = {
    "image/webp": {"format": "WEBP", "quality": 92},
    "image/png": {"format": "PNG"},
    "image/jpeg": {"format": "JPEG", "quality": 92},
}


class MediaToolError(RuntimeError):
    """ffmpeg/ffprobe failed on input the gateway accepted."""


def parse(payload: object, handler_id: str) -> MediaHandlerInput:
    try:
        job = MediaHandlerInput.model_validate(payload)
    except ValidationError as exc:
        raise MediaInputError(_describe(exc)) from None
    if job.handler != handler_id:
        raise MediaInputError(f"this handler is {handler_id!r}, the payload is for {job.handler!r}")
    if job.task not in HANDLER_TASKS[handler_id]:
        raise MediaInputError(f"handler {handler_id!r} does not run task {job.task!r}")
    return job


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def media_file(value: object, field: str) -> MediaFile:
    """One media input of the effective input (`input[field]`) as a MediaFile."""
    try:
        return MediaFile.model_validate(value)
    except ValidationError:
        raise MediaInputError(f"input.{field} is not a staged media file") from None


@contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="relay-media-") as tmp:
        yield Path(tmp)


def fetch(file: MediaFile, dest: Path) -> Path:
    """Download a staged input to `dest`, refusing more bytes than it was staged with."""
    received = 0
    try:
        with httpx.stream("GET", file.url, timeout=FETCH_TIMEOUT_S) as response:
            response.raise_for_status()
            with dest.open("wb") as out:
                for chunk in response.iter_bytes(CHUNK):
                    received += len(chunk)
                    if received > file.sizeBytes:
                        raise MediaInputError(f"{dest.name}: larger than staged")
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise MediaToolError(f"could not fetch a staged input: {type(exc).__name__}") from exc
    return dest


def read_image(file: MediaFile, dest: Path) -> Image.Image:
    fetch(file, dest)
    try:
        with Image.open(dest) as image:
            return image.convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:
        raise MediaInputError(f"{dest.name}: not a readable image") from exc


def encode_image(image: Image.Image, content_type: str) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, **IMAGE_SAVE_ARGS[content_type])
    return buf.getvalue()


def run_tool(args: list[str], *, stdin: bytes | None = None, timeout: float = 1800) -> bytes:
    """Run ffmpeg/ffprobe; stdout on success, MediaToolError (stderr tail) on failure."""
    try:
        done = subprocess.run(
            args,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MediaToolError(f"{args[0]}: {type(exc).__name__}") from exc
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise MediaToolError(f"{args[0]} failed: {' | '.join(tail)}")
    return done.stdout


def ffmpeg(*args: str, stdin: bytes | None = None) -> bytes:
    return run_tool(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], stdin=stdin)


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's JSON (format + streams) for a local file."""
    out = run_tool(
        [
            "ffprobe", "-v", "error", "-print_format", "json",
            "-show_format", "-show_streams", "-count_packets", str(path),
        ]
    )  # fmt: skip
    return json.loads(out)


def write_audio(
    samples: np.ndarray, sample_rate: int, path: Path, *, content_type: str, bitrate: int = 128_000
) -> dict[str, Any]:
    """Encode float32 samples ([n] mono or [n, channels]) to Ogg Opus or WAV; audio meta."""
    data = np.asarray(samples, dtype=np.float32)
    channels = 1 if data.ndim == 1 else int(data.shape[1])
    data = np.clip(np.nan_to_num(data), -1.0, 1.0)
    codec = (
        ["-c:a", "libopus", "-b:a", str(bitrate), "-f", "ogg"]
        if content_type in ("audio/ogg", "audio/opus")
        else ["-c:a", "pcm_s16le", "-f", "wav"]
    )
    ffmpeg(
        "-f", "f32le", "-ar", str(sample_rate), "-ac", str(channels), "-i", "pipe:0",
        *codec, str(path),
        stdin=data.tobytes(),
    )  # fmt: skip
    return audio_meta(path)


def audio_meta(path: Path) -> dict[str, Any]:
    info = probe(path)
    stream = next(s for s in info["streams"] if s.get("codec_type") == "audio")
    return {
        "durationSeconds": round(float(info["format"]["duration"]), 3),
        "sampleRate": int(stream["sample_rate"]),
        "channels": int(stream["channels"]),
    }


def write_video(
    frames: np.ndarray, fps: int, path: Path, *, audio: Path | None = None
) -> dict[str, Any]:
    """Encode RGB uint8 frames [n, h, w, 3] (even h, w) to H.264 MP4; video meta."""
    data = np.ascontiguousarray(frames, dtype=np.uint8)
    _count, height, width, _ = data.shape
    audio_args = ["-i", str(audio), "-c:a", "aac", "-shortest"] if audio else []
    ffmpeg(
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps),
        "-i", "pipe:0", *audio_args,
        "-map", "0:v:0", *(["-map", "1:a:0"] if audio else []),
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast",
        "-movflags", "+faststart", str(path),
        stdin=data.tobytes(),
    )  # fmt: skip
    return video_meta(path)


def video_meta(path: Path) -> dict[str, Any]:
    info = probe(path)
    video = next(s for s in info["streams"] if s.get("codec_type") == "video")
    num, _, den = str(video.get("avg_frame_rate", "0/1")).partition("/")
    fps = float(num) / float(den or 1) if float(den or 1) else 0.0
    return {
        "width": int(video["width"]),
        "height": int(video["height"]),
        "frames": int(video.get("nb_read_packets") or video.get("nb_frames") or 0),
        "fps": round(fps, 3),
        "durationSeconds": round(float(info["format"]["duration"]), 3),
        "hasAudio": any(s.get("codec_type") == "audio" for s in info["streams"]),
    }


def upload(target: OutputTarget, path: Path) -> tuple[int, str]:
    """PUT `path` to the signed URL; returns (size, sha256 hex)."""
    size = path.stat().st_size
    if size > target.maxBytes:
        raise MediaToolError(f"output is {size} bytes, over the {target.maxBytes} limit")
    digest = hashlib.sha256()
    with path.open("rb") as src:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            digest.update(chunk)
    try:
        with path.open("rb") as src:
            response = httpx.put(
                target.uploadUrl,
                content=src,
                headers={"Content-Type": target.contentType, "Content-Length": str(size)},
                timeout=UPLOAD_TIMEOUT_S,
            )
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise MediaToolError(f"could not upload the output: {type(exc).__name__}") from exc
    return size, digest.hexdigest()


def deliver(
    job: MediaHandlerInput,
    path: Path,
    meta: dict[str, Any],
    *,
    started: float,
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Upload the output and build the handler's answer (`started`: time.monotonic())."""
    size, sha256 = upload(job.output, path)
    return MediaHandlerOutput(
        contentType=job.output.contentType,
        sizeBytes=size,
        sha256=sha256,
        meta=meta,
        usage=usage,
        handlerSeconds=round(time.monotonic() - started, 3),
    ).model_dump(exclude_none=True)
