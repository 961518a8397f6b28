"""OllamaBackend against the local Ollama stand-in (infra/local/ollama_server).

The server runs in-process on a free port over the same tiny model as `tiny_backend`, so
the production OllamaBackend's answers can be compared field by field with the
TransformersBackend's for the same prompt.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from gpu_handlers.runtimes.grid.agent import AgentConfig, GridAgent
from gpu_handlers.runtimes.grid.backend import BackendError, BackendUnavailable
from gpu_handlers.runtimes.grid.client import GridClient
from gpu_handlers.runtimes.grid.ollama_backend import OllamaBackend
from tests.grid_agent.fake_grid import API_KEY, PREFIX, FakeGrid

PROMPT = "Why is the sky blue?"


@pytest.fixture(scope="module")
def ollama_url(tiny_backend) -> Iterator[str]:
    from werkzeug.serving import make_server

    from infra.local.ollama_server import create_app

    server = make_server("127.0.0.1", 0, create_app(tiny_backend), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def ollama(ollama_url: str) -> Iterator[OllamaBackend]:
    backend = OllamaBackend(ollama_url, options={"temperature": 0})
    yield backend
    backend.close()


def test_lists_the_model_and_version(ollama: OllamaBackend, ollama_url: str) -> None:
    assert ollama.models() == ["tiny-llm:latest"]
    assert ollama.version()
    tag = httpx.get(f"{ollama_url}/api/tags").json()["models"][0]
    assert set(tag) == {"name", "model", "modified_at", "size", "digest", "details"}
    assert set(tag["details"]) == {
        "parent_model",
        "format",
        "family",
        "families",
        "parameter_size",
        "quantization_level",
    }
    assert httpx.get(ollama_url).text == "Ollama is running"


def test_generation_matches_the_transformers_backend(ollama: OllamaBackend, tiny_backend) -> None:
    via_ollama = ollama.generate("tiny-llm:latest", PROMPT, max_new_tokens=12)
    direct = tiny_backend.generate("tiny-llm:latest", PROMPT, max_new_tokens=12)
    assert via_ollama.text == direct.text
    assert via_ollama.input_tokens == direct.input_tokens
    assert via_ollama.output_tokens == direct.output_tokens
    assert via_ollama.finish_reason == direct.finish_reason
    assert isinstance(via_ollama.duration_ms, int)
    assert via_ollama.duration_ms >= 0


def test_raw_non_streaming_reply_has_ollamas_fields(ollama_url: str, tiny_backend) -> None:
    body = {"model": "tiny-llm", "prompt": PROMPT, "stream": False, "options": {"num_predict": 5}}
    reply = httpx.post(f"{ollama_url}/api/generate", json=body).json()
    assert set(reply) == {
        "model",
        "created_at",
        "response",
        "done",
        "done_reason",
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
    }
    assert reply["model"] == "tiny-llm"
    assert reply["done"] is True
    assert reply["prompt_eval_count"] == tiny_backend.count_tokens(PROMPT)
    assert reply["total_duration"] >= reply["eval_duration"] >= 0


def test_streamed_chunks_add_up_to_the_whole_reply(ollama_url: str) -> None:
    body = {"model": "tiny-llm", "prompt": PROMPT, "options": {"num_predict": 10, "seed": 4}}
    with httpx.stream("POST", f"{ollama_url}/api/generate", json=body) as response:
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.iter_lines() if line]
    whole = httpx.post(f"{ollama_url}/api/generate", json=body | {"stream": False}).json()
    *chunks, last = lines
    assert all(c["done"] is False for c in chunks)
    assert "".join(c["response"] for c in chunks) == whole["response"]
    assert last["done"] is True
    assert last["response"] == ""
    assert last["eval_count"] == whole["eval_count"] == 10


def test_chat_reply(ollama_url: str, tiny_backend) -> None:
    messages = [{"role": "user", "content": "hello"}]
    body = {"model": "tiny-llm:latest", "messages": messages, "stream": False}
    reply = httpx.post(f"{ollama_url}/api/chat", json=body | {"options": {"num_predict": 6}}).json()
    assert reply["message"]["role"] == "assistant"
    assert len(reply["message"]["content"]) <= 6
    assert reply["done"] is True
    rendered = tiny_backend.render_chat(messages)
    assert reply["prompt_eval_count"] == tiny_backend.count_tokens(rendered, raw=True)


def test_streamed_chat_sends_message_pieces(ollama_url: str) -> None:
    body = {
        "model": "tiny-llm",
        "messages": [{"role": "user", "content": "hello"}],
        "options": {"num_predict": 4, "temperature": 0},
    }
    with httpx.stream("POST", f"{ollama_url}/api/chat", json=body) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    whole = httpx.post(f"{ollama_url}/api/chat", json=body | {"stream": False}).json()
    *chunks, last = lines
    assert all(c["message"]["role"] == "assistant" and not c["done"] for c in chunks)
    assert "".join(c["message"]["content"] for c in chunks) == whole["message"]["content"]
    assert last["done"] is True
    assert last["eval_count"] == whole["eval_count"]


def test_agent_serves_a_job_through_the_ollama_stand_in(grid: FakeGrid, ollama_url: str) -> None:
    grid.add_job(
        {"job_id": 8, "model": "tiny-llm", "model_match": "family", "prompt": PROMPT, "blobs": []}
    )
    config = AgentConfig(name="ollama-box", max_new_tokens=20, platform="linux/amd64")
    agent = GridAgent(
        config, backend=OllamaBackend(ollama_url), client=GridClient(grid.url, API_KEY)
    )
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    result = grid.wait_for(lambda r: r.path == f"{PREFIX}/worker/jobs/8/result")
    agent.request_shutdown()
    thread.join(5)
    assert not thread.is_alive()
    body = result.body
    assert body["model_used"] == "tiny-llm:latest"
    assert 1 <= body["output_tokens"] <= 20
    assert len(body["output"]) == body["output_tokens"]  # one character per tiny-llm token
    assert body["input_tokens"] > len(PROMPT)  # the prompt went through the chat template


def test_unknown_model_is_ollamas_404(ollama: OllamaBackend, ollama_url: str) -> None:
    response = httpx.post(f"{ollama_url}/api/generate", json={"model": "llama3:8b", "prompt": "x"})
    assert response.status_code == 404
    assert response.json() == {"error": 'model "llama3:8b" not found, try pulling it first'}
    with pytest.raises(BackendError, match="try pulling it first"):
        ollama.generate("llama3:8b", "x", max_new_tokens=4)


def test_bad_requests_are_400_not_500(ollama_url: str) -> None:
    for body in (
        {"prompt": "x"},
        {"model": "tiny-llm", "prompt": 3},
        {"model": "tiny-llm", "prompt": "x", "options": {"temperature": "hot"}},
        {"model": "tiny-llm", "messages": "hi"},
    ):
        path = "/api/chat" if "messages" in body else "/api/generate"
        response = httpx.post(f"{ollama_url}{path}", json=body)
        assert response.status_code == 400, body
        assert "error" in response.json()


def test_ollama_backend_refuses_min_new_tokens(ollama: OllamaBackend) -> None:
    with pytest.raises(ValueError, match="min_new_tokens"):
        ollama.generate("tiny-llm", "x", max_new_tokens=4, min_new_tokens=4)


def test_unreachable_ollama_is_backend_unavailable() -> None:
    backend = OllamaBackend("http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(BackendUnavailable):
        backend.models()
