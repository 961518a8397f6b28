"""Studio request bodies (the non-agent operations), exactly as the seed document gives them.

Every body is strict: unknown keys, wrong JSON types and out-of-bound values are
`AppError(INVALID, "<field>: <reason>")` and nothing else is raised for any client body. Ids
are `DocId`s. `userMetadata` is a free JSON object, bounded by MAX_METADATA_BYTES of JSON and
by the JSON depth limit the doorway already enforces; its keys are Firestore-safe map keys.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from shared.engine.errors import AppError, ErrorKind
from shared.engine.validate import DocId, check_field_key
from shared.media.studio.documents import Title, validation_message

MAX_METADATA_BYTES: Final = 16 * 1024
RECYCLED_KEY: Final = "recycled"

THREAD_MODELS: Final = ("gpt-5.4-nano", "gpt-5.4-mini", "gpt-5.4")

SettingsModel = Literal[
    "gpt-5.4-nano",
    "gpt-5.4-mini",
    "gpt-5.4",
    "deepseek-chat",
    "minimax/minimax-m2.7",
    "zai-org/GLM-5",
    "moonshotai/Kimi-K2.5",
]
ThreadModel = Literal["gpt-5.4-nano", "gpt-5.4-mini", "gpt-5.4"]
ReasoningLevel = Literal["default", "low", "medium", "high", "xhigh"]
LongTitle = Annotated[str, Field(min_length=2, max_length=120)]
Description = Annotated[str, Field(max_length=4000)]
DisplayName = Annotated[str, Field(max_length=80)]


class _Body(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, alias_generator=to_camel
    )


class ProjectCreate(_Body):
    title: LongTitle
    description: Description = ""


class ProjectUpdate(_Body):
    project_id: DocId
    title: LongTitle | None = None
    description: Description | None = None


class SettingsUpdate(_Body):
    user_display_name: DisplayName | None = None
    assistant_display_name: DisplayName | None = None
    conversation_starter_instructions: Annotated[str, Field(max_length=2000)] | None = None
    default_agent_model: SettingsModel
    default_reasoning_level: ReasoningLevel


class ThreadCreate(_Body):
    project_id: DocId
    title: LongTitle | None = None
    agent_model: ThreadModel | None = None
    reasoning_level: ReasoningLevel | None = None


class ThreadSelect(_Body):
    thread_id: DocId


class ThreadRename(_Body):
    thread_id: DocId
    title: LongTitle


class MetadataPatch(_Body):
    asset_id: DocId
    user_metadata: dict[str, Any]

    @field_validator("user_metadata")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
        except (TypeError, ValueError, RecursionError, UnicodeEncodeError):
            raise ValueError("must be a JSON object") from None
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes of JSON")
        _check_keys(value)
        if RECYCLED_KEY in value and not isinstance(value[RECYCLED_KEY], bool):
            raise ValueError(f"{RECYCLED_KEY} must be true or false")
        return value


def _check_keys(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            check_field_key(key)
            _check_keys(item)
    elif isinstance(value, list):
        for item in value:
            _check_keys(item)


class StoryboardImport(_Body):
    project_id: DocId
    source_asset_id: DocId
    title: Title | None = None


_M = TypeVar("_M", bound=BaseModel)


def parse(model: type[_M], data: object) -> _M:
    """`data` as `model`, or INVALID naming the first bad field (camelCase, as sent)."""
    if not isinstance(data, dict):
        raise AppError(ErrorKind.INVALID, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AppError(ErrorKind.INVALID, validation_message(exc)) from None
