"""audio.speak handlers: omnivoice (tiny Sesame CSM) and gemini-tts (google-genai SDK against
the local Gemini stand-in), with real signed URLs and real encoded output."""

from __future__ import annotations

import base64
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from gpu_handlers import media_io
from gpu_handlers.errors import MediaInputError
from gpu_handlers.registry import get_handler
from gpu_handlers.runtimes.runpod_worker import make_handler
from infra.local import gemini_server

OGG = "audio/ogg"
WAV = "audio/wav"
GEMINI_KEY = "test-gemini-key"


def _probe(data: bytes, tmp_path: Path, name: str) -> dict[str, Any]:
    path = tmp_path / name
    path.write_bytes(data)
    return media_io.probe(path)


def _speak(media_bucket: Any, **input: Any) -> dict[str, Any]:
    return media_bucket.payload(
        "omnivoice", "audio.speak", {"provider": "omnivoice", **input}, content_type=OGG
    )


def _tone_wav(seconds: float = 1.5) -> bytes:
    t = np.arange(int(24_000 * seconds)) / 24_000
    pcm = (0.4 * np.sin(2 * np.pi * 180 * t) * 32767).astype("<i2").tobytes()
    return media_io.ffmpeg(
        "-f", "s16le", "-ar", "24000", "-ac", "1", "-i", "pipe:0", "-f", "wav", "pipe:1", stdin=pcm
    )  # fmt: skip


# -- omnivoice ---------------------------------------------------------------------------------


def test_omnivoice_voice_design_writes_ogg_opus_at_quality(media_bucket, tmp_path):
    handler = get_handler("omnivoice")
    text = "Hello there."
    sizes = {}
    for quality in ("96k", "192k"):
        job = _speak(
            media_bucket,
            text=text,
            mode="voice_design",
            voiceDescription="female, British Accent",
            quality=quality,
            seed=7,
        )
        answer = handler.generate(job)
        data = media_bucket.output(job)
        info = _probe(data, tmp_path, f"{quality}.ogg")
        stream = info["streams"][0]
        assert info["format"]["format_name"] == "ogg" and stream["codec_name"] == "opus"
        duration = float(info["format"]["duration"])
        assert 0.5 < duration <= 1.0 + 0.09 * len(text) + 0.2
        assert answer["contentType"] == OGG and answer["sizeBytes"] == len(data)
        assert answer["meta"]["characters"] == len(text)
        assert answer["meta"]["sampleRate"] == 48_000 and answer["meta"]["channels"] == 1
        assert answer["meta"]["durationSeconds"] == pytest.approx(duration, abs=0.01)
        sizes[quality] = (len(data), duration)
    # Noise-like tiny-model audio fills the bitrate: 192k is about twice 96k per second.
    rate = {q: size * 8 / dur for q, (size, dur) in sizes.items()}
    assert rate["192k"] > 1.5 * rate["96k"], rate


def test_omnivoice_seed_is_honoured_and_tags_pick_a_stable_speaker(media_bucket):
    from gpu_handlers.omnivoice import handler as omnivoice

    assert omnivoice.design_speaker("Female, british accent") == omnivoice.design_speaker(
        "british accent,female"
    )
    assert omnivoice.design_speaker(None) == 0
    first = omnivoice.synthesize("Same seed.", speaker=1, seed=5, reference=None, transcript=None)
    again = omnivoice.synthesize("Same seed.", speaker=1, seed=5, reference=None, transcript=None)
    other = omnivoice.synthesize("Same seed.", speaker=1, seed=6, reference=None, transcript=None)
    assert np.array_equal(first, again)
    assert first.shape != other.shape or not np.array_equal(first, other)
    # voice_clone: the reference audio is the conditioning, so another clip changes the voice
    t = np.arange(24_000) / 24_000
    low, high = (np.sin(2 * np.pi * f * t).astype(np.float32) * 0.4 for f in (120, 900))
    cloned = [
        omnivoice.synthesize("Same seed.", speaker=0, seed=5, reference=ref, transcript="Ref.")
        for ref in (low, high)
    ]
    assert not np.array_equal(cloned[0], cloned[1])


def test_omnivoice_voice_clone_through_the_runpod_loop(media_bucket, tmp_path):
    job = _speak(
        media_bucket,
        text="Cloned words.",
        mode="voice_clone",
        referenceAudio=media_bucket.stage(_tone_wav(), "audio/wav"),
        referenceTranscript="A reference clip.",
        seed=3,
    )
    answer = make_handler("omnivoice")({"id": "j", "input": job})
    assert "error" not in answer, answer
    info = _probe(media_bucket.output(job), tmp_path, "clone.ogg")
    assert info["streams"][0]["codec_name"] == "opus"
    assert float(info["format"]["duration"]) > 0.5
    assert answer["meta"]["characters"] == len("Cloned words.")


