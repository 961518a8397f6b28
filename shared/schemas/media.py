"""The media handler contract: what the gateway sends a media handler, what it answers.

One job runs one task on one handler (`HANDLER_TASKS`). The gateway has already parsed and
priced the client's `MediaJobRequest`; the handler receives the task's *effective input*
(camelCase keys as the Killa Tamata document spells them, defaults filled in, aliases folded
into their canonical names) with every media input replaced by a `MediaFile`: a signed GET
URL of the copy the gateway staged in Cloud Storage, its sniffed MIME type and its size.
A list input (`overlapFrameImages`, `referenceImages`, `videoUrls`) is a list of them.

The handler writes exactly one output file and PUTs it to `output.uploadUrl` with the header
`Content-Type: <output.contentType>`, never larger than `output.maxBytes`; it answers a
`MediaHandlerOutput` (size and SHA-256 of what it uploaded, facts about it in `meta`). The
completion callback checks the object in the bucket against that answer before the job
completes, so a handler can never make the gateway deliver something it did not upload.

A payload for another handler, or one that fails this schema, is the caller's bug: handlers
answer `{"error": "invalid input: ..."}` (RunPod's failed-job convention), and the job fails
with its hold released.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

MediaTask = Literal[
    "image.generate",
    "image.edit",
    "video.generate",
    "video.combine",
    "video.resize",
    "audio.speak",
    "audio.annotation.reference",
    "ace.step.create",
    "moss.sound.effect",
    "trellis.generate",
]

# Handler id (RunPod endpoint / Modal class name, and the folder gpu_handlers/<id with _>)
# -> the tasks it runs. `audio.speak` runs on one of two, by the request's `provider`;
# `image.generate` on z-image-turbo, or on flux-kontext when it carries reference images.
HANDLER_TASKS: Final[dict[str, tuple[str, ...]]] = {
    "z-image-turbo": ("image.generate",),
    "flux-kontext": ("image.edit", "image.generate"),  # generate: with reference images
    "ltx-video": ("video.generate",),
    "ffmpeg-video": ("video.combine", "video.resize"),
    "omnivoice": ("audio.speak",),
    "gemini-tts": ("audio.speak",),
    "whisper": ("audio.annotation.reference",),
    "ace-step": ("ace.step.create",),
    "moss-sound": ("moss.sound.effect",),
    "trellis": ("trellis.generate",),
}

# The one output of each task, by content type (images follow `outputFormat`).
IMAGE_CONTENT_TYPES: Final = {"webp": "image/webp", "png": "image/png", "jpg": "image/jpeg"}
TASK_CONTENT_TYPE: Final[dict[str, str]] = {
    "video.generate": "video/mp4",
    "video.combine": "video/mp4",
    "video.resize": "video/mp4",
    "audio.annotation.reference": "application/json",
    "ace.step.create": "audio/ogg",  # Opus at the `quality` bitrate
    "moss.sound.effect": "audio/ogg",
    "trellis.generate": "model/gltf-binary",  # GLB
}
SPEECH_CONTENT_TYPE: Final = {"omnivoice": "audio/ogg", "gemini": "audio/wav"}
OPUS_BITRATES: Final = {"96k": 96_000, "128k": 128_000, "192k": 192_000}
DEFAULT_OPUS_QUALITY: Final = "128k"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MediaFile(_Model):
    """A staged input: signed GET URL, sniffed MIME type, exact size in bytes."""

    url: str
    mimeType: str
    sizeBytes: int = Field(ge=0)


class OutputTarget(_Model):
    """Where the handler PUTs its one output (signed URL bound to `contentType`)."""

    uploadUrl: str
    contentType: str
    maxBytes: int = Field(gt=0)


class MediaHandlerInput(_Model):
    handler: str  # the handler id this payload was routed to
    task: MediaTask
    input: dict[str, Any]
    output: OutputTarget
    jobId: str


class MediaHandlerOutput(_Model):
    """What a media handler answers once its output is uploaded.

    `meta` holds what the file is, for the status response and the completion check:
    images `width`, `height`; video `width`, `height`, `frames`, `fps`, `durationSeconds`,
    `hasAudio`; audio `durationSeconds`, `sampleRate`, `channels`; annotation `words`;
    mesh `vertices`, `faces`. `usage` is a metered provider's own count (Gemini's tokens),
    for an exact bill at completion.
    """

    contentType: str
    sizeBytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    meta: dict[str, Any] = Field(default_factory=dict)
    usage: dict[str, int] | None = None
    handlerSeconds: float = Field(ge=0)


def is_media_payload(payload: object) -> bool:
    """True for a media handler payload (an image handler also serves PicShapes' own)."""
    return isinstance(payload, dict) and "task" in payload and "output" in payload
