"""A local server that speaks Ollama's HTTP API, backed by an in-process transformers model.

Ollama has no installable form on these machines, so this stands in for it: the production
`OllamaBackend` (and any other Ollama client) runs against it unchanged, only the base URL
differs. It serves one model, by default the tiny random `tiny-llm:latest`.

Endpoints, with Ollama's paths, field names and status codes:

* ``GET /`` -> ``Ollama is running``; ``GET /api/version`` -> ``{"version": ...}``
* ``GET /api/tags`` -> ``{"models": [{name, model, modified_at, size, digest, details}]}``
* ``POST /api/generate`` {model, prompt, system?, raw?, stream?, options?} -> NDJSON chunks
  ``{model, created_at, response, done: false}`` then a final object with ``done: true``,
  ``done_reason`` (``stop``/``length``), ``total_duration``, ``load_duration``,
  ``prompt_eval_count``, ``prompt_eval_duration``, ``eval_count``, ``eval_duration``
  (durations in nanoseconds); with ``"stream": false`` one object whose ``response`` is
  the whole text. An empty prompt only "loads" the model (``done_reason: "load"``).
* ``POST /api/chat`` {model, messages, stream?, options?} -> the same, with
  ``message: {role: "assistant", content}`` instead of ``response``.

Invariants:
- Like Ollama, ``stream`` defaults to true, and the prompt goes through the model's template
  (its chat template) unless ``raw`` is true.
- Token counts are the model tokenizer's real counts (``prompt_eval_count`` includes the
  template); a generation's chunks concatenate to the non-streamed text for the same input.
- ``options`` honoured: ``num_predict`` (absent or negative = until the context is full),
  ``temperature`` (default 0.8, 0 = greedy), ``seed``, ``top_k`` (40), ``top_p`` (0.9).
  Other options and ``format``, ``images``, ``context``, ``keep_alive``, ``template`` are
  accepted and ignored; no ``context`` is returned (deprecated in Ollama).
- Errors are Ollama's ``{"error": "..."}``: unknown model -> 404 ``model "x" not found, try
  pulling it first``; malformed request -> 400; a failure after streaming began -> a final
  ``{"error": ...}`` line. Bad input never yields a 500.
- Generations run one at a time (the backend's lock), like ``OLLAMA_NUM_PARALLEL=1``; a
  streaming client that disconnects stops its generation at the next token.

Run it with ``python -m infra.local.ollama_server --port 11434 --model-dir .local/models``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import flask
from transformers.utils import logging as transformers_logging

from gpu_handlers.runtimes.grid.backend import BackendError, Generation
from gpu_handlers.runtimes.grid.families import same_model
from gpu_handlers.runtimes.grid.transformers_backend import TransformersBackend
from infra.local.serving import configure_logging, serve_until_signalled

log = logging.getLogger("ollama_local")

OLLAMA_VERSION = "0.6.5"  # the Ollama API generation these shapes follow
DEFAULT_PORT = 11434
DEFAULT_TEMPERATURE = 0.8  # Ollama's defaults
DEFAULT_TOP_K = 40
DEFAULT_TOP_P = 0.9
NDJSON = "application/x-ndjson"
EXTENSION_KEY = "ollama_local"


class BadRequest(Exception):
    """The request cannot be served as sent (400, or 404 for an unknown model)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class _ClientGone(Exception):
    """Raised inside the generation when the streaming client has disconnected."""


@dataclass(frozen=True)
class _Sampling:
    max_new_tokens: int | None  # None: until the context window is full
    temperature: float
    top_k: int
    top_p: float
    seed: int | None


def _dumps(payload: Any) -> str:
    # Compact, like Ollama's Go encoder.
    return json.dumps(payload, separators=(",", ":"))


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error(status: int, message: str) -> flask.Response:
    return flask.Response(_dumps({"error": message}), status=status, mimetype="application/json")


def _number(options: dict[str, Any], key: str, default: Any, kind: type) -> Any:
    value = options.get(key)
    if value is None:
        return default
    # bool is an int in Python but not a number in JSON/Go.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"option {key} must be a number")
    if kind is int and value != int(value):
        raise BadRequest(f"option {key} must be an integer")
    return kind(value)


