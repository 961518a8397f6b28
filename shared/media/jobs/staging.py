"""Staging a media job's inputs: every URL and inline input becomes a checked object in
Cloud Storage before anything is billed.

What can never happen:
- A handler receives bytes nobody checked: inline payloads are decoded and URLs fetched
  (through the outbound guard: public addresses only, no redirects, at most the media's
  size cap), then each is checked by its content (Pillow for images, FFmpeg's demuxers
  through PyAV for audio and video, headers only, nothing decoded), whatever its declared
  MIME type. A file that is not the media its slot takes is a 400 naming the slot.
- A job's input rests in Firestore as a capability: the job stores object names only;
  `signed_inputs` signs them (GET, for the job's lifetime) each time the job is dispatched.
- An oversized input is read to the end: downloads stop one byte past the cap (413).
"""

from __future__ import annotations

import base64
import io
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

from shared.engine.errors import AppError, ErrorKind
from shared.engine.netguard import guarded_get
from shared.engine.outputs import bucket
from shared.engine.settings import get_settings
from shared.media.jobs.request import JobInput

MAX_BYTES: Final = {"image": 25 << 20, "audio": 50 << 20, "video": 200 << 20}
MAX_IMAGE_PIXELS: Final = 64_000_000
FETCH_TIMEOUT_S: Final = 60.0
PARALLEL_FETCHES: Final = 8
INPUTS_PREFIX: Final = "inputs"
_IMAGE_MIMES: Final = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
# FFmpeg demuxer names (the first of PyAV's comma-separated list) -> MIME per media.
_AUDIO_MIMES: Final = {
    "wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "flac": "audio/flac",
    "mov": "audio/mp4", "matroska": "audio/webm", "aac": "audio/aac",
}  # fmt: skip
_VIDEO_MIMES: Final = {"mov": "video/mp4", "matroska": "video/webm", "avi": "video/x-msvideo"}
_SLOT_CHARS: Final = re.compile(r"[^A-Za-z0-9]+")


@dataclass(frozen=True)
class Staged:
    """One checked input: where it is, what it is, and what probing found."""

    slot: str
    object_name: str
    mime: str
    size_bytes: int
    duration_seconds: Fraction | None = None
    frames: int | None = None
    fps: Fraction | None = None

    def reference(self) -> dict[str, Any]:
        """What the job stores for this input (signed only at dispatch)."""
        return {"object": self.object_name, "mimeType": self.mime, "sizeBytes": self.size_bytes}


def stage_all(inputs: list[JobInput], *, staging_id: str) -> list[Staged]:
    """Fetch or decode, check and store every input (in parallel); INVALID/TOO_LARGE on the
    first bad one (objects already stored stay for the bucket's lifecycle to delete)."""
    if not inputs:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL_FETCHES, len(inputs))) as pool:
        return list(pool.map(lambda item: _stage(item, staging_id), inputs))


def _stage(item: JobInput, staging_id: str) -> Staged:
    field = f"input.{item.slot}"
    data = _decode(item, field) if item.kind == "inline" else _fetch(item, field)
    if len(data) > MAX_BYTES[item.media]:
        raise AppError(ErrorKind.TOO_LARGE, f"{field}: larger than {MAX_BYTES[item.media]} bytes")
    staged = sniff(item.media, data, field=field)
    name = f"{INPUTS_PREFIX}/{staging_id}/{_SLOT_CHARS.sub('-', item.slot).strip('-')}"
    bucket().blob(name).upload_from_string(data, content_type=staged.mime)
    return Staged(
        slot=item.slot,
        object_name=name,
        mime=staged.mime,
        size_bytes=len(data),
        duration_seconds=staged.duration_seconds,
        frames=staged.frames,
        fps=staged.fps,
    )


def _decode(item: JobInput, field: str) -> bytes:
    payload = item.value.partition(",")[2] if item.value[:5].lower() == "data:" else item.value
    if len(payload) // 4 * 3 > MAX_BYTES[item.media]:
        raise AppError(ErrorKind.TOO_LARGE, f"{field}: larger than {MAX_BYTES[item.media]} bytes")
    return base64.b64decode(payload, validate=True)  # parse_request checked the alphabet


