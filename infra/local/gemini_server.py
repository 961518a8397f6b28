"""A local stand-in for the Gemini API's speech generation (`generateContent`, AUDIO out).

Gemini has no local form, so the gemini-tts handler's real `google-genai` client runs
against this server; only its base URL differs (`RELAY_GEMINI_API_BASE`).

Endpoint, with Google's path, field names and envelope:
``POST /v1beta/models/{model}:generateContent`` {contents, generationConfig{responseModalities:
["AUDIO"], speechConfig{voiceConfig{prebuiltVoiceConfig{voiceName}}}}} ->
``candidates[0].content.parts[0].inlineData {mimeType: "audio/L16;codec=pcm;rate=24000",
data: base64}`` and ``usageMetadata {promptTokenCount, candidatesTokenCount,
totalTokenCount}``.

Invariants:
- The audio is real 16-bit mono PCM at 24 kHz, deterministic for (text, voice), and
  exactly ``MS_PER_CHAR`` ms per character of the prompt text (all text parts joined).
- Tokens: prompt = ceil(characters / 4); output = ceil(seconds * 25) (Gemini's 25 audio
  tokens per second); total = their sum.
- Auth as Google answers it: no key (``x-goog-api-key`` header or ``?key=``) -> 403
  PERMISSION_DENIED; a wrong key -> 400 INVALID_ARGUMENT "API key not valid" (reason
  API_KEY_INVALID). A malformed body, an unknown voice or no AUDIO modality -> 400
  INVALID_ARGUMENT; an unknown model -> 404 NOT_FOUND. Errors never echo the key.
- Fields are read by their JSON (camelCase) or proto (snake_case) name, like Google's
  parser.
- ``GET /_local/last`` answers the last accepted request (model, voiceName, prompt), for tests.

Run ``python -m infra.local.gemini_server --port 12114 --api-key local-gemini-key``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import math
import re
import threading
from collections.abc import Sequence
from typing import Any

import flask
import numpy as np

from infra.local.serving import configure_logging, serve_until_signalled

DEFAULT_PORT = 12114
SAMPLE_RATE = 24_000
MS_PER_CHAR = 60
AUDIO_TOKENS_PER_S = 25
PCM_MIME = f"audio/L16;codec=pcm;rate={SAMPLE_RATE}"
MODELS = frozenset(
    {"gemini-3.1-flash-tts-preview", "gemini-2.5-flash-preview-tts", "gemini-2.5-pro-preview-tts"}
)
VOICES = frozenset(
    {
        "Zephyr",
        "Puck",
        "Charon",
        "Kore",
        "Fenrir",
        "Leda",
        "Orus",
        "Aoede",
        "Callirrhoe",
        "Autonoe",
        "Enceladus",
        "Iapetus",
        "Umbriel",
        "Algieba",
        "Despina",
        "Erinome",
        "Algenib",
        "Rasalgethi",
        "Laomedeia",
        "Achernar",
        "Alnilam",
        "Schedar",
        "Gacrux",
        "Pulcherrima",
        "Achird",
        "Zubenelgenubi",
        "Vindemiatrix",
        "Sadachbia",
        "Sadaltager",
        "Sulafat",
    }
)  # Gemini TTS's prebuilt voices
_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}


class GeminiError(Exception):
    def __init__(self, code: int, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


def error_body(code: int, message: str, details: list[dict[str, Any]] | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message, "status": _STATUS[code]}
    if details:
        error["details"] = details
    return {"error": error}


def synthesize(text: str, voice: str) -> bytes:
    """MS_PER_CHAR ms of 16-bit PCM per character: a voice-pitched tone with a syllable beat."""
    n = SAMPLE_RATE * MS_PER_CHAR * len(text) // 1000
    pitch = 110 + hashlib.sha256(voice.encode()).digest()[0]  # 110..365 Hz
    t = np.arange(n) / SAMPLE_RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    wave = 0.3 * envelope * np.sin(2 * np.pi * pitch * t)
    return (wave * 32767).astype("<i2").tobytes()


def _get(obj: dict[str, Any], camel: str) -> Any:
    """A field by its JSON name or its proto name, as Google's parser accepts both
    (the SDK sends `speechConfig.voice_config.prebuilt_voice_config.voice_name`)."""
    if camel in obj:
        return obj[camel]
    return obj.get(re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel))


def _prompt(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise GeminiError(400, "Invalid JSON payload received.")
    contents = _get(body, "contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise GeminiError(400, "* GenerateContentRequest.contents: contents is not specified\n")
    texts = []
    for content in contents:
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts:
            raise GeminiError(400, "* GenerateContentRequest.contents.parts: must not be empty\n")
        for part in parts:
            if not isinstance(part, dict) or not isinstance(part.get("text"), str):
                raise GeminiError(400, "Only text parts can be spoken by a TTS model.")
            texts.append(part["text"])
    text = "".join(texts)
    if not text.strip():
        raise GeminiError(400, "* GenerateContentRequest.contents: text is empty\n")
    config = _get(body, "generationConfig")
    if not isinstance(config, dict) or "AUDIO" not in (_get(config, "responseModalities") or []):
        raise GeminiError(
            400, "The requested combination of response modalities (TEXT) is not supported."
        )
    voice: Any = "Kore"
    speech = _get(config, "speechConfig")
    for name in ("voiceConfig", "prebuiltVoiceConfig", "voiceName"):
        if not isinstance(speech, dict) or _get(speech, name) is None:
            break
        speech = _get(speech, name)
    else:
        voice = speech
    if not isinstance(voice, str) or voice not in VOICES:
        raise GeminiError(400, f"Voice name {voice} is not supported.")
    return text, voice


def create_app(api_key: str) -> flask.Flask:
    app = flask.Flask(__name__)
    state: dict[str, Any] = {"last": None}
    lock = threading.Lock()

    @app.errorhandler(GeminiError)
    def _gemini_error(exc: GeminiError) -> tuple[flask.Response, int]:
        return flask.jsonify(error_body(exc.code, exc.message, exc.details)), exc.code

    @app.post("/v1beta/models/<path:target>")
    def generate_content(target: str) -> flask.Response:
        model, _, method = target.partition(":")
        key = flask.request.headers.get("x-goog-api-key") or flask.request.args.get("key")
        if not key:
            raise GeminiError(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if key != api_key:
            raise GeminiError(
                400,
                "API key not valid. Please pass a valid API key.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                    }
                ],
            )
        if method != "generateContent" or model not in MODELS:
            raise GeminiError(
                404,
                f"models/{model} is not found for API version v1beta, or is not supported "
                "for generateContent.",
            )
        text, voice = _prompt(flask.request.get_json(silent=True))
        pcm = synthesize(text, voice)
        seconds = len(pcm) / 2 / SAMPLE_RATE
        prompt_tokens = math.ceil(len(text) / 4)
        output_tokens = math.ceil(seconds * AUDIO_TOKENS_PER_S)
        with lock:
            state["last"] = {"model": model, "voiceName": voice, "prompt": text}
        return flask.jsonify(
            {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [
                                {
                                    "inlineData": {
                                        "mimeType": PCM_MIME,
                                        "data": base64.b64encode(pcm).decode(),
                                    }
                                }
                            ],
                        },
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "candidatesTokenCount": output_tokens,
                    "totalTokenCount": prompt_tokens + output_tokens,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
                    "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": output_tokens}],
                },
                "modelVersion": model,
                "responseId": hashlib.sha256(pcm).hexdigest()[:22],
            }
        )

    @app.get("/_local/last")
    def last() -> flask.Response:
        with lock:
            return flask.jsonify(state["last"])

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.gemini_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--api-key", required=True, help="the key clients must send")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    configure_logging(access_log=args.access_log)
    return serve_until_signalled(
        create_app(args.api_key), host=args.host, port=args.port, name="gemini (local)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