def _sampling(body: dict[str, Any]) -> _Sampling:
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise BadRequest("options must be an object")
    num_predict = _number(options, "num_predict", None, int)
    return _Sampling(
        max_new_tokens=num_predict if num_predict is not None and num_predict >= 0 else None,
        temperature=max(0.0, _number(options, "temperature", DEFAULT_TEMPERATURE, float)),
        top_k=_number(options, "top_k", DEFAULT_TOP_K, int),
        top_p=_number(options, "top_p", DEFAULT_TOP_P, float),
        seed=_number(options, "seed", None, int),
    )


def _string(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be a boolean")
    return value


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    messages = body.get("messages") or []
    if not isinstance(messages, list):
        raise BadRequest("messages must be an array")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise BadRequest(f"messages[{i}] must be an object")
        role, content = message.get("role"), message.get("content", "")
        if not isinstance(role, str) or not role or not isinstance(content, str):
            raise BadRequest(f"messages[{i}] needs a string role and content")
        out.append({"role": role, "content": content})
    return out


def _human_count(n: int) -> str:
    """Ollama's parameter_size style: 8.0B, 135.27M, 86.59K."""
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.2f}".rstrip("0").rstrip(".") + unit
    return str(n)


class OllamaLocal:
    """The served model and its `/api/tags` entry."""

    def __init__(self, backend: TransformersBackend) -> None:
        self.backend = backend
        files = [p for p in backend.model_dir.iterdir() if p.is_file()]
        weights = backend.model_dir / "model.safetensors"
        digest = hashlib.sha256((weights if weights.is_file() else files[0]).read_bytes())
        modified = max(p.stat().st_mtime for p in files)
        model_type = str(getattr(backend.model.config, "model_type", "unknown"))
        dtype = str(next(backend.model.parameters()).dtype).removeprefix("torch.")
        self.tag = {
            "name": backend.model_name,
            "model": backend.model_name,
            "modified_at": dt.datetime.fromtimestamp(modified).astimezone().isoformat(),
            "size": sum(p.stat().st_size for p in files),
            "digest": digest.hexdigest(),
            "details": {
                "parent_model": "",
                "format": "safetensors",
                "family": model_type,
                "families": [model_type],
                "parameter_size": _human_count(backend.parameter_count),
                "quantization_level": {"float32": "F32", "bfloat16": "BF16"}.get(
                    dtype, dtype.upper()
                ),
            },
        }

    def check_model(self, body: dict[str, Any]) -> str:
        model = _string(body, "model", required=True) or ""
        if not model:
            raise BadRequest("model is required")
        if not same_model(model, self.backend.model_name):
            raise BadRequest(f'model "{model}" not found, try pulling it first', status=404)
        return model

    def generation(
        self,
        *,
        sampling: _Sampling,
        stream: bool,
        model: str,
        prompt: str,
        raw: bool,
        system: str | None,
        shape: Callable[[str], dict[str, Any]],
    ) -> flask.Response:
        """Run one generation and answer it streamed or whole; `shape(text)` turns text into
        the endpoint's payload fields (`response` or `message`)."""
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        client_gone = threading.Event()
        started = time.perf_counter_ns()
        first_token: list[int] = []

        def on_text(piece: str) -> None:
            if client_gone.is_set():
                raise _ClientGone
            if not first_token:
                first_token.append(time.perf_counter_ns())
            if stream:
                events.put(("piece", piece))

        def work() -> None:
            try:
                generation = self.backend.generate(
                    model,
                    prompt,
                    max_new_tokens=sampling.max_new_tokens or self.backend.context_length,
                    raw=raw,
                    system=system,
                    temperature=sampling.temperature,
                    top_k=sampling.top_k,
                    top_p=sampling.top_p,
                    seed=sampling.seed,
                    on_text=on_text,
                )
            except _ClientGone:
                return
            except BackendError as exc:  # e.g. a prompt longer than the context window
                events.put(("error", (400, str(exc))))
            except Exception as exc:
                log.exception("generation failed")
                events.put(("error", (500, f"{type(exc).__name__}: {exc}")))
            else:
                events.put(("done", generation))

        def final(generation: Generation, text: str) -> dict[str, Any]:
            ended = time.perf_counter_ns()
            first = first_token[0] if first_token else ended
            return {
                "model": model,
                "created_at": _now(),
                **shape(text),
                "done": True,
                "done_reason": generation.finish_reason,
                "total_duration": ended - started,
                "load_duration": 0,  # the model is loaded once, at server start
                "prompt_eval_count": generation.input_tokens,
                "prompt_eval_duration": first - started,
                "eval_count": generation.output_tokens,
                "eval_duration": ended - first,
            }

        if sampling.max_new_tokens == 0:
            # num_predict 0: nothing to generate, but the prompt is still read.
            empty = Generation("", self.backend.count_tokens(prompt, raw=raw, system=system), 0, 0)
            return _json_response(final(empty, "") | {"done_reason": "length"})

        worker = threading.Thread(target=work, name="ollama-generate", daemon=True)
        worker.start()
        kind, value = events.get()
        if kind == "error":
            return _error(*value)
        if not stream:
            return _json_response(final(value, value.text))

        def lines() -> Iterator[str]:
            event: tuple[str, Any] = (kind, value)
            try:
                while True:
                    kind_, value_ = event
                    if kind_ == "piece":
                        chunk = {"model": model, "created_at": _now(), **shape(value_)}
                        yield _dumps(chunk | {"done": False}) + "\n"
                    elif kind_ == "done":
                        yield _dumps(final(value_, "")) + "\n"
                        return
                    else:
                        yield _dumps({"error": value_[1]}) + "\n"
                        return
                    event = events.get()
            finally:
                client_gone.set()  # stops the generation if the client left early

        return flask.Response(lines(), mimetype=NDJSON)


