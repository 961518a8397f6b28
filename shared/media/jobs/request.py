"""The `POST /api/v1/media/jobs` body (`MediaJobRequest`): a union discriminated by `task`.

- The body is an object with `task` (one of TASKS), `input` (that task's input object) and
  optionally `idempotencyKey` (1..200 characters) and `completionCallbackUrl` (an http(s)
  URL); no other key, at the top level or in `input`.
- `parse_request(data)` returns the typed request or raises `AppError(INVALID, message)`;
  the message starts with the offending field's path (`input.width: ...`). Nothing else is
  raised for any client body.
- After parsing, `input_adjustments` lists every normalisation (aliases folded, dot-prefixed
  output formats, `image/jpg` read as `image/jpeg`, durationSeconds dropped for
  durationFrames) in the `MediaInputAdjustment` shape; `effective_input()` is the input as it
  will be run (canonical names, defaults filled in, inline payloads summarised); `inputs()`
  lists the URL and inline media inputs for the staging step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from shared.engine.errors import AppError, ErrorKind
from shared.media.jobs.assets import Asset, HttpUrl, InputAdjustment, InputModel
from shared.media.jobs.audio import (
    AceStepInput,
    AudioAnnotationInput,
    AudioSpeakInput,
    MossSoundEffectInput,
)
from shared.media.jobs.images import ImageEditInput, ImageGenerateInput
from shared.media.jobs.mesh import TrellisInput
from shared.media.jobs.video import VideoCombineInput, VideoGenerateInput, VideoResizeInput

TASKS: Final = (
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
)


@dataclass(frozen=True)
class JobInput:
    """One media input for staging: `slot` is its path in `input` (`startFrameImage`,
    `overlapFrameImages[2]`), `kind` url | inline, `mime` the declared (normalised) MIME or
    None, `value` the URL or the raw `dataBase64` text."""

    slot: str
    media: str
    kind: str
    mime: str | None
    value: str


class _Request(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, alias_generator=to_camel
    )
    task: str
    input: InputModel
    idempotency_key: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    completion_callback_url: HttpUrl | None = None

    @property
    def input_adjustments(self) -> list[InputAdjustment]:
        found = self.input.adjustments
        for job_input, asset in self._assets():
            if asset.requested_mime and asset.requested_mime != asset.mime:
                found.append(
                    InputAdjustment(
                        field=f"input.{job_input}.mimeType",
                        requested=asset.requested_mime,
                        effective=asset.mime,
                        reason="MIME normalised",
                    )
                )
        return found

    def effective_input(self) -> dict[str, Any]:
        dumped: dict[str, Any] = self.input.model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        return dumped

    def inputs(self) -> list[JobInput]:
        return [
            JobInput(slot, asset.media, asset.kind, asset.mime, asset.value)
            for slot, asset in self._assets()
        ]

    def _assets(self) -> list[tuple[str, Asset]]:
        found: list[tuple[str, Asset]] = []
        for name, info in type(self.input).model_fields.items():
            if info.exclude:
                continue
            value = getattr(self.input, name)
            slot = info.alias or name
            if isinstance(value, Asset):
                found.append((slot, value))
            elif isinstance(value, list):
                found.extend(
                    (f"{slot}[{i}]", item)
                    for i, item in enumerate(value)
                    if isinstance(item, Asset)
                )
        return found


class ImageGenerateRequest(_Request):
    task: Literal["image.generate"]
    input: ImageGenerateInput


class ImageEditRequest(_Request):
    task: Literal["image.edit"]
    input: ImageEditInput


class VideoGenerateRequest(_Request):
    task: Literal["video.generate"]
    input: VideoGenerateInput


class VideoCombineRequest(_Request):
    task: Literal["video.combine"]
    input: VideoCombineInput


class VideoResizeRequest(_Request):
    task: Literal["video.resize"]
    input: VideoResizeInput


class AudioSpeakRequest(_Request):
    task: Literal["audio.speak"]
    input: AudioSpeakInput


class AudioAnnotationRequest(_Request):
    task: Literal["audio.annotation.reference"]
    input: AudioAnnotationInput


class AceStepRequest(_Request):
    task: Literal["ace.step.create"]
    input: AceStepInput


class MossSoundEffectRequest(_Request):
    task: Literal["moss.sound.effect"]
    input: MossSoundEffectInput


class TrellisRequest(_Request):
    task: Literal["trellis.generate"]
    input: TrellisInput


MediaJobRequestModel = Annotated[
    (
        ImageGenerateRequest
        | ImageEditRequest
        | VideoGenerateRequest
        | VideoCombineRequest
        | VideoResizeRequest
        | AudioSpeakRequest
        | AudioAnnotationRequest
        | AceStepRequest
        | MossSoundEffectRequest
        | TrellisRequest
    ),
    Field(discriminator="task"),
]
_ADAPTER: TypeAdapter[MediaJobRequestModel] = TypeAdapter(MediaJobRequestModel)

_MESSAGES: Final = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
}


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _message(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    path = _path(tuple(error["loc"])[1:])  # the first element is the union's tag
    text = _MESSAGES.get(error["type"], error["msg"])
    text = text.removeprefix("Value error, ")
    if text.startswith(("input.", "input:")) or not path:
        return text
    return f"{path}: {text}"


def parse_request(data: object) -> MediaJobRequestModel:
    """The typed request, or AppError(INVALID) naming the field."""
    if not isinstance(data, dict):
        raise AppError(ErrorKind.INVALID, "the body must be a JSON object")
    task = data.get("task")
    if task is None:
        raise AppError(ErrorKind.INVALID, "task: is required")
    if not isinstance(task, str) or task not in TASKS:
        raise AppError(ErrorKind.INVALID, f"task: must be one of {', '.join(TASKS)}")
    if not isinstance(data.get("input"), dict):
        raise AppError(ErrorKind.INVALID, "input: is required and must be an object")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise AppError(ErrorKind.INVALID, _message(exc)) from None
