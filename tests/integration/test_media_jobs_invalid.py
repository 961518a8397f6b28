"""Every invalid MediaJobRequest the document implies is a 400 in the site's envelope, and
nothing is billed, held or created: a table across the ten tasks, then the staging checks
(content, size, unreachable URLs) and the callback URL's guard, all over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.engine import ledger
from shared.engine.store import JOBS, db
from tests.helpers import media_account
from tests.media_jobs_helpers import file_host, inline, mp4, png, submit, wav

URL = "https://example.com/a.png"
IMG = inline(png(), "image/png")
AUD = inline(wav(), "audio/wav")


def _case(task: str, **fields: Any) -> dict[str, Any]:
    return {"task": task, "input": fields}


BASE = {
    "image.generate": {"prompt": "a cat"},
    "image.edit": {"prompt": "make it blue", "sourceImage": IMG},
    "video.generate": {"prompt": "waves"},
    "video.combine": {"videoUrls": [URL, URL]},
    "video.resize": {"sourceVideoUrl": URL, "width": 64, "height": 48},
    "audio.speak": {"text": "hello"},
    "audio.annotation.reference": {"sourceAudio": AUD},
    "ace.step.create": {"tags": "pop", "lyrics": "la la"},
    "moss.sound.effect": {"prompt": "a door creaks"},
    "trellis.generate": {"sourceImage": IMG},
}


def _with(task: str, **changes: Any) -> dict[str, Any]:
    fields = {**BASE[task], **changes}
    return {"task": task, "input": {k: v for k, v in fields.items() if v is not None}}


INVALID: list[tuple[str, Any]] = [
    ("not an object", ["image.generate"]),
    ("no task", {"input": {"prompt": "x"}}),
    ("unknown task", {"task": "image.upscale", "input": {"prompt": "x"}}),
    ("input missing", {"task": "image.generate"}),
    ("unknown top-level key", {**_with("image.generate"), "priority": "high"}),
    ("unknown input key", _with("image.generate", steps=4)),
    ("empty idempotency key", {**_with("image.generate"), "idempotencyKey": ""}),
    ("callback not http", {**_with("image.generate"), "completionCallbackUrl": "ftp://x.org/"}),
    # image.generate
    ("empty prompt", _with("image.generate", prompt="")),
    ("prompt over 4000", _with("image.generate", prompt="x" * 4001)),
    ("width without height", _with("image.generate", width=512)),
    ("width not a multiple of 32", _with("image.generate", width=500, height=512)),
    ("over 4 MP", _with("image.generate", width=2560, height=2048)),
    ("output format gif", _with("image.generate", outputFormat="gif")),
    ("output format jpeg", _with("image.generate", outputFormat="jpeg")),
    ("six reference images", _with("image.generate", referenceImages=[URL] * 6)),
    (
        "both reference spellings",
        _with("image.generate", referenceImages=[URL], referenceImageUrls=[URL]),
    ),
    ("width as a string", _with("image.generate", width="512", height=512)),
    # image.edit
    ("edit without a source", _with("image.edit", sourceImage=None)),
    ("inline without data", _with("image.edit", sourceImage={"mimeType": "image/png"})),
    ("inline url and data", _with("image.edit", sourceImage={**IMG, "url": URL})),
    ("inline not base64", _with("image.edit", sourceImage={"dataBase64": "@@@@"})),
    ("image mime not allowed", _with("image.edit", sourceImage={**IMG, "mimeType": "text/html"})),
    ("both source spellings", _with("image.edit", sourceImageUrl=URL)),
    # video.generate
    ("frames not 8n+1", _with("video.generate", durationFrames=10)),
    ("frames over 257", _with("video.generate", durationFrames=265)),
    ("seconds under 3", _with("video.generate", durationSeconds=2)),
    ("seconds over the frame budget", _with("video.generate", durationSeconds=20)),
    ("interpolation 20", _with("video.generate", interpolationFps=20)),
    ("interpolation 61", _with("video.generate", interpolationFps=61)),
    ("reference audio without a frame", _with("video.generate", referenceAudioUrl=URL)),
    ("sampled fps 0", _with("video.generate", sampledFps=0)),
    ("video width not /32", _with("video.generate", width=100, height=64)),
    ("video height alone", _with("video.generate", height=704)),
    # video.combine
    ("one clip", _with("video.combine", videoUrls=[URL])),
    ("25 clips", _with("video.combine", videoUrls=[URL] * 25)),
    ("overlap 121", _with("video.combine", overlapFrames=121)),
    ("clip not a URL", _with("video.combine", videoUrls=["not a url", URL])),
    # video.resize
    ("odd width", _with("video.resize", width=63)),
    ("resize without height", _with("video.resize", height=None)),
    ("width 0", _with("video.resize", width=0)),
    ("resize without a source", _with("video.resize", sourceVideoUrl=None)),
    # audio.speak
    ("empty text", _with("audio.speak", text="")),
    ("text over 6000", _with("audio.speak", text="x" * 6001)),
    ("unknown provider", _with("audio.speak", provider="polly")),
    ("gemini with voice tags", _with("audio.speak", provider="gemini", voiceDescription="male")),
    ("gemini voice clone", _with("audio.speak", provider="gemini", mode="voice_clone")),
    ("clone without reference", _with("audio.speak", mode="voice_clone")),
    ("reference without clone", _with("audio.speak", referenceAudio=AUD)),
    ("unknown voice tag", _with("audio.speak", voiceDescription="pirate, male")),
    ("omnivoice with voiceName", _with("audio.speak", voiceName="Kore")),
    ("quality 64k", _with("audio.speak", quality="64k")),
    # audio.annotation.reference
    ("annotation without a source", _with("audio.annotation.reference", sourceAudio=None)),
    ("unknown model", _with("audio.annotation.reference", transcriptionModel="tiny")),
    ("language fr", _with("audio.annotation.reference", language="fr")),
    # ace.step.create
    ("ace without lyrics", _with("ace.step.create", lyrics=None)),
    ("ace 10 seconds", _with("ace.step.create", durationSeconds=10)),
    ("ace bpm 300", _with("ace.step.create", bpm=300)),
    ("ace key H major", _with("ace.step.create", keyScale="H major")),
    ("ace time signature 9", _with("ace.step.create", timeSignature="9")),
    # moss.sound.effect
    ("moss 31 seconds", _with("moss.sound.effect", durationSeconds=31)),
    ("moss topK 0", _with("moss.sound.effect", topK=0)),
    ("moss without prompt", _with("moss.sound.effect", prompt=None)),
    # trellis.generate
    ("trellis without a source", _with("trellis.generate", sourceImage=None)),
    ("trellis bare string source", _with("trellis.generate", sourceImage=URL)),
    ("texture 1536 without 2048", _with("trellis.generate", textureResolution=1536)),
    ("unknown preset", _with("trellis.generate", qualityPreset="ultra")),
    ("faces under 1000", _with("trellis.generate", targetFaceCount=999)),
]


@pytest.fixture(scope="module")
def funded(stack) -> tuple[str, str]:
    return media_account(micros=50_000_000)


def _assert_nothing_billed(account_id: str) -> None:
    money = ledger.balance(account_id)
    assert (money.available_micros, money.held_micros) == (50_000_000, 0)
    jobs = db().collection(JOBS).where(filter=FieldFilter("account_id", "==", account_id))
    assert list(jobs.limit(1).stream()) == []


@pytest.mark.parametrize(("case", "body"), INVALID, ids=[c for c, _ in INVALID])
def test_invalid_request_is_400_and_bills_nothing(stack, funded, case, body) -> None:
    account_id, key = funded
    response = submit(stack, key, body)
    assert response.status_code == 400, (case, response.text)
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["message"], error
    _assert_nothing_billed(account_id)


def test_every_task_has_an_invalid_case() -> None:
    from shared.media.jobs.request import TASKS

    covered = {body["task"] for _, body in INVALID if isinstance(body, dict) and "task" in body}
    assert set(TASKS) <= covered


def test_the_valid_base_bodies_parse(stack) -> None:
    """The table's bodies differ from a valid request only by the named fault."""
    from shared.media.jobs.request import parse_request

    for task in BASE:
        assert parse_request(_with(task)).task == task


