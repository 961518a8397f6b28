"""The audio handlers on tiny random models: whisper (annotation) and moss-sound (Opus).

Inputs are made here (ffmpeg lavfi tones, Pillow images) and staged in the storage emulator;
outputs are opened (json, ffprobe) and checked for what the contract promises.
"""

from __future__ import annotations

import io
import json
import subprocess
from typing import Any

import pytest
from PIL import Image

from gpu_handlers.errors import MediaInputError
from gpu_handlers.registry import get_handler
from gpu_handlers.runtimes.runpod_worker import make_handler

TRANSCRIPT = "The quick brown fox jumps over the lazy dog. It was a sunny day!"
ANNOTATION = "audio.annotation.reference"


def _tone_wav(seconds: float) -> bytes:
    return subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
            "-i", f"sine=frequency=330:duration={seconds}:sample_rate=22050",
            "-f", "wav", "pipe:1",
        ],
        check=True, capture_output=True,
    ).stdout  # fmt: skip


def _annotation_job(media_bucket: Any, **extra: Any) -> dict[str, Any]:
    job = media_bucket.payload(
        "whisper", ANNOTATION, {"language": "en", **extra}, content_type="application/json"
    )
    job["input"]["sourceAudio"] = media_bucket.stage(_tone_wav(3.0), "audio/wav")
    return job


def _check_words(words: list[dict[str, Any]], duration: float) -> None:
    last_end = 0.0
    for w in words:
        assert 0.0 <= w["start"] <= w["end"] <= duration, w
        assert w["start"] >= last_end, w
        last_end = w["end"]


def test_annotation_anchors_every_transcript_word(media_bucket: Any) -> None:
    job = _annotation_job(media_bucket, transcript=TRANSCRIPT, transcriptionModel="distil-large-v3")
    answer = get_handler("whisper").generate(job)
    doc = json.loads(media_bucket.output(job))
    assert answer["contentType"] == "application/json"
    assert doc["transcriptionModel"] == "distil-large-v3"
    assert doc["durationSeconds"] == pytest.approx(3.0, abs=0.05)
    assert [w["word"] for w in doc["words"]] == TRANSCRIPT.split()
    _check_words(doc["words"], doc["durationSeconds"])
    assert doc["words"][-1]["end"] > 0.0
    assert [s["text"] for s in doc["segments"]] == [
        "The quick brown fox jumps over the lazy dog.",
        "It was a sunny day!",
    ]
    assert answer["meta"] == {
        "durationSeconds": doc["durationSeconds"],
        "words": len(TRANSCRIPT.split()),
    }


def test_anchor_uses_matching_asr_times_and_interpolates_the_rest() -> None:
    from gpu_handlers.whisper.handler import anchor

    asr = [
        {"word": "quick", "start": 1.0, "end": 1.5},
        {"word": "zzz", "start": 1.6, "end": 1.7},
        {"word": "Dog.", "start": 3.0, "end": 3.4},
        {"word": "over", "start": 0.2, "end": 0.3},  # backwards: must not anchor
    ]
    words = anchor("The quick brown fox jumps over the lazy dog.", asr, 4.0)
    assert [w["anchored"] for w in words] == [False, True] + [False] * 6 + [True]
    assert (words[1]["start"], words[1]["end"]) == (1.0, 1.5)
    assert words[0]["start"] == 0.0 and words[0]["end"] == pytest.approx(1.0)
    assert words[2]["start"] == pytest.approx(1.5) and words[7]["end"] == pytest.approx(3.0)
    _check_words(words, 4.0)


def test_annotation_without_transcript_is_asr(media_bucket: Any) -> None:
    job = _annotation_job(media_bucket, transcriptionModel="large-v3")
    answer = get_handler("whisper").generate(job)
    doc = json.loads(media_bucket.output(job))
    assert set(doc) == {
        "language", "transcriptionModel", "durationSeconds", "text", "words", "segments",
    }  # fmt: skip
    assert doc["transcriptionModel"] == "large-v3" and doc["language"] == "en"
    assert all(set(w) == {"word", "start", "end", "anchored"} for w in doc["words"])
    assert not any(w["anchored"] for w in doc["words"])
    _check_words(doc["words"], doc["durationSeconds"])
    assert answer["meta"]["words"] == len(doc["words"])


def test_annotation_refuses_a_source_that_is_not_audio(media_bucket: Any) -> None:
    job = _annotation_job(media_bucket, transcript=TRANSCRIPT)
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buf, format="PNG")
    job["input"]["sourceAudio"] = media_bucket.stage(buf.getvalue(), "audio/wav")
    with pytest.raises(MediaInputError, match="sourceAudio"):
        get_handler("whisper").generate(job)
    job["input"]["sourceAudio"] = media_bucket.stage(b"not audio at all", "audio/wav")
    with pytest.raises(MediaInputError, match="sourceAudio"):
        get_handler("whisper").generate(job)


def test_whisper_refuses_another_handlers_payload(media_bucket: Any) -> None:
    job = _annotation_job(media_bucket, transcript=TRANSCRIPT)
    job["handler"] = "moss-sound"
    with pytest.raises(MediaInputError, match="moss-sound"):
        get_handler("whisper").generate(job)
    job["handler"], job["task"] = "whisper", "moss.sound.effect"
    with pytest.raises(MediaInputError, match="does not run"):
        get_handler("whisper").generate(job)


def test_whisper_in_the_runpod_handler(media_bucket: Any) -> None:
    job = _annotation_job(media_bucket, transcript=TRANSCRIPT)
    answer = make_handler("whisper")({"id": "j", "input": job})
    assert answer["meta"]["words"] == len(TRANSCRIPT.split()) and len(answer["sha256"]) == 64
    bad = {**job, "handler": "trellis"}
    assert make_handler("whisper")({"id": "j", "input": bad})["error"].startswith("invalid input")