def test_omnivoice_tiny_model_is_deterministic_and_production_shaped():
    import torch

    from gpu_handlers.omnivoice import tiny

    states = []
    for _ in range(2):
        torch.manual_seed(0)
        model, processor = tiny.build()
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert type(model).__name__ == "CsmForConditionalGeneration"
    assert type(processor).__name__ == "CsmProcessor"
    assert model.config.codec_config.frame_rate == 12.5  # production's frame arithmetic
    assert processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>") == model.config.audio_token_id


def test_omnivoice_refuses_reference_that_is_not_audio(media_bucket):
    job = _speak(
        media_bucket,
        text="Hi.",
        mode="voice_clone",
        referenceAudio=media_bucket.stage(b"this is not audio at all" * 10, "audio/wav"),
    )
    with pytest.raises(MediaInputError, match="referenceAudio"):
        get_handler("omnivoice").generate(job)
    answer = make_handler("omnivoice")({"id": "j", "input": job})
    assert answer["error"].startswith("invalid input: ")


def test_speech_handlers_refuse_other_handlers_payloads(media_bucket):
    job = _speak(media_bucket, text="Hi.")
    with pytest.raises(MediaInputError, match="payload is for 'omnivoice'"):
        get_handler("gemini-tts").generate(job)
    other = media_bucket.payload("whisper", "audio.speak", {"text": "Hi."}, content_type=OGG)
    with pytest.raises(MediaInputError):
        get_handler("omnivoice").generate(other)
    wrong_task = media_bucket.payload(
        "omnivoice", "audio.annotation.reference", {"text": "Hi."}, content_type=OGG
    )
    with pytest.raises(MediaInputError, match="does not run task"):
        get_handler("omnivoice").generate(wrong_task)


# -- gemini ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gemini(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    from infra.local.stack import free_port, wait_for_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local.gemini_server", "--port", str(port),
         "--api-key", GEMINI_KEY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, proc, "gemini_server", timeout=30)
        base = f"http://127.0.0.1:{port}"
        monkeypatch_module.setenv("RELAY_GEMINI_API_BASE", base)
        monkeypatch_module.setenv("GEMINI_API_KEY", GEMINI_KEY)
        monkeypatch_module.delenv("RELAY_GEMINI_TTS_MODEL", raising=False)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _gemini_job(media_bucket: Any, **input: Any) -> dict[str, Any]:
    return media_bucket.payload(
        "gemini-tts", "audio.speak", {"provider": "gemini", **input}, content_type=WAV
    )


def _expected(prompt: str) -> tuple[float, dict[str, int]]:
    seconds = 24_000 * 60 * len(prompt) // 1000 / 24_000
    return seconds, {
        "promptTokens": math.ceil(len(prompt) / 4),
        "outputTokens": math.ceil(seconds * 25),
    }


def test_gemini_writes_24k_mono_wav_and_reports_usage(gemini, media_bucket, tmp_path):
    text = "Have a wonderful day!"
    job = _gemini_job(media_bucket, text=text, voiceName="Puck")
    answer = make_handler("gemini-tts")({"id": "j", "input": job})
    assert "error" not in answer, answer
    info = _probe(media_bucket.output(job), tmp_path, "g.wav")
    stream = info["streams"][0]
    assert stream["codec_name"] == "pcm_s16le"
    assert int(stream["sample_rate"]) == 24_000 and int(stream["channels"]) == 1
    seconds, usage = _expected(text)
    assert float(info["format"]["duration"]) == pytest.approx(seconds, abs=0.002)
    assert answer["usage"] == usage
    assert answer["contentType"] == WAV
    assert answer["meta"]["voiceName"] == "Puck" and answer["meta"]["characters"] == len(text)
    last = httpx.get(f"{gemini}/_local/last").json()
    assert last == {"model": "gemini-3.1-flash-tts-preview", "voiceName": "Puck", "prompt": text}


def test_gemini_prepends_instructions(gemini, media_bucket):
    text, instructions = "Exactly this.", "Speak slowly and warmly."
    job = _gemini_job(media_bucket, text=text, instructions=instructions)
    answer = get_handler("gemini-tts").generate(job)
    prompt = f"{instructions}\n\nRead the following text exactly as written:\n{text}"
    last = httpx.get(f"{gemini}/_local/last").json()
    assert last["prompt"] == prompt and last["voiceName"] == "Kore"
    seconds, usage = _expected(prompt)
    assert answer["usage"] == usage
    assert answer["meta"]["durationSeconds"] == pytest.approx(seconds, abs=0.002)