def _json_response(payload: dict[str, Any]) -> flask.Response:
    return flask.Response(_dumps(payload), mimetype="application/json")


def _json_body() -> dict[str, Any]:
    body = flask.request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise BadRequest("invalid request body: expected a JSON object")
    return body


def create_app(backend: TransformersBackend) -> flask.Flask:
    """The Flask app serving `backend`'s model in Ollama's API."""
    app = flask.Flask("ollama_local")
    local = OllamaLocal(backend)
    app.extensions[EXTENSION_KEY] = local

    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> flask.Response:
        return _error(exc.status, str(exc))

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> tuple[str, int, dict[str, str]]:
        return "404 page not found", 404, {"Content-Type": "text/plain"}

    @app.route("/", methods=["GET", "HEAD"])
    def root() -> tuple[str, int, dict[str, str]]:
        return "Ollama is running", 200, {"Content-Type": "text/plain; charset=utf-8"}

    @app.get("/api/version")
    def version() -> flask.Response:
        return _json_response({"version": OLLAMA_VERSION})

    @app.get("/api/tags")
    def tags() -> flask.Response:
        return _json_response({"models": [local.tag]})

    @app.post("/api/generate")
    def generate() -> flask.Response:
        body = _json_body()
        model = local.check_model(body)
        prompt = _string(body, "prompt") or ""
        raw = _flag(body, "raw", False)
        system = _string(body, "system")
        sampling, stream = _sampling(body), _flag(body, "stream", True)
        if not prompt:
            load = {"model": model, "created_at": _now(), "response": "", "done": True}
            return _json_response(load | {"done_reason": "load"})
        return local.generation(
            sampling=sampling,
            stream=stream,
            model=model,
            prompt=prompt,
            raw=raw,
            system=system,
            shape=lambda text: {"response": text},
        )

    @app.post("/api/chat")
    def chat() -> flask.Response:
        body = _json_body()
        model = local.check_model(body)
        messages = _messages(body)
        sampling, stream = _sampling(body), _flag(body, "stream", True)
        if not messages:
            load = {"model": model, "created_at": _now()}
            message = {"role": "assistant", "content": ""}
            return _json_response(load | {"message": message, "done_reason": "load", "done": True})
        try:
            prompt = backend.render_chat(messages)
        except BackendError as exc:
            raise BadRequest(str(exc)) from exc
        return local.generation(
            sampling=sampling,
            stream=stream,
            model=model,
            prompt=prompt,
            raw=True,  # already rendered through the chat template
            system=None,
            shape=lambda text: {"message": {"role": "assistant", "content": text}},
        )

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.ollama_server",
        description="Local server speaking Ollama's HTTP API over a transformers model.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument(
        "--model-dir", required=True, help="model directory, or the tiny_llm --out directory"
    )
    parser.add_argument("--model-name", help="tag to serve it as (default <dir name>:latest)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    configure_logging(access_log=args.access_log)
    transformers_logging.disable_progress_bar()  # a bar per load is noise in a server log
    backend = TransformersBackend(
        args.model_dir, model_name=args.model_name, num_threads=args.threads
    )
    app = create_app(backend)
    return serve_until_signalled(
        app,
        host=args.host,
        port=args.port,
        name="ollama-local",
        banner=f" model={backend.model_name}",
    )


if __name__ == "__main__":
    sys.exit(main())
