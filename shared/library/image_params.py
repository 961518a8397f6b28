"""What a user may say about an image they upload or edit: the upload form's fields, the
image PATCH body and the generation parameters both carry.

- Every field is typed and bounded; a malformed one is INVALID with a message that names it,
  and nothing is stored (callers validate here before their first write).
- `generationParams` holds only the documented keys (seed, steps, cfgScale, sampler,
  scheduler, negativePrompt, loras, comfyWorkflow), and fits in MAX_PARAMS_BYTES as JSON, so
  an image document always fits Firestore's 1 MiB limit.
- The upload form comes as text (multipart): integers are ASCII digits, loras and
  comfyWorkflow are JSON strings; an empty field is the same as an absent one (what a
  browser form sends for a blank input).
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.engine import validate
from shared.engine.errors import AppError, ErrorKind

MAX_PROMPT = 50_000  # characters
MAX_NAME = 200
MAX_PARAMS_BYTES = 512 * 1024
MAX_WORKFLOW_DEPTH = 64
NSFW_LEVELS = (0, 3)

Text = Annotated[str, Field(max_length=MAX_NAME)]
Prompt = Annotated[str, Field(max_length=MAX_PROMPT)]
_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Lora(BaseModel):
    model_config = _STRICT
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    strength: Annotated[float, Field(ge=-100, le=100)]


class GenerationParams(BaseModel):
    model_config = _STRICT
    seed: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | None = None
    steps: Annotated[int, Field(ge=1, le=10_000)] | None = None
    cfgScale: Annotated[float, Field(ge=0, le=100)] | None = None
    sampler: Text | None = None
    scheduler: Text | None = None
    negativePrompt: Prompt | None = None
    loras: Annotated[list[Lora], Field(max_length=100)] | None = None
    comfyWorkflow: dict[str, Any] | None = None


class ImagePatch(BaseModel):
    """PATCH /api/models/:id/images/:imageId; absent (or null) fields stay as they are."""

    model_config = _STRICT
    prompt: Prompt | None = None
    nsfwLevel: Annotated[int, Field(ge=NSFW_LEVELS[0], le=NSFW_LEVELS[1])] | None = None
    sortOrder: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    generationParams: GenerationParams | None = None


class UploadFields(BaseModel):
    """The upload form's fields besides the file, parsed."""

    model_config = _STRICT
    prompt: Prompt | None = None
    nsfwLevel: Annotated[int, Field(ge=NSFW_LEVELS[0], le=NSFW_LEVELS[1])] = 0
    generationParams: GenerationParams


_TEXT_FIELDS = ("prompt", "negativePrompt", "sampler", "scheduler")
_INT_FIELDS = ("seed", "steps", "nsfwLevel")
_JSON_FIELDS = {"loras": list, "comfyWorkflow": dict}
FORM_FIELDS = (*_TEXT_FIELDS, *_INT_FIELDS, "cfgScale", *_JSON_FIELDS)


def _invalid(message: str) -> AppError:
    return AppError(ErrorKind.INVALID, message)


def _message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "generationParams")
    return f"{where or 'body'}: {first.get('msg', 'invalid')}"


def _number(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _invalid(f"{name}: must be a number") from None
    if not math.isfinite(value):
        raise _invalid(f"{name}: must be a finite number")
    return value


def _json(name: str, raw: str) -> Any:
    kind = _JSON_FIELDS[name]
    what = "an array" if kind is list else "an object"
    if len(raw.encode()) > MAX_PARAMS_BYTES:
        raise _invalid(f"{name}: is larger than {MAX_PARAMS_BYTES} bytes")
    try:
        value = validate.loads_json(raw.encode(), max_depth=MAX_WORKFLOW_DEPTH)
    except AppError:
        raise _invalid(f"{name}: must be a JSON string holding {what}") from None
    if not isinstance(value, kind):
        raise _invalid(f"{name}: must be a JSON string holding {what}")
    return value


def upload_fields(form: dict[str, str]) -> UploadFields:
    """The upload form's text fields (one value each) parsed and checked."""
    unknown = sorted(set(form) - set(FORM_FIELDS))
    if unknown:
        raise _invalid(f"Unknown form field: {unknown[0]}")
    given = {k: v for k, v in form.items() if v.strip() != ""}
    parsed: dict[str, Any] = {}
    for name, raw in given.items():
        if name in _INT_FIELDS:
            number = validate.strict_int(raw.strip())
            if number is None:
                raise _invalid(f"{name}: must be an integer")
            parsed[name] = number
        elif name == "cfgScale":
            parsed[name] = _number(name, raw.strip())
        elif name in _JSON_FIELDS:
            parsed[name] = _json(name, raw)
        else:
            parsed[name] = raw
    top = {k: parsed.pop(k) for k in ("prompt", "nsfwLevel") if k in parsed}
    try:
        return UploadFields.model_validate({**top, "generationParams": parsed})
    except ValidationError as exc:
        raise _invalid(_message(exc)) from None


def stored_params(params: GenerationParams) -> str:
    """The generation parameters as stored: compact JSON of the given keys (a string, so
    any key a workflow holds is kept as written, whatever Firestore allows in field names)."""
    text = json.dumps(params.model_dump(exclude_none=True), separators=(",", ":"))
    if len(text.encode()) > MAX_PARAMS_BYTES:
        raise _invalid(f"generationParams: is larger than {MAX_PARAMS_BYTES} bytes")
    return text