def _fetch(item: JobInput, field: str) -> bytes:
    try:
        response = guarded_get(
            item.value,
            timeout=FETCH_TIMEOUT_S,
            allow_private=get_settings().allow_private_webhooks,
            max_bytes=MAX_BYTES[item.media],
            label=f"{field} URL",
        )
    except AppError as exc:
        if exc.kind is ErrorKind.UNAVAILABLE:  # the client's host, not us: a client error
            raise AppError(ErrorKind.INVALID, f"{field}: {exc.message}") from None
        raise AppError(exc.kind, f"{field}: {exc.message}", exc.details) from None
    if not 200 <= response.status_code < 300:
        raise AppError(ErrorKind.INVALID, f"{field}: the URL answered HTTP {response.status_code}")
    return response.content


def sniff(media: str, data: bytes, *, field: str) -> Staged:
    """What `data` is, by content; INVALID when it is not `media`."""
    if media == "image":
        return _sniff_image(data, field)
    return _sniff_av(media, data, field)


def _sniff_image(data: bytes, field: str) -> Staged:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise AppError(ErrorKind.INVALID, f"{field}: image has too many pixels")
            kind = image.format
            image.verify()
    except AppError:
        raise
    except Exception:  # untrusted bytes: Pillow raises many types (struct.error, EOFError...)
        raise AppError(ErrorKind.INVALID, f"{field}: not a readable image") from None
    if kind not in _IMAGE_MIMES:
        raise AppError(ErrorKind.INVALID, f"{field}: image format {kind} is not supported")
    return Staged(field, "", _IMAGE_MIMES[kind], len(data))


def _sniff_av(media: str, data: bytes, field: str) -> Staged:
    import av

    try:
        with av.open(io.BytesIO(data), mode="r", timeout=10) as container:
            demuxer = container.format.name.split(",")[0]
            videos = container.streams.video
            audios = container.streams.audio
            duration = Fraction(container.duration, av.time_base) if container.duration else None
            frames = int(videos[0].frames) if videos and videos[0].frames else None
            fps = Fraction(videos[0].average_rate) if videos and videos[0].average_rate else None
    except Exception:  # untrusted bytes: FFmpeg errors, and odd values in odd headers
        raise AppError(ErrorKind.INVALID, f"{field}: not readable {media}") from None
    if media == "video":
        if not videos:
            raise AppError(ErrorKind.INVALID, f"{field}: has no video stream")
        mime = _VIDEO_MIMES.get(demuxer)
    else:
        if not audios:
            raise AppError(ErrorKind.INVALID, f"{field}: has no audio stream")
        mime = _AUDIO_MIMES.get(demuxer)
    if mime is None:
        raise AppError(ErrorKind.INVALID, f"{field}: {media} container {demuxer} is not supported")
    if frames is None and duration is not None and fps is not None:
        frames = int(duration * fps)
    return Staged(field, "", mime, len(data), duration, frames, fps)


def new_staging_id() -> str:
    return uuid.uuid4().hex


def signed_inputs(value: Any, *, expires_in_s: int) -> Any:
    """The stored input with every staged reference turned into a MediaFile (signed GET)."""
    if isinstance(value, dict):
        if set(value) == {"object", "mimeType", "sizeBytes"}:
            return {
                "url": sign_get(value["object"], expires_in_s=expires_in_s),
                "mimeType": value["mimeType"],
                "sizeBytes": value["sizeBytes"],
            }
        return {k: signed_inputs(v, expires_in_s=expires_in_s) for k, v in value.items()}
    if isinstance(value, list):
        return [signed_inputs(v, expires_in_s=expires_in_s) for v in value]
    return value


def sign_get(object_name: str, *, expires_in_s: int) -> str:
    return _sign(object_name, method="GET", expires_in_s=expires_in_s)


def sign_put(object_name: str, *, content_type: str, expires_in_s: int) -> str:
    return _sign(object_name, method="PUT", expires_in_s=expires_in_s, content_type=content_type)


def _sign(
    object_name: str, *, method: str, expires_in_s: int, content_type: str | None = None
) -> str:
    import datetime as dt

    from shared.engine import clock
    from shared.engine.outputs import signed_url

    now = clock.now()
    url = signed_url(
        object_name,
        expires_at=now + dt.timedelta(seconds=expires_in_s),
        now=now,
        method=method,
        content_type=content_type,
    )
    assert url is not None  # a positive lifetime always signs
    return url
