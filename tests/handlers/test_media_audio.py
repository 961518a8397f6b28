"""The audio handlers on tiny random models: whisper (annotation) and moss-sound (Opus).

Inputs are made here (ffmpeg lavfi tones, Pillow images) and staged in the storage emulator;
outputs are opened (json, ffprobe) and checked for what the contract promises.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from gpu_handlers import media_io
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


def _moss_job(media_bucket: Any, **extra: Any) -> dict[str, Any]:
    return media_bucket.payload(
        "moss-sound",
        "moss.sound.effect",
        {"prompt": "rain on a tin roof", **extra},
        content_type="audio/ogg",
    )


def test_moss_sound_is_opus_of_the_requested_length(
    media_bucket: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bitrates: list[int] = []
    real_write = media_io.write_audio

    def spy(*args: Any, **kwargs: Any) -> dict[str, Any]:
        bitrates.append(kwargs["bitrate"])
        return real_write(*args, **kwargs)

    monkeypatch.setattr(media_io, "write_audio", spy)
    job = _moss_job(media_bucket, durationSeconds=2, quality="192k", temperature=1.0)
    answer = get_handler("moss-sound").generate(job)
    out = tmp_path / "sound.ogg"
    out.write_bytes(media_bucket.output(job))
    info = media_io.probe(out)
    assert info["format"]["format_name"] == "ogg"
    assert [s["codec_name"] for s in info["streams"]] == ["opus"]
    assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=0.1)
    assert bitrates == [192_000]
    assert answer["contentType"] == "audio/ogg"
    assert set(answer["meta"]) == {"durationSeconds", "sampleRate", "channels"}
    assert answer["meta"]["durationSeconds"] == pytest.approx(2.0, abs=0.1)


def test_moss_request_defaults_and_refusals() -> None:
    from gpu_handlers.moss_sound.handler import MOSS_SAMPLING, _request, fit

    prompt, seconds, bitrate, knobs = _request({"prompt": "door slam", "topK": 7})
    assert (prompt, seconds, bitrate) == ("door slam", 10.0, 128_000)
    assert knobs == {**MOSS_SAMPLING, "topK": 7}
    for bad in (
        {"prompt": ""},
        {"prompt": "x", "durationSeconds": 31},
        {"prompt": "x", "quality": "1k"},
    ):
        with pytest.raises(MediaInputError):
            _request(bad)
    assert fit([0.5] * 10, 4, 1.5).tolist() == [0.5] * 6
    assert fit([0.5] * 2, 4, 1.0).tolist() == [0.5, 0.5, 0.0, 0.0]


def test_moss_refuses_another_handlers_payload(media_bucket: Any) -> None:
    job = _moss_job(media_bucket)
    job["handler"] = "ace-step"
    with pytest.raises(MediaInputError, match="ace-step"):
        get_handler("moss-sound").generate(job)
    job["handler"], job["task"] = "moss-sound", ANNOTATION
    with pytest.raises(MediaInputError, match="does not run"):
        get_handler("moss-sound").generate(job)


def test_moss_in_the_runpod_handler(media_bucket: Any) -> None:
    job = _moss_job(media_bucket, durationSeconds=1)
    answer = make_handler("moss-sound")({"id": "j", "input": job})
    assert answer["meta"]["durationSeconds"] == pytest.approx(1.0, abs=0.1)
    assert answer["sizeBytes"] == len(media_bucket.output(job))
    bad = {**job, "input": {"prompt": "x", "quality": "1k"}}
    assert make_handler("moss-sound")({"id": "j", "input": bad})["error"].startswith(
        "invalid input"
    )
