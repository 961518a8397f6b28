"""The Studio agent's LLM client: streamed Chat Completions with tool calls (`openai` SDK).

Invariants:
- A document `agentModel` reaches the provider only through `AGENT_MODELS` (one table); any
  other value is `AppError(INVALID, "agentModel: ...")` and no request is sent. Likewise
  `reasoningLevel` through `REASONING_EFFORTS` ("default" sends none).
- `stream_chat` yields `TextDelta` and `ToolCallDelta` events in the order the provider
  streams them, then exactly one `Completed` carrying the assembled `AssistantMessage`:
  its text is the concatenation of every text delta, and each tool call's arguments the
  concatenation of its argument deltas, parsed as JSON. Arguments that are not a JSON
  object are `AppError(UNAVAILABLE)` naming the tool and call id, never a silent `{}`.
- Every provider failure (refused, unreachable, broken stream) is `AppError(UNAVAILABLE)`
  with the HTTP status and OpenAI's error code; no message or detail contains the API key.
  No SDK exception escapes this module.
- Settings come from the environment (`OPENAI_API_KEY`, `RELAY_OPENAI_API_BASE`); the
  SDK client is built lazily, once per (key, base URL).
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai

try:  # the SDK's HTTP layer: a stream cut mid-way raises its transport error, not the SDK's
    import httpx2 as _http
except ImportError:  # pragma: no cover - older SDKs ride on httpx
    import httpx as _http  # type: ignore[no-redef]

from shared.engine.errors import AppError, ErrorKind
from shared.engine.validate import MAX_JSON_DEPTH, json_depth

log = logging.getLogger(__name__)

# The document's agentModel enum -> the provider's model name.
AGENT_MODELS: dict[str, str] = {
    "gpt-5.4-nano": "gpt-5.4-nano",
    "gpt-5.4-mini": "gpt-5.4-mini",
    "gpt-5.4": "gpt-5.4",
}
DEFAULT_AGENT_MODEL = "gpt-5.4-mini"
# The document's reasoningLevel enum -> the provider's reasoning_effort (None: not sent).
REASONING_EFFORTS: dict[str, str | None] = {
    "default": None,
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
}
TIMEOUT_S = 120.0
MAX_RETRIES = 2


@dataclass(frozen=True)
class OpenAISettings:
    api_key: str = field(repr=False)
    base_url: str | None  # None: OpenAI's own endpoint


def settings_from_env() -> OpenAISettings:
    """Read here until the lead moves them into `Settings`."""
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        raise AppError(ErrorKind.UNAVAILABLE, "llm: OPENAI_API_KEY is not configured")
    base = os.environ.get("RELAY_OPENAI_API_BASE", "").strip() or None
    return OpenAISettings(api_key=key, base_url=base)


@functools.lru_cache(maxsize=4)
def _client(api_key: str, base_url: str | None) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=api_key, base_url=base_url, timeout=TIMEOUT_S, max_retries=MAX_RETRIES
    )


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments)},
        }


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class AssistantMessage:
    content: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str | None
    usage: Usage | None = None

    def to_openai(self) -> dict[str, Any]:
        """The message to append to the conversation before sending tool results."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if self.tool_calls:
            message["tool_calls"] = [call.to_openai() for call in self.tool_calls]
        return message


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    index: int
    id: str | None  # set on a call's first delta
    name: str | None  # set on a call's first delta
    arguments: str  # this delta's piece of the JSON arguments


@dataclass(frozen=True)
class Completed:
    message: AssistantMessage


Delta = TextDelta | ToolCallDelta | Completed


