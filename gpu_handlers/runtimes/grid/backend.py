"""The port between the grid agent and whatever runs the model (`TextBackend`).

Invariants:
- `Generation` carries real counts: `input_tokens` is the number of prompt tokens the model
  read (after any prompt template), `output_tokens` the number of tokens it generated, not
  counting a terminating end-of-sequence token. Grid workers are paid per output token, so
  a backend never estimates them from text length.
- `duration_ms` is the backend's own wall time for the generation (for Ollama, its
  `total_duration`), an integer.
- A backend raises `BackendError` (message safe to show the client) for a failed
  generation, and its subclass `BackendUnavailable` when it cannot be reached at all, so the
  agent can stop taking jobs until it is back. Anything else it raises is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

FINISH_STOP = "stop"  # the model ended its answer (end-of-sequence)
FINISH_LENGTH = "length"  # max_new_tokens (or the context window) cut it off


@dataclass(frozen=True)
class Generation:
    """One finished generation."""

    text: str
    input_tokens: int
    output_tokens: int
    duration_ms: int
    finish_reason: str = FINISH_STOP


class BackendError(RuntimeError):
    """The backend could not produce a generation for this request."""


class BackendUnavailable(BackendError):
    """The backend cannot be reached (not running, connection refused, timed out)."""


@runtime_checkable
class TextBackend(Protocol):
    """Runs prompts on locally available text models."""

    def models(self) -> list[str]:
        """Model tags this backend can run now (e.g. `llama3:8b`)."""
        ...

    def generate(
        self,
        model: str,
        prompt: str,
        *,
        max_new_tokens: int,
        min_new_tokens: int | None = None,
    ) -> Generation:
        """Generate at most `max_new_tokens` (and, if given, at least `min_new_tokens`)."""
        ...
