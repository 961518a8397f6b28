"""`ffmpeg-video` handler: video.combine and video.resize on real clips, real signed URLs.

Clips are made here with ffmpeg's lavfi sources (testsrc + sine, 30 fps); outputs are opened
with ffprobe (media_io.probe) and checked for size, frame count, duration and audio.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gpu_handlers import media_io
from gpu_handlers.errors import MediaInputError
from gpu_handlers.registry import get_handler
from gpu_handlers.runtimes.runpod_worker import make_handler

HANDLER = "ffmpeg-video"
FPS = 30


def make_clip(
    tmp: Path, name: str, *, seconds: float, size: str = "64x48", audio: bool = True
) -> bytes:
    path = tmp / f"{name}.mp4"
    src = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={FPS}:duration={seconds}"]
    if audio:
        src += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *src,
         "-c:v", "libx264", "-pix_fmt", "yuv420p", *(["-c:a", "aac"] if audio else []),
         str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


def streams(data: bytes, tmp: Path) -> dict[str, Any]:
    path = tmp / "answer.mp4"
    path.write_bytes(data)
    info = media_io.probe(path)
    by_type = {s["codec_type"]: s for s in info["streams"]}
    return {"info": info, "meta": media_io.video_meta(path), **by_type}


def combine_job(bucket: Any, clips: list[bytes], **extra: Any) -> dict[str, Any]:
    urls = [bucket.stage(c, "video/mp4") for c in clips]
    inp = {"videoUrls": urls, "overlapFrames": 1, "frameRate": FPS, **extra}
    return bucket.payload(HANDLER, "video.combine", inp, content_type="video/mp4")


def resize_job(bucket: Any, clip: bytes, width: int, height: int) -> dict[str, Any]:
    inp = {
        "sourceVideoUrl": bucket.stage(clip, "video/mp4"),
        "width": width,
        "height": height,
        "frameRate": 60,
    }
    return bucket.payload(HANDLER, "video.resize", inp, content_type="video/mp4")


def test_load_pipeline_checks_tools() -> None:
    assert get_handler(HANDLER).load_pipeline() is None


def test_combine_two_clips_drops_overlap_and_keeps_audio_in_sync(
    media_bucket: Any, tmp_path: Path
) -> None:
    job = combine_job(
        media_bucket, [make_clip(tmp_path, "a", seconds=1), make_clip(tmp_path, "b", seconds=2)]
    )
    answer = get_handler(HANDLER).generate(job)
    out = streams(media_bucket.output(job), tmp_path)
    frames = 30 + 60 - 1
    assert out["video"]["codec_name"] == "h264"
    assert out["audio"]["codec_name"] == "aac"
    assert out["meta"]["frames"] == frames
    assert (out["video"]["width"], out["video"]["height"]) == (64, 48)
    assert float(out["video"]["duration"]) == pytest.approx(frames / FPS, abs=0.02)
    assert float(out["audio"]["duration"]) == pytest.approx(frames / FPS, abs=0.05)
    meta = answer["meta"]
    assert meta["frames"] == frames and meta["clips"] == 2 and meta["hasAudio"] is True
    assert meta["fps"] == FPS  # no drift at the joins
    assert meta["durationSeconds"] == pytest.approx(frames / FPS, abs=0.05)
    assert answer["sizeBytes"] == len(media_bucket.output(job))


def test_combine_three_clips_one_silent_gets_continuous_audio(
    media_bucket: Any, tmp_path: Path
) -> None:
    clips = [
        make_clip(tmp_path, "a", seconds=1),
        make_clip(tmp_path, "b", seconds=1, audio=False),
        make_clip(tmp_path, "c", seconds=2),
    ]
    job = combine_job(media_bucket, clips, overlapFrames=3)
    answer = get_handler(HANDLER).generate(job)
    out = streams(media_bucket.output(job), tmp_path)
    frames = 30 + 30 + 60 - 2 * 3
    assert out["meta"]["frames"] == frames == answer["meta"]["frames"]
    assert answer["meta"]["clips"] == 3
    assert float(out["audio"]["duration"]) == pytest.approx(frames / FPS, abs=0.05)
    assert float(out["video"]["duration"]) == pytest.approx(frames / FPS, abs=0.02)


def test_combine_without_overlap_and_without_any_audio(media_bucket: Any, tmp_path: Path) -> None:
    clips = [make_clip(tmp_path, n, seconds=1, audio=False) for n in ("a", "b")]
    job = combine_job(media_bucket, clips, overlapFrames=0)
    answer = get_handler(HANDLER).generate(job)
    out = streams(media_bucket.output(job), tmp_path)
    assert out["meta"]["frames"] == 60 == answer["meta"]["frames"]
    assert "audio" not in out and answer["meta"]["hasAudio"] is False


def test_combine_normalises_size_and_frame_rate(media_bucket: Any, tmp_path: Path) -> None:
    clips = [
        make_clip(tmp_path, "a", seconds=1),
        make_clip(tmp_path, "b", seconds=1, size="128x128"),
    ]
    job = combine_job(media_bucket, clips, overlapFrames=2, frameRate=24)
    answer = get_handler(HANDLER).generate(job)
    out = streams(media_bucket.output(job), tmp_path)
    assert (out["video"]["width"], out["video"]["height"]) == (64, 48)
    assert out["meta"]["frames"] == 24 + 24 - 2 == answer["meta"]["frames"]
    assert answer["meta"]["fps"] == 24
    assert float(out["audio"]["duration"]) == pytest.approx(46 / 24, abs=0.05)


def test_combine_refuses_overlap_longer_than_a_clip(media_bucket: Any, tmp_path: Path) -> None:
    clips = [make_clip(tmp_path, "a", seconds=1), make_clip(tmp_path, "b", seconds=1)]
    job = combine_job(media_bucket, clips, overlapFrames=30)
    with pytest.raises(MediaInputError, match="no frame left"):
        get_handler(HANDLER).generate(job)


def test_resize_exact_size_and_byte_identical(media_bucket: Any, tmp_path: Path) -> None:
    clip = make_clip(tmp_path, "a", seconds=1)
    outputs = []
    for _ in range(2):
        job = resize_job(media_bucket, clip, 32, 24)
        answer = get_handler(HANDLER).generate(job)
        outputs.append((answer, media_bucket.output(job)))
    (first, data), (second, again) = outputs
    assert data == again and first["sha256"] == second["sha256"]
    out = streams(data, tmp_path)
    assert (out["video"]["width"], out["video"]["height"]) == (32, 24)
    assert out["video"]["codec_name"] == "h264" and out["audio"]["codec_name"] == "aac"
    assert out["meta"]["frames"] == 30 == first["meta"]["frames"]
    assert first["meta"]["fps"] == pytest.approx(FPS, abs=0.01)
    assert first["meta"]["hasAudio"] is True
    assert first["meta"]["durationSeconds"] == pytest.approx(1.0, abs=0.05)


def test_resize_source_without_audio(media_bucket: Any, tmp_path: Path) -> None:
    job = resize_job(media_bucket, make_clip(tmp_path, "a", seconds=1, audio=False), 96, 72)
    answer = get_handler(HANDLER).generate(job)
    out = streams(media_bucket.output(job), tmp_path)
    assert (out["video"]["width"], out["video"]["height"]) == (96, 72)
    assert "audio" not in out and answer["meta"]["hasAudio"] is False


def test_non_video_inputs_are_refused(media_bucket: Any, tmp_path: Path) -> None:
    handler = get_handler(HANDLER)
    job = resize_job(media_bucket, b"this is not a video at all", 32, 24)
    with pytest.raises(MediaInputError, match="not a readable video"):
        handler.generate(job)
    job = resize_job(media_bucket, make_clip(tmp_path, "a", seconds=1), 32, 24)
    job["input"]["sourceVideoUrl"]["mimeType"] = "image/png"
    with pytest.raises(MediaInputError, match="not a video"):
        handler.generate(job)
    clip = make_clip(tmp_path, "b", seconds=1)
    png = tmp_path / "still.png"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(tmp_path / "b.mp4"), "-frames:v", "1",
         str(png)],
        check=True,
    )  # fmt: skip
    job = combine_job(media_bucket, [clip, png.read_bytes()])
    with pytest.raises(MediaInputError, match=r"videoUrls\.1 has no video stream"):
        handler.generate(job)


def test_bad_inputs_and_other_payloads_are_refused(media_bucket: Any, tmp_path: Path) -> None:
    handler = get_handler(HANDLER)
    clip = make_clip(tmp_path, "a", seconds=1)
    job = resize_job(media_bucket, clip, 33, 24)
    with pytest.raises(MediaInputError):
        handler.generate(job)
    job = combine_job(media_bucket, [clip])
    with pytest.raises(MediaInputError):
        handler.generate(job)
    other = media_bucket.payload("whisper", "audio.annotation.reference", {}, content_type="x/y")
    with pytest.raises(MediaInputError, match="ffmpeg-video"):
        handler.generate(other)
    job = resize_job(media_bucket, clip, 32, 24)
    job["task"] = "video.generate"
    with pytest.raises(MediaInputError, match="does not run"):
        handler.generate(job)


def test_more_than_ten_minutes_is_refused(media_bucket: Any, tmp_path: Path) -> None:
    path = tmp_path / "long.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "testsrc=size=16x16:rate=1:duration=601", "-c:v", "libx264", str(path)],
        check=True,
    )  # fmt: skip
    job = resize_job(media_bucket, path.read_bytes(), 32, 24)
    with pytest.raises(MediaInputError, match="at most 600 s"):
        get_handler(HANDLER).generate(job)


def test_runpod_worker_answers_like_generate(media_bucket: Any, tmp_path: Path) -> None:
    clip = make_clip(tmp_path, "a", seconds=1)
    direct = get_handler(HANDLER).generate(resize_job(media_bucket, clip, 32, 24))
    job = resize_job(media_bucket, clip, 32, 24)
    answer = make_handler(HANDLER)({"id": "j", "input": job})
    assert answer["sha256"] == direct["sha256"] and answer["meta"] == direct["meta"]
    assert hashlib.sha256(media_bucket.output(job)).hexdigest() == answer["sha256"]
    bad = resize_job(media_bucket, b"not a video", 32, 24)
    refused = make_handler(HANDLER)({"id": "j", "input": bad})
    assert refused == {"error": "invalid input: input.sourceVideoUrl is not a readable video"}


def test_modal_runtime_runs_a_media_job_like_generate(media_bucket: Any, tmp_path: Path) -> None:
    """A media job routed to Modal runs the same handler body (Modal's local path), and
    Modal's entry point refuses another handler's payload before any container starts."""
    from gpu_handlers.runtimes import modal_app

    clip = make_clip(tmp_path, "m", seconds=1)
    job = resize_job(media_bucket, clip, 32, 24)
    via_modal = modal_app.run_local(HANDLER, job)
    direct = get_handler(HANDLER).generate(resize_job(media_bucket, clip, 32, 24))
    assert via_modal["sha256"] == direct["sha256"] and via_modal["meta"] == direct["meta"]
    posted: list[dict[str, Any]] = []
    answer = modal_app.run_job(
        "whisper", job, "http://callback", call_id="c1", post=lambda _u, b: posted.append(b)
    )
    assert answer["error"].startswith("invalid input") and posted[0]["status"] == "FAILED"