def tool_result_message(*, tool_call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": tool_call_id, "content": content}


def provider_model(agent_model: str) -> str:
    try:
        return AGENT_MODELS[agent_model]
    except (KeyError, TypeError):
        raise AppError(
            ErrorKind.INVALID, f"agentModel: must be one of {', '.join(AGENT_MODELS)}"
        ) from None


def reasoning_effort(level: str) -> str | None:
    try:
        return REASONING_EFFORTS[level]
    except (KeyError, TypeError):
        raise AppError(
            ErrorKind.INVALID, f"reasoningLevel: must be one of {', '.join(REASONING_EFFORTS)}"
        ) from None


def _redact(text: str, key: str) -> str:
    return text.replace(key, "[redacted]") if key else text


def _unavailable(exc: Exception, key: str) -> AppError:
    if isinstance(exc, openai.APIStatusError):
        code = getattr(exc, "code", None) or getattr(exc, "type", None) or "error"
        message = f"llm: the provider refused the request (HTTP {exc.status_code}, {code})"
        details: dict[str, Any] = {"status": exc.status_code, "code": str(code)}
    elif isinstance(exc, openai.APIConnectionError):  # timeouts included
        message, details = "llm: the provider is unreachable", {}
    else:
        message, details = "llm: the provider's reply broke off", {}
    log.warning("openai call failed: %s", _redact(str(exc), key))
    return AppError(ErrorKind.UNAVAILABLE, _redact(message, key), details)


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def finish(self) -> ToolCall:
        raw = "".join(self.arguments) or "{}"
        try:  # depth first: deep nesting must not reach the C decoder (see validate)
            parsed = json.loads(raw) if json_depth(raw) <= MAX_JSON_DEPTH else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise AppError(
                ErrorKind.UNAVAILABLE,
                f"llm: the model's arguments for tool {self.name!r} are not a JSON object",
                {"tool": self.name, "tool_call_id": self.id},
            )
        return ToolCall(id=self.id, name=self.name, arguments=parsed)


def _events(stream: Any, calls: dict[int, _PendingCall], state: dict[str, Any]) -> Iterator[Delta]:
    for chunk in stream:
        if chunk.usage is not None:
            u = chunk.usage
            state["usage"] = Usage(u.prompt_tokens, u.completion_tokens, u.total_tokens)
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                state["text"].append(delta.content)
                yield TextDelta(delta.content)
            for part in delta.tool_calls or []:
                pending = calls.setdefault(part.index, _PendingCall())
                fn = part.function
                pending.id = part.id or pending.id
                pending.name = (fn.name if fn else None) or pending.name
                piece = (fn.arguments if fn else None) or ""
                pending.arguments.append(piece)
                yield ToolCallDelta(
                    index=part.index, id=part.id, name=fn.name if fn else None, arguments=piece
                )
            if choice.finish_reason:
                state["finish"] = choice.finish_reason


def stream_chat(
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]] | None,
    model: str,
    *,
    reasoning_level: str = "default",
    settings: OpenAISettings | None = None,
) -> Iterator[Delta]:
    """Stream one assistant turn; `model` is a document `agentModel` value."""
    target = provider_model(model)
    effort = reasoning_effort(reasoning_level)
    config = settings or settings_from_env()
    extra: dict[str, Any] = {}
    if tools:
        extra["tools"] = list(tools)
    if effort:
        extra["reasoning_effort"] = effort
    calls: dict[int, _PendingCall] = {}
    state: dict[str, Any] = {"text": [], "finish": None, "usage": None}
    try:
        client = _client(config.api_key, config.base_url)
        stream = client.chat.completions.create(  # type: ignore[call-overload]
            model=target,
            messages=list(messages),
            stream=True,
            stream_options={"include_usage": True},
            **extra,
        )
        yield from _events(stream, calls, state)
    except (openai.OpenAIError, _http.HTTPError) as exc:
        raise _unavailable(exc, config.api_key) from None
    finished = tuple(calls[i].finish() for i in sorted(calls))
    yield Completed(
        AssistantMessage(
            content="".join(state["text"]),
            tool_calls=finished,
            finish_reason=state["finish"],
            usage=state["usage"],
        )
    )


def complete_chat(
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]] | None,
    model: str,
    *,
    reasoning_level: str = "default",
    settings: OpenAISettings | None = None,
) -> AssistantMessage:
    """Drain `stream_chat` and answer the assembled message."""
    for delta in stream_chat(
        messages, tools, model, reasoning_level=reasoning_level, settings=settings
    ):
        if isinstance(delta, Completed):
            return delta.message
    raise AppError(ErrorKind.UNAVAILABLE, "llm: the provider's reply ended without a message")
