"""`audio.speak` with provider gemini: Gemini TTS through Google's `google-genai` SDK.

No weights: the handler calls the Gemini API (`models.generate_content` with AUDIO output and
a prebuilt voice) and writes the 24 kHz 16-bit mono PCM it answers as WAV. In the local
stack and tests the same client talks to infra/local/gemini_server.py.

Invariants:
- Settings from the environment: GEMINI_API_KEY (required), RELAY_GEMINI_API_BASE (base
  URL; unset = Google's), RELAY_GEMINI_TTS_MODEL (default DEFAULT_MODEL).
- The prompt is `text`, or `instructions` + INSTRUCTIONS_JOINER + `text` when instructions
  are given (the document's wording); `voiceName` defaults to Kore.
- `usage` is Gemini's own count, {"promptTokens", "outputTokens"} from usage_metadata: the
  gateway bills exactly from it, so an answer without it fails the job.
- An API failure fails the job (RuntimeError with Google's code and status only: never the
  key, never the prompt); it is not an input error.
"""

from __future__ import annotations

import functools
import os
import re
import time
from typing import Any

import numpy as np

from gpu_handlers import media_io
from gpu_handlers.errors import MediaInputError
from shared.schemas.media import SPEECH_CONTENT_TYPE

HANDLER_ID = "gemini-tts"
DEFAULT_MODEL = "gemini-3.1-flash-tts-preview"  # the document's "Gemini 3.1 Flash TTS"
DEFAULT_VOICE = "Kore"
INSTRUCTIONS_JOINER = "\n\nRead the following text exactly as written:\n"
DEFAULT_RATE = 24_000
TIMEOUT_MS = 300_000
API_VERSION = "v1beta"


class GeminiCallError(RuntimeError):
    """The Gemini API refused or failed the call (the job fails; not the caller's input)."""


def load_pipeline(model_dir: str | os.PathLike[str] | None = None) -> Any:
    """Nothing to load: builds the API client once settings are checked."""
    return _client()


def _client() -> Any:
    """The client for the current settings (one per key and base URL, kept for the process:
    a dropped `genai.Client` closes its HTTP client)."""
    key = os.environ.get("GEMINI_API_KEY")
    if not key:
        raise GeminiCallError("GEMINI_API_KEY is not set")
    return _cached_client(key, os.environ.get("RELAY_GEMINI_API_BASE") or None)


@functools.lru_cache(maxsize=4)
def _cached_client(key: str, base: str | None) -> Any:
    from google import genai
    from google.genai import types

    # v1beta, where the TTS preview models are served (the SDK picks v1 for a custom base).
    options = types.HttpOptions(base_url=base, api_version=API_VERSION, timeout=TIMEOUT_MS)
    return genai.Client(api_key=key, http_options=options)


def prompt_for(text: str, instructions: str | None) -> str:
    return f"{instructions}{INSTRUCTIONS_JOINER}{text}" if instructions else text


def speak(prompt: str, voice: str) -> tuple[bytes, int, dict[str, int]]:
    """(PCM s16le mono bytes, sample rate, usage) for `prompt` in `voice`."""
    from google.genai import errors, types

    config = types.GenerateContentConfig(
        response_modalities=["AUDIO"],
        speech_config=types.SpeechConfig(
            voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=voice)
            )
        ),
    )
    model = os.environ.get("RELAY_GEMINI_TTS_MODEL") or DEFAULT_MODEL
    try:
        response = _client().models.generate_content(model=model, contents=prompt, config=config)
    except errors.APIError as exc:
        raise GeminiCallError(f"gemini {model}: {exc.code} {exc.status}") from None
    try:
        part = response.candidates[0].content.parts[0]
        blob = part.inline_data
        pcm, mime = bytes(blob.data), str(blob.mime_type or "")
    except (AttributeError, IndexError, TypeError):
        raise GeminiCallError(f"gemini {model}: answer holds no audio") from None
    usage = response.usage_metadata
    if usage is None or usage.prompt_token_count is None:
        raise GeminiCallError(f"gemini {model}: answer holds no usage metadata")
    rate = re.search(r"rate=(\d+)", mime)
    counts = {
        "promptTokens": int(usage.prompt_token_count),
        "outputTokens": int(usage.candidates_token_count or 0),
    }
    return pcm, int(rate.group(1)) if rate else DEFAULT_RATE, counts


def generate(payload: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    job = media_io.parse(payload, HANDLER_ID)
    data = job.input
    if job.output.contentType != SPEECH_CONTENT_TYPE["gemini"]:
        raise MediaInputError(f"gemini-tts writes {SPEECH_CONTENT_TYPE['gemini']}")
    if data.get("provider") != "gemini":
        raise MediaInputError(f"provider {data.get('provider')!r} is not gemini")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise MediaInputError("input.text is required")
    voice = data.get("voiceName") or DEFAULT_VOICE
    pcm, rate, usage = speak(prompt_for(text, data.get("instructions")), voice)
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
    with media_io.workdir() as tmp:
        out = tmp / "speech.wav"
        meta = media_io.write_audio(samples, rate, out, content_type=job.output.contentType)
        meta.update(characters=len(text), voiceName=voice)
        return media_io.deliver(job, out, meta, started=started, usage=usage)