def test_gemini_bad_key_fails_the_job_without_leaking_it(gemini, media_bucket, monkeypatch):
    from gpu_handlers.gemini_tts.handler import GeminiCallError

    secret = "sk-wrong-but-secret-0123456789"
    monkeypatch.setenv("GEMINI_API_KEY", secret)
    job = _gemini_job(media_bucket, text="Nope.")
    with pytest.raises(GeminiCallError) as caught:
        make_handler("gemini-tts")({"id": "j", "input": job})  # not an input error: raises
    assert "400" in str(caught.value) and "INVALID_ARGUMENT" in str(caught.value)
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert media_bucket.bucket.get_blob(f"outputs/{job['jobId']}/0") is None


def test_gemini_refuses_omnivoice_payloads(media_bucket):
    job = media_bucket.payload(
        "gemini-tts", "audio.speak", {"provider": "omnivoice", "text": "x"}, content_type=WAV
    )
    with pytest.raises(MediaInputError, match="not gemini"):
        get_handler("gemini-tts").generate(job)


# -- the stand-in's wire format, without the SDK -----------------------------------------------


@pytest.fixture()
def client() -> Any:
    return gemini_server.create_app(GEMINI_KEY).test_client()


def _body(text: str = "Hi there", voice: str = "Kore", **extra: Any) -> dict[str, Any]:
    return {
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "generationConfig": {
            "responseModalities": ["AUDIO"],
            "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}},
        },
        **extra,
    }


URL = "/v1beta/models/gemini-3.1-flash-tts-preview:generateContent"


def test_stand_in_answers_pcm_and_usage(client):
    response = client.post(URL, json=_body("abcd" * 5), headers={"x-goog-api-key": GEMINI_KEY})
    assert response.status_code == 200
    body = response.get_json()
    inline = body["candidates"][0]["content"]["parts"][0]["inlineData"]
    assert inline["mimeType"] == "audio/L16;codec=pcm;rate=24000"
    pcm = base64.b64decode(inline["data"])
    assert len(pcm) == 2 * 24_000 * 60 * 20 // 1000
    assert np.abs(np.frombuffer(pcm, "<i2")).max() > 1000  # a real waveform, not silence
    assert body["usageMetadata"] == {
        **body["usageMetadata"],
        "promptTokenCount": 5,
        "candidatesTokenCount": 30,
        "totalTokenCount": 35,
    }


@pytest.mark.parametrize(
    ("headers", "query", "body", "code", "status"),
    [
        ({}, "", _body(), 403, "PERMISSION_DENIED"),
        ({"x-goog-api-key": "wrong"}, "", _body(), 400, "INVALID_ARGUMENT"),
        ({}, "?key=wrong", _body(), 400, "INVALID_ARGUMENT"),
        ({"x-goog-api-key": GEMINI_KEY}, "", {"contents": []}, 400, "INVALID_ARGUMENT"),
        ({"x-goog-api-key": GEMINI_KEY}, "", _body(voice="Nobody"), 400, "INVALID_ARGUMENT"),
        (
            {"x-goog-api-key": GEMINI_KEY},
            "",
            {"contents": [{"parts": [{"text": "hi"}]}]},  # no AUDIO modality
            400,
            "INVALID_ARGUMENT",
        ),
    ],
)
def test_stand_in_error_envelope(client, headers, query, body, code, status):
    response = client.post(URL + query, json=body, headers=headers)
    assert response.status_code == code
    error = response.get_json()["error"]
    assert error["code"] == code and error["status"] == status and error["message"]
    assert "wrong" not in error["message"]


def test_stand_in_reads_proto_field_names_like_google(client):
    body = _body(voice="Puck")
    body["generationConfig"]["speechConfig"] = {
        "voice_config": {"prebuilt_voice_config": {"voice_name": "Nobody"}}
    }
    headers = {"x-goog-api-key": GEMINI_KEY}
    assert client.post(URL, json=body, headers=headers).status_code == 400
    body["generationConfig"]["speechConfig"]["voice_config"]["prebuilt_voice_config"] = {
        "voice_name": "Puck"
    }
    assert client.post(URL, json=body, headers=headers).status_code == 200
    assert client.get("/_local/last").get_json()["voiceName"] == "Puck"


def test_stand_in_unknown_model_and_bad_json(client):
    headers = {"x-goog-api-key": GEMINI_KEY}
    response = client.post("/v1beta/models/nope:generateContent", json=_body(), headers=headers)
    assert response.status_code == 404 and response.get_json()["error"]["status"] == "NOT_FOUND"
    response = client.post(URL, data=b"{not json", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["status"] == "INVALID_ARGUMENT"
