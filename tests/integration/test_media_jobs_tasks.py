"""Every media task end to end on the local stack: a key from the gateway submits it, the
real handler (tiny weights, real `runpod` worker loop) runs it, the output is downloaded
from its signed URL and opened (Pillow, ffprobe, json, trimesh), the bill is exactly
what submit charged (Gemini speech: its exact token bill, within the hold), and the
account's ledger audits clean."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from shared.engine import ledger
from tests.helpers import assert_audited, media_account, wait_at_rest
from tests.media_jobs_helpers import file_host, inline, mp4, png, submit, wait_done, wav

FUNDS = 50_000_000


def _probe(data: bytes, tmp: Path) -> dict[str, Any]:
    path = tmp / "out.bin"
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         "-count_packets", str(path)],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return json.loads(out)


def _streams(info: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in info["streams"] if s["codec_type"] == kind]


def _image(fmt: str, size: tuple[int, int]) -> Callable[[bytes, Path], None]:
    def check(data: bytes, tmp: Path) -> None:
        image = Image.open(io.BytesIO(data))
        assert (image.format, image.size) == (fmt, size)

    return check


def _video(size: tuple[int, int], frames: int, audio: bool) -> Callable[[bytes, Path], None]:
    def check(data: bytes, tmp: Path) -> None:
        info = _probe(data, tmp)
        (video,) = _streams(info, "video")
        assert video["codec_name"] == "h264"
        assert (video["width"], video["height"]) == size
        assert int(video["nb_read_packets"]) == frames
        assert bool(_streams(info, "audio")) is audio

    return check


def _audio(codec: str, seconds: float | None) -> Callable[[bytes, Path], None]:
    def check(data: bytes, tmp: Path) -> None:
        info = _probe(data, tmp)
        (stream,) = _streams(info, "audio")
        assert stream["codec_name"] == codec
        duration = float(info["format"]["duration"])
        assert duration > 0
        if seconds is not None:
            assert abs(duration - seconds) <= 0.1, duration

    return check


def _annotation(words: list[str]) -> Callable[[bytes, Path], None]:
    def check(data: bytes, tmp: Path) -> None:
        body = json.loads(data)
        assert [w["word"] for w in body["words"]] == words
        times = [t for w in body["words"] for t in (w["start"], w["end"])]
        assert times == sorted(times) and times[0] >= 0 and times[-1] <= body["durationSeconds"]

    return check


def _mesh(max_faces: int) -> Callable[[bytes, Path], None]:
    def check(data: bytes, tmp: Path) -> None:
        import trimesh

        mesh = trimesh.load(io.BytesIO(data), file_type="glb", force="mesh")
        assert len(mesh.vertices) > 0 and 0 < len(mesh.faces) <= max_faces

    return check


def _cases(url: Callable[[bytes, str], str]) -> list[tuple[str, dict[str, Any], Callable]]:
    return [
        (
            "image.generate",
            {"prompt": "a red fox", "width": 64, "height": 64, "outputFormat": "png"},
            _image("PNG", (64, 64)),
        ),
        (
            "image.generate",
            {
                "prompt": "the fox in this style",
                "width": 64,
                "height": 64,
                "upscale": True,
                "referenceImages": [inline(png(32, 32), "image/png")],
            },
            _image("WEBP", (96, 96)),
        ),
        (
            "image.edit",
            {
                "prompt": "make it blue",
                "sourceImageUrl": url(png(96, 48), "image/png"),
                "outputFormat": ".jpg",
            },
            _image("JPEG", (96, 48)),
        ),
        (
            "video.generate",
            {
                "prompt": "waves",
                "width": 96,
                "height": 64,
                "durationFrames": 9,
                "sampledFps": 8,
                "interpolationFps": 0,
            },
            _video((96, 64), 9, audio=False),
        ),
        (
            "video.generate",
            {
                "prompt": "the fox runs",
                "width": 64,
                "height": 64,
                "durationFrames": 9,
                "sampledFps": 15,
                "interpolationFps": 30,
                "startFrameImage": inline(png(64, 64), "image/png"),
                "referenceAudioUrl": url(wav(2.0), "audio/wav"),
            },
            _video((64, 64), 18, audio=True),
        ),
        (
            "video.combine",
            {
                "videoUrls": [url(mp4(1.0), "video/mp4"), url(mp4(1.0), "video/mp4")],
                "frameRate": 30,
            },
            _video((64, 48), 59, audio=True),  # 30 + 30 frames, the overlapping one dropped
        ),
        (
            "video.resize",
            {"sourceVideoUrl": url(mp4(1.0), "video/mp4"), "width": 32, "height": 24},
            _video((32, 24), 30, audio=True),
        ),
        (
            "audio.speak",
            {"text": "Hello there.", "voiceDescription": "female, british accent"},
            _audio("opus", None),
        ),
        (
            "audio.speak",
            {"text": "Hello there.", "provider": "gemini", "instructions": "Warmly."},
            _audio("pcm_s16le", None),
        ),
        (
            "audio.annotation.reference",
            {"sourceAudio": inline(wav(2.0), "audio/wav"), "transcript": "hello big world"},
            _annotation(["hello", "big", "world"]),
        ),
        (
            "ace.step.create",
            {"tags": "lofi", "lyrics": "la la la", "durationSeconds": 15, "steps": 4},
            _audio("opus", 15.0),
        ),
        (
            "moss.sound.effect",
            {"prompt": "a door creaks", "durationSeconds": 1},
            _audio("opus", 1.0),
        ),
        (
            "trellis.generate",
            {
                "sourceImage": inline(png(64, 64), "image/png"),
                "qualityPreset": "performance",
                "targetFaceCount": 1000,
            },
            _mesh(1000),
        ),
    ]


@pytest.fixture(scope="module")
def host():
    with file_host() as running:
        yield running


def _ids() -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for task, _, _ in _cases(lambda data, mime: "https://example.com/x"):
        seen[task] = seen.get(task, 0) + 1
        out.append(f"{task}-{seen[task]}")
    return out


@pytest.mark.parametrize("index", range(len(_ids())), ids=_ids())
def test_task_runs_end_to_end_billed_as_quoted(stack, host, tmp_path, index) -> None:
    task, fields, check = _cases(host.put)[index]
    account_id, key = media_account(micros=FUNDS)
    response = submit(stack, key, {"task": task, "input": fields})
    assert response.status_code == 201, response.text
    submitted = response.json()
    held = submitted["usdChargedMicros"]
    assert held > 0 and submitted["usdBalanceMicros"] == FUNDS - held
    assert submitted["pricingMeta"]["task"] == task
    done = wait_done(stack, key, submitted["externalJobId"])
    assert done["status"] == "completed", done
    charged = done["billing"]["usdChargedMicros"]
    if fields.get("provider") == "gemini":
        assert 0 < charged <= held  # the exact token bill, never more than the hold
    else:
        assert charged == held
    (url,) = done["downloadableOutputUrls"]
    output = httpx.get(url, timeout=60)
    assert output.status_code == 200
    check(output.content, tmp_path)
    wait_at_rest(account_id)
    money = ledger.balance(account_id)
    assert (money.available_micros, money.held_micros) == (FUNDS - charged, 0)
    assert_audited(account_id)
