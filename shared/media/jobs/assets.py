"""Media inputs (URL strings and inline objects), checked for shape only, and the base of
every task's `input` model.

Shape rules (content checks and fetching come later, in the staging step):
- A URL is an absolute `http` or `https` URL with a host, at most MAX_URL_CHARS characters,
  with no whitespace or control characters.
- An inline object (`MediaInlineImageSource` / `MediaInlineAudioSource`) has exactly one of
  `url` and `dataBase64`, and optionally `mimeType`; no other key.
- `dataBase64` is standard base64 (RFC 4648 alphabet, padded, no whitespace) or a
  `data:<mime>;base64,<payload>` URI; the payload decodes to at least one byte. The document
  states no size cap, so none is applied here (the site's body limit bounds it).
- A declared MIME (`mimeType`, or the data URI's) must be one the slot allows; when both are
  given they must agree. `image/jpg` is read as `image/jpeg` (an input adjustment).
- Where the document allows a URL string or an object (`MediaImageInput`, `MediaAudioInput`)
  either is accepted; a `*Url` field takes a string only; trellis' `sourceImage` an object only.

Spellings of one input (`sourceImage` / `startFrameImage`, `xUrl` / `x`, `xUrls` / `xs`) are
folded into the canonical field by `InputModel.fold`; giving two spellings of one input is
INVALID (the document does not say which would win). Each fold is an input adjustment.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, PrivateAttr
from pydantic.alias_generators import to_camel

from shared.media.jobs.formats import normalise_mime

MAX_URL_CHARS: Final = 8_192
URL_SCHEMES: Final = ("http", "https")

IMAGE_MIMES: Final = ("image/webp", "image/png", "image/jpeg", "image/jpg")
AUDIO_MIMES: Final = (
    "audio/ogg",
    "audio/opus",
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
    "audio/mpeg",
    "audio/mp3",
    "audio/flac",
    "audio/x-flac",
    "audio/aac",
    "audio/mp4",
    "audio/webm",
)
_ALLOWED_MIMES: Final = {"image": IMAGE_MIMES, "audio": AUDIO_MIMES, "video": ()}
_INLINE_KEYS: Final = frozenset({"url", "dataBase64", "mimeType"})
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_NOT_URL_CHAR: Final = re.compile(r"[\s\x00-\x1f\x7f]")

Media = Literal["image", "audio", "video"]


@dataclass(frozen=True)
class Asset:
    """One media input as the client gave it, shape-checked.

    `value` is the URL or the raw `dataBase64` text (base64 or data URI), untouched; `mime`
    is the normalised declared MIME (None when none was declared); `requested_mime` is the
    declaration as sent; `size_bytes` is the decoded size of an inline payload.
    """

    media: Media
    kind: Literal["url", "inline"]
    value: str
    mime: str | None = None
    requested_mime: str | None = None
    size_bytes: int | None = None

    def to_json(self) -> Any:
        """The input as `effectiveInput` shows it: a URL string, or a summary of an inline
        payload (the payload itself is never echoed back)."""
        if self.kind == "url":
            return self.value
        return {"inline": True, "mimeType": self.mime, "sizeBytes": self.size_bytes}


def check_url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a URL string")
    if len(value) > MAX_URL_CHARS:
        raise ValueError(f"must be at most {MAX_URL_CHARS} characters")
    if _NOT_URL_CHAR.search(value):
        raise ValueError("must not contain whitespace or control characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError as exc:
        raise ValueError("is not a well-formed URL") from exc
    if parts.scheme.lower() not in URL_SCHEMES:
        raise ValueError("must be an http or https URL")
    if not host:
        raise ValueError("must be an absolute URL with a host")
    return value


def _declared_mime(media: Media, mime: object, *, any_mime: bool = False) -> str:
    if not isinstance(mime, str):
        raise ValueError("mimeType must be a string")
    allowed = _ALLOWED_MIMES[media]
    if not any_mime and mime.strip().lower() not in allowed:
        raise ValueError(f"mimeType {mime!r} is not allowed here (allowed: {', '.join(allowed)})")
    return mime


def _inline_payload(
    media: Media, data: object, *, any_mime: bool = False
) -> tuple[str | None, int]:
    """(the data URI's MIME or None, the decoded size) of a `dataBase64` value."""
    if not isinstance(data, str):
        raise ValueError("dataBase64 must be a string")
    mime: str | None = None
    payload = data
    if data[:5].lower() == "data:":
        header, comma, payload = data[5:].partition(",")
        params = header.split(";")
        if not comma or params[-1].lower() != "base64":
            raise ValueError("dataBase64 data URI must be data:<mime>;base64,<payload>")
        mime = _declared_mime(media, params[0], any_mime=any_mime) if params[0] else None
    if not payload:
        raise ValueError("dataBase64 must not be empty")
    if len(payload) % 4 or not _BASE64.fullmatch(payload):
        raise ValueError("dataBase64 is not valid base64 (standard alphabet, padded)")
    try:
        size = len(binascii.a2b_base64(payload, strict_mode=True))
    except binascii.Error as exc:
        raise ValueError("dataBase64 is not valid base64") from exc
    return mime, size


def url_asset(media: Media, value: object) -> Asset:
    return Asset(media=media, kind="url", value=check_url(value))


def object_asset(media: Media, value: object, *, any_mime: bool = False) -> Asset:
    """An inline object: exactly one of url / dataBase64, optional mimeType (one of the
    media's allowed types, or any string where the document says so: `any_mime`)."""
    if not isinstance(value, dict):
        raise ValueError("must be an object with url or dataBase64")
    unknown = sorted(set(value) - _INLINE_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (allowed: url, dataBase64, mimeType)")
    if ("url" in value) == ("dataBase64" in value):
        raise ValueError("must have exactly one of url and dataBase64")
    declared = value.get("mimeType")
    if declared is not None:
        declared = _declared_mime(media, declared, any_mime=any_mime)
    if "url" in value:
        mime = normalise_mime(declared) if declared else None
        return Asset(media, "url", check_url(value["url"]), mime, declared)
    uri_mime, size = _inline_payload(media, value["dataBase64"], any_mime=any_mime)
    if declared and uri_mime and normalise_mime(declared) != normalise_mime(uri_mime):
        raise ValueError(f"mimeType {declared!r} disagrees with the data URI's {uri_mime!r}")
    # the declaration that normalisation changed, if any, is the one recorded as requested
    changed = [m for m in (declared, uri_mime) if m and m != normalise_mime(m)]
    requested = changed[0] if changed else declared or uri_mime
    mime = normalise_mime(requested) if requested else None
    return Asset(media, "inline", value["dataBase64"], mime, requested, size)


def either_asset(media: Media, value: object, *, any_mime: bool = False) -> Asset:
    if isinstance(value, str):
        return url_asset(media, value)
    if isinstance(value, dict):
        return object_asset(media, value, any_mime=any_mime)
    raise ValueError("must be a URL string or an object with url or dataBase64")


def _serialise(asset: Asset) -> Any:
    return asset.to_json()


def _image_either(value: object) -> Asset:
    return either_asset("image", value)


def _image_object(value: object) -> Asset:
    return object_asset("image", value)


def _image_url(value: object) -> Asset:
    return url_asset("image", value)


def _audio_either(value: object) -> Asset:
    return either_asset("audio", value)


def _speech_reference(value: object) -> Asset:
    # audio.speak's referenceAudio object takes any `mimeType` string (the document's own
    # inline schema there); the content is what staging checks.
    return either_asset("audio", value, any_mime=True)


def _audio_url(value: object) -> Asset:
    return url_asset("audio", value)


def _video_url(value: object) -> Asset:
    return url_asset("video", value)


_OUT = PlainSerializer(_serialise)
ImageInput = Annotated[Asset, PlainValidator(_image_either), _OUT]
InlineImageSource = Annotated[Asset, PlainValidator(_image_object), _OUT]
ImageUrl = Annotated[Asset, PlainValidator(_image_url), _OUT]
AudioInput = Annotated[Asset, PlainValidator(_audio_either), _OUT]
SpeechReferenceAudio = Annotated[Asset, PlainValidator(_speech_reference), _OUT]
AudioUrl = Annotated[Asset, PlainValidator(_audio_url), _OUT]
VideoUrl = Annotated[Asset, PlainValidator(_video_url), _OUT]
HttpUrl = Annotated[str, PlainValidator(check_url)]


class InputAdjustment(BaseModel):
    """`MediaInputAdjustment`: one change parsing made to what the client sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str
    requested: Any = None
    effective: Any = None
    reason: str


class InputModel(BaseModel):
    """Base of every task's `input`: camelCase names, unknown keys refused, strict types
    (an integer is a JSON integer, a boolean a JSON boolean), no NaN or infinity."""

    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, alias_generator=to_camel
    )
    _adjustments: list[InputAdjustment] = PrivateAttr(default_factory=list)
    CANONICAL: ClassVar[tuple[str, ...]] = ()

    @property
    def adjustments(self) -> list[InputAdjustment]:
        return list(self._adjustments)

    def adjust(self, field: str, requested: Any, effective: Any, reason: str) -> None:
        self._adjustments.append(
            InputAdjustment(
                field=f"input.{field}", requested=requested, effective=effective, reason=reason
            )
        )

    def fold(self, canonical: str, *aliases: str) -> None:
        """Move the one given spelling of an input into `canonical` (python names)."""
        names = (canonical, *aliases)
        given = [name for name in names if getattr(self, name) is not None]
        if len(given) > 1:
            spelled = " and ".join(f"input.{to_camel(n)}" for n in given)
            raise ValueError(f"{spelled} name the same input; give only one")
        if not given or given[0] == canonical:
            return
        alias = given[0]
        setattr(self, canonical, getattr(self, alias))
        setattr(self, alias, None)
        self.adjust(to_camel(alias), to_camel(alias), to_camel(canonical), "alias")
