"""The local OpenAI stand-in driven by the real `openai` SDK through shared/media/studio/llm.py,
and its raw SSE checked against OpenAI's chunk format."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.local.stack import free_port, wait_for_port
from shared.engine.errors import AppError, ErrorKind
from shared.media.studio import llm

KEY = "sk-local-test-0123456789abcdef"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "generate_image",
            "description": "Queue a paid image job",
            "parameters": {
                "type": "object",
                "properties": {"prompt": {"type": "string"}, "count": {"type": "integer"}},
                "required": ["prompt"],
            },
        },
    }
]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local.openai_server", "--port", str(port), "--api-key", KEY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc, "openai (local)", timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def base(server: str) -> str:
    httpx.delete(f"{server}/_local/script").raise_for_status()
    return server


def _script(base: str, *rules: dict[str, Any]) -> None:
    httpx.post(f"{base}/_local/script", json={"rules": list(rules)}).raise_for_status()


def _settings(base: str, key: str = KEY) -> llm.OpenAISettings:
    return llm.OpenAISettings(api_key=key, base_url=f"{base}/v1")


def _user(text: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You are the studio agent."},
        {"role": "user", "content": text},
    ]


def test_plain_text_reply_streams_in_pieces_and_assembles(base: str) -> None:
    deltas = list(
        llm.stream_chat(
            _user("paint a quiet harbour at dawn"), None, "gpt-5.4-mini", settings=_settings(base)
        )
    )
    texts = [d.text for d in deltas if isinstance(d, llm.TextDelta)]
    assert len(texts) > 1  # streamed, not one blob
    done = deltas[-1]
    assert isinstance(done, llm.Completed)
    assert done.message.content == "".join(texts) == "Echo: paint a quiet harbour at dawn"
    assert done.message.tool_calls == ()
    assert done.message.finish_reason == "stop"
    assert done.message.usage is not None and done.message.usage.completion_tokens > 0
    sent = httpx.get(f"{base}/_local/requests").json()[-1]
    assert sent["model"] == "gpt-5.4-mini" and sent["stream"] is True


def test_scripted_tool_call_streams_argument_pieces_and_parses_them(base: str) -> None:
    arguments = {"prompt": "a red fox in deep snow, cinematic", "count": 2}
    _script(
        base,
        {
            "match": "fox",
            "content": "Queuing it.",
            "tool_calls": [{"name": "generate_image", "arguments": arguments}],
        },
    )
    deltas = list(
        llm.stream_chat(_user("make me a fox picture"), TOOLS, "gpt-5.4", settings=_settings(base))
    )
    pieces = [d for d in deltas if isinstance(d, llm.ToolCallDelta)]
    assert len(pieces) > 3
    assert pieces[0].id and pieces[0].name == "generate_image" and pieces[0].arguments == ""
    assert all(p.id is None and p.name is None for p in pieces[1:])
    assert json.loads("".join(p.arguments for p in pieces)) == arguments
    message = deltas[-1].message  # type: ignore[union-attr]
    assert message.content == "Queuing it." and message.finish_reason == "tool_calls"
    (call,) = message.tool_calls
    assert call.name == "generate_image" and call.arguments == arguments and call.id == pieces[0].id
    assert message.to_openai()["tool_calls"][0]["id"] == call.id


def test_after_tool_result_rule_answers_the_follow_up_turn(base: str) -> None:
    _script(
        base,
        {
            "match": "fox",
            "tool_calls": [{"name": "generate_image", "arguments": {"prompt": "fox"}}],
        },
        {"match": "fox", "after_tool_result": True, "content": "Your fox is queued."},
    )
    messages = _user("a fox please")
    first = llm.complete_chat(messages, TOOLS, "gpt-5.4-nano", settings=_settings(base))
    assert first.content == "" and first.tool_calls[0].arguments == {"prompt": "fox"}
    messages += [
        first.to_openai(),
        llm.tool_result_message(tool_call_id=first.tool_calls[0].id, content='{"jobId": "j1"}'),
    ]
    second = llm.complete_chat(messages, TOOLS, "gpt-5.4-nano", settings=_settings(base))
    assert second.content == "Your fox is queued." and second.tool_calls == ()


def test_tool_rule_is_skipped_when_its_tool_is_not_offered(base: str) -> None:
    _script(base, {"match": "fox", "tool_calls": [{"name": "generate_image", "arguments": {}}]})
    reply = llm.complete_chat(_user("fox"), None, "gpt-5.4", settings=_settings(base))
    assert reply.content == "Echo: fox" and reply.tool_calls == ()


def test_bad_json_arguments_from_the_model_are_a_clear_error(base: str) -> None:
    _script(
        base,
        {
            "match": "fox",
            "tool_calls": [{"name": "generate_image", "arguments": '{"prompt": "fox",'}],
        },
    )
    with pytest.raises(AppError) as err:
        llm.complete_chat(_user("fox"), TOOLS, "gpt-5.4", settings=_settings(base))
    assert err.value.kind == ErrorKind.UNAVAILABLE
    assert "generate_image" in err.value.message and "JSON" in err.value.message
    assert err.value.details["tool"] == "generate_image"


def test_wrong_key_is_unavailable_and_never_names_the_key(base: str, caplog) -> None:
    wrong = "sk-wrong-secret-key-98765"
    with pytest.raises(AppError) as err:
        llm.complete_chat(_user("hi"), None, "gpt-5.4", settings=_settings(base, wrong))
    assert err.value.kind == ErrorKind.UNAVAILABLE
    assert "401" in err.value.message and "invalid_api_key" in err.value.message
    everything = err.value.message + json.dumps(err.value.details) + repr(err.value) + caplog.text
    assert wrong not in everything and KEY not in everything
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_raw_auth_errors_use_openais_envelope(base: str) -> None:
    body = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]}
    missing = httpx.post(f"{base}/v1/chat/completions", json=body)
    wrong = httpx.post(
        f"{base}/v1/chat/completions",
        json=body,
        headers={"Authorization": "Bearer sk-nope-nope-nope-1234"},
    )
    assert missing.status_code == wrong.status_code == 401
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
    assert missing.json()["error"]["code"] is None
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert "sk-nope-nope-nope-1234" not in wrong.text


def test_unknown_model_is_404_model_not_found(base: str) -> None:
    raw = httpx.post(
        f"{base}/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "gpt-3", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert raw.status_code == 404 and raw.json()["error"]["code"] == "model_not_found"
    with pytest.raises(AppError) as err:  # the client refuses a non-document model outright
        list(llm.stream_chat(_user("hi"), None, "gpt-3", settings=_settings(base)))
    assert err.value.kind == ErrorKind.INVALID and err.value.message.startswith("agentModel:")
    assert httpx.get(f"{base}/_local/requests").json() == []


def test_provider_refusing_a_table_model_is_unavailable(base: str, monkeypatch) -> None:
    monkeypatch.setitem(llm.AGENT_MODELS, "gpt-5.4", "gpt-retired")
    with pytest.raises(AppError) as err:
        llm.complete_chat(_user("hi"), None, "gpt-5.4", settings=_settings(base))
    assert err.value.kind == ErrorKind.UNAVAILABLE and "model_not_found" in err.value.message


def test_unreachable_provider_is_unavailable() -> None:
    settings = llm.OpenAISettings(api_key=KEY, base_url=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(AppError) as err:
        llm.complete_chat(_user("hi"), None, "gpt-5.4", settings=settings)
    assert err.value.kind == ErrorKind.UNAVAILABLE and KEY not in err.value.message


def test_settings_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AppError) as err:
        llm.settings_from_env()
    assert err.value.kind == ErrorKind.UNAVAILABLE
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("RELAY_OPENAI_API_BASE", "http://127.0.0.1:12115/v1")
    settings = llm.settings_from_env()
    assert settings.base_url == "http://127.0.0.1:12115/v1" and KEY not in repr(settings)


def test_reasoning_level_maps_to_reasoning_effort(base: str) -> None:
    llm.complete_chat(
        _user("hi"), None, "gpt-5.4", reasoning_level="high", settings=_settings(base)
    )
    llm.complete_chat(_user("hi"), None, "gpt-5.4", settings=_settings(base))
    sent = httpx.get(f"{base}/_local/requests").json()
    assert sent[0]["reasoning_effort"] == "high" and "reasoning_effort" not in sent[1]
    with pytest.raises(AppError) as err:
        llm.complete_chat(
            _user("hi"), None, "gpt-5.4", reasoning_level="max", settings=_settings(base)
        )
    assert err.value.message.startswith("reasoningLevel:")


def test_every_document_agent_model_is_accepted_by_the_standin(base: str) -> None:
    for model in ("gpt-5.4-nano", "gpt-5.4-mini", "gpt-5.4"):
        assert llm.complete_chat(_user("hi"), None, model, settings=_settings(base)).content


def _sse(base: str, body: dict[str, Any]) -> list[str]:
    with httpx.stream(
        "POST", f"{base}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line for line in response.iter_lines() if line]


def test_raw_sse_matches_openais_chunk_format(base: str) -> None:
    _script(
        base,
        {
            "match": "fox",
            "content": "On it.",
            "tool_calls": [{"name": "generate_image", "arguments": {"prompt": "fox"}}],
        },
    )
    lines = _sse(
        base,
        {
            "model": "gpt-5.4",
            "stream": True,
            "tools": TOOLS,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "fox"}],
        },
    )
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk" and chunk["model"] == "gpt-5.4"
        assert isinstance(chunk["created"], int) and "usage" in chunk
    choices = [c["choices"][0] for c in chunks[:-1]]
    assert choices[0]["delta"]["role"] == "assistant"
    assert [c["finish_reason"] for c in choices[:-1]] == [None] * (len(choices) - 1)
    assert choices[-1] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    calls = [c["delta"]["tool_calls"][0] for c in choices if "tool_calls" in c["delta"]]
    assert set(calls[0]) == {"index", "id", "type", "function"}
    assert calls[0]["type"] == "function" and calls[0]["function"]["arguments"] == ""
    assert all(set(c) == {"index", "function"} for c in calls[1:])
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"prompt": "fox"}
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"]["total_tokens"] == (
        last["usage"]["prompt_tokens"] + last["usage"]["completion_tokens"]
    )


def test_non_streaming_reply_is_a_chat_completion(base: str) -> None:
    raw = httpx.post(
        f"{base}/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]},
    )
    body = raw.json()
    assert raw.status_code == 200 and body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Echo: hi",
        "refusal": None,
        "annotations": [],
    }
    assert body["choices"][0]["finish_reason"] == "stop" and body["usage"]["total_tokens"] > 0


def test_malformed_requests_are_400_in_openais_envelope(base: str) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    for body in (
        {"model": "gpt-5.4", "messages": []},
        {"model": "gpt-5.4", "messages": [{"role": "robot", "content": "x"}]},
        {"messages": [{"role": "user", "content": "x"}]},
    ):
        raw = httpx.post(f"{base}/v1/chat/completions", headers=auth, json=body)
        assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"
    bad_rule = httpx.post(f"{base}/_local/script", json={"rules": [{"match": "x"}]})
    assert bad_rule.status_code == 400
