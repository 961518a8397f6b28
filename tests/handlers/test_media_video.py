"""ltx-video (`video.generate`) on the tiny LTX stack, through real signed URLs.

Each job is 9 sampled frames at a tiny canvas (two LTX passes on CPU, a few seconds); the
uploaded MP4 is opened with ffprobe and checked for size, frame count, fps, duration and
the presence of an audio track.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from gpu_handlers import media_io
from gpu_handlers.errors import MediaInputError
from gpu_handlers.registry import get_handler
from gpu_handlers.runtimes.runpod_worker import make_handler

HANDLER = "ltx-video"
BASE = {"prompt": "a red ball rolls", "durationFrames": 9, "seed": 7}


def _png(color: tuple[int, int, int], size: tuple[int, int] = (80, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def _tone_wav(seconds: float) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-f", "wav", "pipe:1"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


def _run(media_bucket: Any, tmp_path: Path, inp: dict[str, Any]) -> tuple[dict, dict]:
    job = media_bucket.payload(HANDLER, "video.generate", inp, content_type="video/mp4")
    answer = get_handler(HANDLER).generate(job)
    out = tmp_path / "out.mp4"
    out.write_bytes(media_bucket.output(job))
    return answer, {"meta": media_io.video_meta(out), "probe": media_io.probe(out)}


def _video_stream(probe: dict) -> dict:
    return next(s for s in probe["streams"] if s["codec_type"] == "video")


def test_text_to_video_at_sampled_fps(media_bucket: Any, tmp_path: Path) -> None:
    answer, seen = _run(
        media_bucket, tmp_path,
        {**BASE, "width": 96, "height": 64, "sampledFps": 8, "interpolationFps": 0},
    )  # fmt: skip
    meta = seen["meta"]
    assert _video_stream(seen["probe"])["codec_name"] == "h264"
    assert (meta["width"], meta["height"]) == (96, 64)  # 32-grid first pass, resized back
    assert meta["frames"] == 9 and meta["fps"] == 8
    assert meta["durationSeconds"] == pytest.approx(9 / 8, abs=0.05)
    assert meta["hasAudio"] is False
    assert answer["meta"]["frames"] == 9 and answer["meta"]["seed"] == 7
    assert answer["meta"]["firstPassSize"] == "32x32"
    assert answer["contentType"] == "video/mp4" and answer["sizeBytes"] > 0


def test_start_frame_interpolated_to_output_fps(media_bucket: Any, tmp_path: Path) -> None:
    inp = {**BASE, "width": 128, "height": 64, "sampledFps": 15, "interpolationFps": 30}
    inp["startFrameImage"] = media_bucket.stage(_png((220, 30, 30)), "image/png")
    answer, seen = _run(media_bucket, tmp_path, inp)
    meta = seen["meta"]
    assert (meta["width"], meta["height"]) == (128, 64)
    assert meta["frames"] == 18 and meta["fps"] == 30  # ceil(9 x 30 / 15)
    assert meta["durationSeconds"] == pytest.approx(18 / 30, abs=0.05)
    assert answer["meta"]["interpolated"] is True and answer["meta"]["sampledFrames"] == 9


def test_final_and_overlap_frames_with_reference_audio(media_bucket: Any, tmp_path: Path) -> None:
    inp = {**BASE, "width": 64, "height": 64, "sampledFps": 8, "interpolationFps": 0}
    inp["overlapFrameImages"] = [
        media_bucket.stage(_png((10 * i, 200, 40)), "image/png") for i in range(3)
    ]
    inp["finalFrameImage"] = media_bucket.stage(_png((0, 0, 250)), "image/png")
    inp["referenceAudio"] = media_bucket.stage(_tone_wav(3.0), "audio/wav")
    _answer, seen = _run(media_bucket, tmp_path, inp)
    meta = seen["meta"]
    assert meta["frames"] == 9 and meta["hasAudio"] is True
    audio = next(s for s in seen["probe"]["streams"] if s["codec_type"] == "audio")
    assert audio["codec_name"] == "aac"
    assert float(audio["duration"]) <= 9 / 8 + 0.1  # trimmed to the video, not 3 s


def test_seed_is_deterministic(media_bucket: Any, tmp_path: Path) -> None:
    inp = {**BASE, "width": 64, "height": 64, "sampledFps": 8, "interpolationFps": 0}
    first = get_handler(HANDLER).generate(
        media_bucket.payload(HANDLER, "video.generate", inp, content_type="video/mp4")
    )
    second = get_handler(HANDLER).generate(
        media_bucket.payload(HANDLER, "video.generate", inp, content_type="video/mp4")
    )
    assert first["sha256"] == second["sha256"]


def test_runpod_loop_answers_like_generate(media_bucket: Any) -> None:
    inp = {**BASE, "width": 64, "height": 64, "sampledFps": 8, "interpolationFps": 0}
    job = media_bucket.payload(HANDLER, "video.generate", inp, content_type="video/mp4")
    answer = make_handler(HANDLER)({"id": "j", "input": job})
    assert "error" not in answer
    assert answer["meta"]["frames"] == 9 and answer["contentType"] == "video/mp4"
    bad = media_bucket.payload("ffmpeg-video", "video.generate", inp, content_type="video/mp4")
    assert make_handler(HANDLER)({"id": "k", "input": bad})["error"].startswith("invalid input")


def test_refuses_other_handlers_payload(media_bucket: Any) -> None:
    job = media_bucket.payload("ffmpeg-video", "video.resize", {}, content_type="video/mp4")
    with pytest.raises(MediaInputError, match="ltx-video"):
        get_handler(HANDLER).generate(job)


def test_start_frame_that_is_not_an_image(media_bucket: Any) -> None:
    inp = {**BASE, "width": 64, "height": 64, "sampledFps": 8, "interpolationFps": 0}
    inp["startFrameImage"] = media_bucket.stage(b"not a png at all", "image/png")
    job = media_bucket.payload(HANDLER, "video.generate", inp, content_type="video/mp4")
    with pytest.raises(MediaInputError, match="not a readable image"):
        get_handler(HANDLER).generate(job)


def test_reference_audio_that_is_not_audio(media_bucket: Any) -> None:
    inp = {**BASE, "width": 64, "height": 64, "sampledFps": 8, "interpolationFps": 0}
    inp["startFrameImage"] = media_bucket.stage(_png((1, 2, 3)), "image/png")
    inp["referenceAudio"] = media_bucket.stage(np.zeros(64, np.uint8).tobytes(), "audio/wav")
    job = media_bucket.payload(HANDLER, "video.generate", inp, content_type="video/mp4")
    with pytest.raises(MediaInputError, match="referenceAudio"):
        get_handler(HANDLER).generate(job)


def test_overlap_frames_that_do_not_fit_the_clip(media_bucket: Any) -> None:
    png = _png((5, 5, 5))
    inp = {**BASE, "width": 64, "height": 64, "sampledFps": 8}
    inp["overlapFrameImages"] = [media_bucket.stage(png, "image/png") for _ in range(9)]
    inp["finalFrameImage"] = media_bucket.stage(png, "image/png")  # frame 8 is an overlap frame
    job = media_bucket.payload(HANDLER, "video.generate", inp, content_type="video/mp4")
    with pytest.raises(MediaInputError, match="do not fit"):
        get_handler(HANDLER).generate(job)