def test_inputs_are_checked_by_content_not_by_their_declared_type(stack, funded) -> None:
    account_id, key = funded
    not_png = inline(b"<html>not an image</html>", "image/png")
    response = submit(stack, key, _with("image.edit", sourceImage=not_png))
    assert response.status_code == 400
    assert "sourceImage" in response.json()["error"]["message"]
    with file_host() as host:
        fake_video = host.put(png(), "video/mp4")
        resize = _with("video.resize", sourceVideoUrl=fake_video)
        assert submit(stack, key, resize).status_code == 400
        image_as_audio = _with("audio.annotation.reference", sourceAudio=inline(png(), "audio/wav"))
        assert submit(stack, key, image_as_audio).status_code == 400
        silent = host.put(mp4(audio=False), "video/mp4")
        no_audio = _with("audio.annotation.reference", sourceAudio={"url": silent})
        assert submit(stack, key, no_audio).status_code == 400
        missing = _with("video.resize", sourceVideoUrl=host.put(b"", "video/mp4") + "-gone")
        answer = submit(stack, key, missing)
        assert answer.status_code == 400 and "404" in answer.json()["error"]["message"]
    _assert_nothing_billed(account_id)


def test_an_oversized_url_input_is_413_and_bills_nothing(stack, funded) -> None:
    account_id, key = funded
    with file_host() as host:
        big = host.put(png() + b"\0" * (25 << 20), "image/png")
        response = submit(stack, key, _with("trellis.generate", sourceImage={"url": big}))
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    _assert_nothing_billed(account_id)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata: never, even locally
        "http://[::ffff:169.254.169.254]/hook",
        "http://0.0.0.0/hook",
        "https://user:pw@example.com/hook",
    ],
)
def test_a_callback_url_the_guard_refuses_is_400(stack, funded, url) -> None:
    account_id, key = funded
    response = submit(stack, key, {**_with("image.generate"), "completionCallbackUrl": url})
    assert response.status_code == 400, response.text
    assert "completionCallbackUrl" in response.json()["error"]["message"]
    _assert_nothing_billed(account_id)


def test_an_input_url_the_guard_refuses_is_400(stack, funded) -> None:
    account_id, key = funded
    body = _with(
        "trellis.generate", sourceImageUrl="http://169.254.169.254/a.png", sourceImage=None
    )
    response = submit(stack, key, body)
    assert response.status_code == 400, response.text
    _assert_nothing_billed(account_id)


def test_without_a_key_it_is_401(stack) -> None:
    import httpx

    from tests.helpers import media_api

    response = httpx.post(f"{media_api(stack)}/media/jobs", json=_with("image.generate"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
