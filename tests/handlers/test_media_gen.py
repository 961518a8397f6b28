"""ace-step (ace.step.create) and trellis (trellis.generate) on their tiny real pipelines."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from gpu_handlers import media_io
from gpu_handlers.ace_step import handler as ace
from gpu_handlers.errors import MediaInputError
from gpu_handlers.runtimes.runpod_worker import make_handler
from gpu_handlers.trellis import handler as trellis

SONG = {"tags": "synth pop, piano", "lyrics": "[verse]\nhello there", "steps": 4, "seed": 3}


def _png() -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _ace_job(media_bucket, **extra):
    return media_bucket.payload(
        "ace-step", "ace.step.create", {**SONG, **extra}, content_type="audio/ogg"
    )


def _trellis_job(media_bucket, **extra):
    src = media_bucket.stage(_png(), "image/png")
    return media_bucket.payload(
        "trellis",
        "trellis.generate",
        {"sourceImage": src, **extra},
        content_type="model/gltf-binary",
    )


def test_ace_step_writes_opus_of_the_requested_duration(media_bucket, tmp_path: Path) -> None:
    job = _ace_job(media_bucket, durationSeconds=15, quality="96k", bpm=120, keyScale="E minor")
    answer = ace.generate(job)
    out = tmp_path / "song.ogg"
    out.write_bytes(media_bucket.output(job))
    info = media_io.probe(out)
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert [s["codec_name"] for s in audio] == ["opus"]
    assert abs(float(info["format"]["duration"]) - 15.0) <= 0.1
    assert answer["contentType"] == "audio/ogg"
    assert answer["sizeBytes"] == out.stat().st_size
    assert answer["meta"]["channels"] == 2
    assert abs(answer["meta"]["durationSeconds"] - 15.0) <= 0.1


def test_trellis_writes_a_glb_within_the_face_budget(media_bucket) -> None:
    job = _trellis_job(media_bucket, qualityPreset="performance", targetFaceCount=1000, seed=2)
    answer = trellis.generate(job)
    mesh = trimesh.load(io.BytesIO(media_bucket.output(job)), file_type="glb", force="mesh")
    assert len(mesh.vertices) > 0 and 0 < len(mesh.faces) <= 1000
    assert answer["meta"]["faces"] == len(mesh.faces)
    assert answer["meta"]["preset"] == "performance"
    assert answer["contentType"] == "model/gltf-binary"


def test_trellis_refuses_a_source_that_is_not_an_image(media_bucket) -> None:
    job = _trellis_job(media_bucket)
    job["input"]["sourceImage"] = media_bucket.stage(b"not an image at all", "image/png")
    with pytest.raises(MediaInputError):
        trellis.generate(job)
    job["input"]["sourceImage"] = media_bucket.stage(b"RIFF....WAVE", "audio/wav")
    with pytest.raises(MediaInputError):
        trellis.generate(job)


def test_other_handlers_payloads_are_refused(media_bucket) -> None:
    with pytest.raises(MediaInputError):
        trellis.generate(_ace_job(media_bucket, durationSeconds=15))
    with pytest.raises(MediaInputError):
        ace.generate(_trellis_job(media_bucket))


def test_runpod_loop_answers_like_generate(media_bucket) -> None:
    job = _ace_job(media_bucket, durationSeconds=15)
    answer = make_handler("ace-step")({"id": "j", "input": job})
    assert "error" not in answer, answer
    assert abs(answer["meta"]["durationSeconds"] - 15.0) <= 0.1
    refused = make_handler("trellis")({"id": "j", "input": job})
    assert refused["error"].startswith("invalid input")
