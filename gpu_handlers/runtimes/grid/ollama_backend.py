"""`TextBackend` over a running Ollama server's HTTP API.

Only two Ollama endpoints are used: `GET /api/tags` (the local models) and
`POST /api/generate` with `"stream": false` (one JSON object back). Field names are
Ollama's: `response`, `prompt_eval_count`, `eval_count`, `total_duration` (nanoseconds),
`done_reason`; errors come back as `{"error": "..."}` with a 4xx/5xx status.

Invariants:
- The prompt goes through the model's own template (`raw` is never set), as it does for any
  Ollama client, so the model sees the job the way its creator intended.
- `max_new_tokens` becomes `options.num_predict`. Ollama has no minimum-length option, so
  `min_new_tokens` is refused (ValueError) rather than silently ignored.
- Ollama leaves `prompt_eval_count` out when the whole prompt came from its cache; that
  counts as 0 input tokens (it is only usage data, not pay).
- Connection failures and timeouts raise `BackendUnavailable`; an Ollama error reply raises
  `BackendError` carrying Ollama's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from gpu_handlers.runtimes.grid.backend import (
    FINISH_LENGTH,
    FINISH_STOP,
    BackendError,
    BackendUnavailable,
    Generation,
)

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
# A long answer on a home GPU can take minutes; the grid's default job timeout is 600 s.
DEFAULT_GENERATE_TIMEOUT_S = 600.0
CONNECT_TIMEOUT_S = 5.0


class OllamaBackend:
    """Runs prompts through Ollama's `/api/generate`."""

    def __init__(
        self,
        base_url: str = DEFAULT_OLLAMA_URL,
        *,
        options: Mapping[str, Any] | None = None,
        keep_alive: str | int | None = None,
        timeout_s: float = DEFAULT_GENERATE_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`options` are extra Ollama model options sent with every request (e.g.
        `{"temperature": 0}`); `num_predict` is always set from `max_new_tokens`."""
        self.base_url = base_url.rstrip("/")
        self._options = dict(options or {})
        self._keep_alive = keep_alive
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:  # connect errors and timeouts
            raise BackendUnavailable(f"ollama at {self.base_url} unreachable: {exc}") from exc
        if response.is_error:
            raise BackendError(f"ollama {path} failed ({response.status_code}): {_error(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise BackendError(f"ollama {path} returned invalid JSON") from exc

    def version(self) -> str:
        """The Ollama server's version (`GET /api/version`)."""
        return str(self._call("GET", "/api/version").get("version", ""))

    def models(self) -> list[str]:
        data = self._call("GET", "/api/tags")
        return [str(m["name"]) for m in data.get("models") or [] if m.get("name")]

    def generate(
        self,
        model: str,
        prompt: str,
        *,
        max_new_tokens: int,
        min_new_tokens: int | None = None,
    ) -> Generation:
        if min_new_tokens is not None:
            raise ValueError("Ollama has no minimum-length option; min_new_tokens unsupported")
        body: dict[str, Any] = {
            "model": model,
            "prompt": prompt,
            "stream": False,
            "options": {**self._options, "num_predict": max_new_tokens},
        }
        if self._keep_alive is not None:
            body["keep_alive"] = self._keep_alive
        data = self._call("POST", "/api/generate", body)
        if isinstance(data, dict) and "error" in data:
            raise BackendError(f"ollama: {data['error']}")
        if not isinstance(data, dict) or not data.get("done", False):
            raise BackendError("ollama /api/generate returned an unfinished response")
        return Generation(
            text=str(data.get("response", "")),
            input_tokens=int(data.get("prompt_eval_count") or 0),
            output_tokens=int(data.get("eval_count") or 0),
            duration_ms=int(data.get("total_duration") or 0) // 1_000_000,
            finish_reason=FINISH_LENGTH if data.get("done_reason") == "length" else FINISH_STOP,
        )


def _error(response: httpx.Response) -> str:
    """Ollama's `{"error": ...}` message, or the start of the body when it is not JSON."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    return str(data)[:200]
