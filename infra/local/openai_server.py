"""A local stand-in for OpenAI's Chat Completions API (text, tool calls, streaming).

OpenAI has no local form, so the Studio agent's real `openai` client runs against this
server; only its base URL differs (`RELAY_OPENAI_API_BASE=http://127.0.0.1:12115/v1`).

Endpoint, with OpenAI's path, field names and envelopes:
``POST /v1/chat/completions`` {model, messages, tools?, stream?, stream_options?} ->
a ``chat.completion`` object, or with ``stream: true`` Server-Sent Events
``data: {chat.completion.chunk}`` lines ending with ``data: [DONE]``.

Invariants:
- Auth as OpenAI answers it: no ``Authorization: Bearer`` -> 401 (code null); a wrong key
  -> 401 ``invalid_api_key`` whose message shows only a masked key. An unknown model ->
  404 ``model_not_found``; a malformed body -> 400 ``invalid_request_error``. Every error
  is ``{"error": {"message", "type", "param", "code"}}``.
- Replies are deterministic. A scripted rule answers when its ``match`` is a substring of
  the last user message (``after_tool_result: true`` rules answer only when the last
  message is a tool result; others only when it is not), and every tool it calls is
  offered in the request's ``tools``; the first such rule wins. Otherwise the reply is
  ``Echo: <last user message>`` (or ``Tool results received: <names>`` after a tool result).
- One built-in rule, after the scripted ones, so ``make dev`` works unscripted: when
  ``submit_media_job`` is offered and the last user message mentions an image or a picture
  (case-insensitive), the reply is one ``submit_media_job`` call
  ``{"task": "image.generate", "input": {"prompt": <the message, at most 4000 characters>,
  "width": 512, "height": 512}}``.
- A rule's ``piece_delay_ms`` (0..2000) pauses that long before each streamed chunk, so a
  test can poll a reply while it is still streaming.
- Streaming splits text and tool-call arguments into pieces of ``PIECE_CHARS`` characters,
  as OpenAI does: a tool call's first delta carries index, id, type and name with empty
  arguments; later deltas carry only index and an arguments piece. The last choice chunk
  has an empty delta and the finish reason (``stop`` or ``tool_calls``); with
  ``stream_options.include_usage`` every chunk has ``usage: null`` and a final chunk with
  no choices carries the usage.
- Tokens: ceil(characters / 4) of the request's messages (prompt) and of the reply's text
  and arguments (completion).
- A rule's ``arguments`` object is sent as JSON; a string is sent verbatim (to script a
  model that writes bad JSON). ``POST /_local/script`` {rules, replace?} adds rules,
  ``DELETE /_local/script`` clears them, ``GET /_local/requests`` lists accepted requests.

Run ``python -m infra.local.openai_server --port 12115 --api-key local-openai-key
[--rules rules.json] [--model NAME ...]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import flask

from infra.local.serving import configure_logging, serve_until_signalled

DEFAULT_PORT = 12115
MODELS = ("gpt-5.4-nano", "gpt-5.4-mini", "gpt-5.4")
PIECE_CHARS = 7
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
FINGERPRINT = "fp_relay_local"
SUBMIT_MEDIA_JOB = "submit_media_job"
IMAGE_WORDS = re.compile(r"\b(image|picture)s?\b", re.IGNORECASE)
MAX_PIECE_DELAY_MS = 2000


class OpenAIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = (
            status,
            message,
            type_,
            param,
            code,
        )


def error_body(exc: OpenAIError) -> dict[str, Any]:
    return {
        "error": {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}
    }


def mask_key(key: str) -> str:
    """OpenAI's way of naming a wrong key without repeating it."""
    return (key[:3] + "*" * 8 + key[-4:]) if len(key) > 8 else "*" * 8


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _check_request(body: Any, models: Sequence[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise OpenAIError(400, "We could not parse the JSON body of your request.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise OpenAIError(400, "you must provide a model parameter", param="model")
    if model not in models:
        raise OpenAIError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OpenAIError(400, "'messages' must be a non-empty array.", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise OpenAIError(
                400, f"Invalid value for 'messages[{i}].role'.", param=f"messages[{i}].role"
            )
    tools = body.get("tools") or []
    if not isinstance(tools, list) or any(
        not isinstance(t, dict) or not isinstance(t.get("function"), dict) for t in tools
    ):
        raise OpenAIError(400, "Invalid 'tools': expected function tools.", param="tools")
    return body


def _offered(body: dict[str, Any]) -> set[str]:
    return {t["function"].get("name") for t in body.get("tools") or []}


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def plan_reply(body: dict[str, Any], rules: list[dict[str, Any]]) -> dict[str, Any]:
    """The scripted (or default) reply: {content: str | None, tool_calls: [{name, arguments}]}."""
    messages = body["messages"]
    after_tool = messages[-1].get("role") == "tool"
    prompt = _last_user_text(messages)
    offered = _offered(body)
    for rule in rules:
        if bool(rule.get("after_tool_result")) != after_tool:
            continue
        if str(rule.get("match", "")) not in prompt:
            continue
        calls = rule.get("tool_calls") or []
        if any(call.get("name") not in offered for call in calls):
            continue
        delay = rule.get("piece_delay_ms") or 0
        return {"content": rule.get("content"), "tool_calls": calls, "piece_delay_ms": delay}
    if not after_tool and SUBMIT_MEDIA_JOB in offered and IMAGE_WORDS.search(prompt):
        arguments: dict[str, Any] = {
            "task": "image.generate",
            "input": {"prompt": prompt[:4000], "width": 512, "height": 512},
        }
        return {"content": None, "tool_calls": [{"name": SUBMIT_MEDIA_JOB, "arguments": arguments}]}
    if after_tool:
        names = [m.get("name") or m.get("tool_call_id") for m in messages if m["role"] == "tool"]
        return {"content": f"Tool results received: {', '.join(map(str, names))}", "tool_calls": []}
    return {"content": f"Echo: {prompt}", "tool_calls": []}


def _call_id(seed: str, index: int) -> str:
    return "call_" + hashlib.sha256(f"{seed}#{index}".encode()).hexdigest()[:24]


def _arguments(raw: Any) -> str:
    return raw if isinstance(raw, str) else json.dumps(raw if raw is not None else {})


def _pieces(text: str) -> list[str]:
    return [text[i : i + PIECE_CHARS] for i in range(0, len(text), PIECE_CHARS)]


class Completion:
    """One reply, rendered either whole or as the chunks OpenAI streams."""

    def __init__(self, body: dict[str, Any], reply: dict[str, Any]):
        self.model = body["model"]
        seed = json.dumps(body["messages"], sort_keys=True)
        self.id = "chatcmpl-" + hashlib.sha256(seed.encode()).hexdigest()[:29]
        self.created = int(time.time())
        self.content: str | None = reply.get("content")
        self.tool_calls: list[dict[str, Any]] = [
            {
                "id": _call_id(seed, i),
                "type": "function",
                "function": {"name": call["name"], "arguments": _arguments(call.get("arguments"))},
            }
            for i, call in enumerate(reply.get("tool_calls") or [])
        ]
        self.finish_reason = "tool_calls" if self.tool_calls else "stop"
        prompt = _tokens(seed)
        completion = _tokens(
            (self.content or "") + "".join(c["function"]["arguments"] for c in self.tool_calls)
        )
        self.usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def whole(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.content,
            "refusal": None,
            "annotations": [],
        }
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self.usage,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None, usage: bool) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage:
            chunk["usage"] = None
        return chunk

    def chunks(self, *, include_usage: bool) -> Iterator[dict[str, Any]]:
        first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        if self.content is None:
            first["content"] = None
        yield self._chunk(first, None, include_usage)
        for piece in _pieces(self.content or ""):
            yield self._chunk({"content": piece}, None, include_usage)
        for index, call in enumerate(self.tool_calls):
            head = {
                "index": index,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            yield self._chunk({"tool_calls": [head]}, None, include_usage)
            for piece in _pieces(call["function"]["arguments"]):
                part = {"index": index, "function": {"arguments": piece}}
                yield self._chunk({"tool_calls": [part]}, None, include_usage)
        yield self._chunk({}, self.finish_reason, include_usage)
        if include_usage:
            last = self._chunk({}, None, False)
            last["choices"], last["usage"] = [], self.usage
            yield last


def _bearer_check(api_key: str) -> None:
    header = flask.request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise OpenAIError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    if key.strip() != api_key:
        raise OpenAIError(
            401,
            f"Incorrect API key provided: {mask_key(key.strip())}. You can find your API key "
            "at https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )


def _check_rules(rules: Any) -> list[dict[str, Any]]:
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise OpenAIError(400, "rules: expected a list of objects", param="rules")
    for i, rule in enumerate(rules):
        calls = rule.get("tool_calls") or []
        if not isinstance(calls, list) or any(
            not isinstance(c, dict) or not isinstance(c.get("name"), str) for c in calls
        ):
            raise OpenAIError(400, f"rules[{i}].tool_calls: expected [{{name, arguments}}]")
        delay = rule.get("piece_delay_ms", 0)
        if (
            not isinstance(delay, int)
            or isinstance(delay, bool)
            or not (0 <= delay <= MAX_PIECE_DELAY_MS)
        ):
            raise OpenAIError(400, f"rules[{i}].piece_delay_ms: 0..{MAX_PIECE_DELAY_MS}")
        if rule.get("content") is None and not calls:
            raise OpenAIError(400, f"rules[{i}]: a reply needs content or tool_calls")
    return rules


def create_app(
    api_key: str, *, models: Sequence[str] = MODELS, rules: list[dict[str, Any]] | None = None
) -> flask.Flask:
    app = flask.Flask(__name__)
    state: dict[str, Any] = {"rules": list(_check_rules(rules or [])), "requests": []}
    lock = threading.Lock()

    @app.errorhandler(OpenAIError)
    def _openai_error(exc: OpenAIError) -> tuple[flask.Response, int]:
        return flask.jsonify(error_body(exc)), exc.status

    @app.post("/v1/chat/completions")
    def chat_completions() -> flask.Response:
        _bearer_check(api_key)
        body = _check_request(flask.request.get_json(silent=True), models)
        with lock:
            reply = plan_reply(body, state["rules"])
            state["requests"].append(body)
        completion = Completion(body, reply)
        if not body.get("stream"):
            return flask.jsonify(completion.whole())
        options = body.get("stream_options") or {}
        include_usage = bool(isinstance(options, dict) and options.get("include_usage"))

        pause = reply.get("piece_delay_ms", 0) / 1000

        def events() -> Iterator[str]:
            for chunk in completion.chunks(include_usage=include_usage):
                if pause:
                    time.sleep(pause)
                yield f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n"
            yield "data: [DONE]\n\n"

        return flask.Response(events(), mimetype="text/event-stream")

    @app.post("/_local/script")
    def script() -> flask.Response:
        body = flask.request.get_json(silent=True) or {}
        added = _check_rules(body.get("rules"))
        with lock:
            state["rules"] = added + ([] if body.get("replace") else state["rules"])
            return flask.jsonify({"rules": len(state["rules"])})

    @app.delete("/_local/script")
    def clear_script() -> flask.Response:
        with lock:
            state["rules"], state["requests"] = [], []
        return flask.jsonify({"rules": 0})

    @app.get("/_local/requests")
    def requests() -> flask.Response:
        with lock:
            return flask.jsonify(state["requests"])

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.openai_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--api-key", required=True, help="the key clients must send")
    parser.add_argument("--model", action="append", help="an accepted model (repeatable)")
    parser.add_argument("--rules", help="a JSON file: a list of scripted reply rules")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    configure_logging(access_log=args.access_log)
    rules = None
    if args.rules:
        with open(args.rules, encoding="utf-8") as f:
            rules = json.load(f)
    app = create_app(args.api_key, models=tuple(args.model or MODELS), rules=rules)
    return serve_until_signalled(app, host=args.host, port=args.port, name="openai (local)")


if __name__ == "__main__":
    raise SystemExit(main())
