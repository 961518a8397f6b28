"""MediaJobRequest parsing: ten tasks, defaults, aliases, normalisations, and every refusal
the document implies (INVALID with a message that names the field)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.engine.errors import AppError, ErrorKind
from shared.media.jobs.request import parse_request
from shared.media.jobs.video import ltx_frames_for_seconds

URL = "https://cdn.example.com/a.webp"
AUDIO = "https://cdn.example.com/a.wav"
CLIP = "https://cdn.example.com/a.mp4"
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nxxxx").decode()


def _req(task: str, **body: Any) -> dict[str, Any]:
    return {"task": task, "input": body}


def _invalid(data: Any, needle: str) -> str:
    with pytest.raises(AppError) as caught:
        parse_request(data)
    assert caught.value.kind is ErrorKind.INVALID
    assert needle in caught.value.message, caught.value.message
    return caught.value.message


MINIMAL: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        _req("image.generate", prompt="a cat"),
        {"prompt": "a cat", "outputFormat": "webp", "highDetail": False, "upscale": False},
    ),
    (
        _req("image.edit", prompt="hat", sourceImageUrl=URL),
        {"prompt": "hat", "outputFormat": "webp", "highDetail": False, "sourceImage": URL},
    ),
    (
        _req("video.generate", prompt="waves"),
        {
            "prompt": "waves",
            "sampledFps": 30,
            "interpolationFps": 60,
            "extremeQuality": False,
        },
    ),
    (
        _req("video.combine", videoUrls=[CLIP, CLIP]),
        {"videoUrls": [CLIP, CLIP], "overlapFrames": 1, "frameRate": 60},
    ),
    (
        _req("video.resize", sourceVideoUrl=CLIP, width=1920, height=1080),
        {"sourceVideoUrl": CLIP, "width": 1920, "height": 1080, "frameRate": 60},
    ),
    (
        _req("audio.speak", text="hello"),
        {"text": "hello", "provider": "omnivoice", "mode": "voice_design"},
    ),
    (
        _req("audio.annotation.reference", sourceAudioUrl=AUDIO),
        {"sourceAudio": AUDIO, "transcriptionModel": "large-v3"},
    ),
    (_req("ace.step.create", tags="pop", lyrics="la la"), {"tags": "pop", "lyrics": "la la"}),
    (_req("moss.sound.effect", prompt="door slam"), {"prompt": "door slam"}),
    (_req("trellis.generate", sourceImageUrl=URL), {"sourceImage": URL}),
]


@pytest.mark.parametrize(("data", "effective"), MINIMAL, ids=[d["task"] for d, _ in MINIMAL])
def test_each_task_minimal_request_and_its_defaults(
    data: dict[str, Any], effective: dict[str, Any]
) -> None:
    request = parse_request(data)
    assert request.task == data["task"]
    assert request.effective_input() == effective
    assert request.idempotency_key is None and request.completion_callback_url is None


def test_top_level_optional_fields() -> None:
    request = parse_request(
        {**_req("moss.sound.effect", prompt="x"), "idempotencyKey": "k1",
         "completionCallbackUrl": "https://hooks.example.com/done"}
    )  # fmt: skip
    assert request.idempotency_key == "k1"
    assert request.completion_callback_url == "https://hooks.example.com/done"


INVALID: list[tuple[Any, str]] = [
    # the envelope
    ([], "body"),
    ({"input": {}}, "task"),
    ({"task": "image.upscale", "input": {}}, "task"),
    ({"task": 3, "input": {}}, "task"),
    ({"task": "image.generate"}, "input"),
    ({"task": "image.generate", "input": "x"}, "input"),
    ({**_req("image.generate", prompt="x"), "extra": 1}, "extra"),
    ({**_req("image.generate", prompt="x"), "idempotencyKey": ""}, "idempotencyKey"),
    ({**_req("image.generate", prompt="x"), "idempotencyKey": "k" * 201}, "idempotencyKey"),
    ({**_req("image.generate", prompt="x"), "completionCallbackUrl": "ftp://a/b"},
     "completionCallbackUrl"),
    ({**_req("image.generate", prompt="x"), "completionCallbackUrl": "/relative"},
     "completionCallbackUrl"),
    # image.generate
    (_req("image.generate"), "input.prompt"),
    (_req("image.generate", prompt=""), "input.prompt"),
    (_req("image.generate", prompt="x" * 4001), "input.prompt"),
    (_req("image.generate", prompt="x", bogus=1), "input.bogus"),
    (_req("image.generate", prompt="x", aspectRatio="4:3"), "input.aspectRatio"),
    (_req("image.generate", prompt="x", outputFormat="jpeg"), "input.outputFormat"),
    (_req("image.generate", prompt="x", outputFormat="PNG"), "input.outputFormat"),
    (_req("image.generate", prompt="x", outputFormat="..png"), "input.outputFormat"),
    (_req("image.generate", prompt="x", highDetail="true"), "input.highDetail"),
    (_req("image.generate", prompt="x", upscale=1), "input.upscale"),
    (_req("image.generate", prompt="x", width=512), "width and height"),
    (_req("image.generate", prompt="x", height=512), "width and height"),
    (_req("image.generate", prompt="x", width=500, height=512), "input.width"),
    (_req("image.generate", prompt="x", width=512, height=16), "input.height"),
    (_req("image.generate", prompt="x", width=512.0, height=512), "input.width"),
    (_req("image.generate", prompt="x", width=2080, height=2048), "4 MP"),
    (_req("image.generate", prompt="x", referenceImageUrls=[URL] * 6), "input.referenceImageUrls"),
    (_req("image.generate", prompt="x", referenceImages=[URL] * 6), "input.referenceImages"),
    (_req("image.generate", prompt="x", referenceImageUrls=[{"url": URL}]),
     "input.referenceImageUrls[0]"),
    (_req("image.generate", prompt="x", referenceImages=[URL], referenceImageUrls=[URL]),
     "input.referenceImages and input.referenceImageUrls"),
    (_req("image.generate", prompt="x", referenceImages=["not a url"]), "input.referenceImages[0]"),
    (_req("image.generate", prompt="x", referenceImages=["javascript:alert(1)"]),
     "input.referenceImages[0]"),
    (_req("image.generate", prompt="x", referenceImages=[{}]), "input.referenceImages[0]"),
    (_req("image.generate", prompt="x", referenceImages=[{"url": URL, "dataBase64": PNG_B64}]),
     "exactly one"),
    (_req("image.generate", prompt="x", referenceImages=[{"url": URL, "other": 1}]), "other"),
    (_req("image.generate", prompt="x", referenceImages=[{"dataBase64": "!!!!"}]), "base64"),
    (_req("image.generate", prompt="x", referenceImages=[{"dataBase64": "abc"}]), "base64"),
    (_req("image.generate", prompt="x", referenceImages=[{"dataBase64": ""}]), "empty"),
    (_req("image.generate", prompt="x",
          referenceImages=[{"dataBase64": PNG_B64, "mimeType": "image/gif"}]), "mimeType"),
    (_req("image.generate", prompt="x",
          referenceImages=[{"dataBase64": f"data:image/gif;base64,{PNG_B64}"}]), "image/gif"),
    (_req("image.generate", prompt="x",
          referenceImages=[{"dataBase64": f"data:image/png,{PNG_B64}"}]), "data URI"),
    (_req("image.generate", prompt="x", referenceImages=[
        {"dataBase64": f"data:image/png;base64,{PNG_B64}", "mimeType": "image/webp"}]),
     "disagrees"),
    # image.edit
    (_req("image.edit", prompt="x"), "input.sourceImageUrl or input.sourceImage"),
    (_req("image.edit", sourceImageUrl=URL), "input.prompt"),
    (_req("image.edit", prompt="x", sourceImageUrl=URL, sourceImage=URL),
     "input.sourceImage and input.sourceImageUrl"),
    (_req("image.edit", prompt="x", sourceImageUrl={"url": URL}), "input.sourceImageUrl"),
    (_req("image.edit", prompt="x", sourceImage=URL, width=512, height=512), "input.width"),
    (_req("image.edit", prompt="x", sourceImage=URL, upscale=True), "input.upscale"),
    # video.generate
    (_req("video.generate"), "input.prompt"),
    (_req("video.generate", prompt="x", durationFrames=250), "8n + 1"),
    (_req("video.generate", prompt="x", durationFrames=8), "input.durationFrames"),
    (_req("video.generate", prompt="x", durationFrames=265), "input.durationFrames"),
    (_req("video.generate", prompt="x", durationSeconds=9), "LTX budget"),
    (_req("video.generate", prompt="x", durationSeconds=11, sampledFps=24), "LTX budget"),
    (_req("video.generate", prompt="x", durationSeconds=2), "input.durationSeconds"),
    (_req("video.generate", prompt="x", durationSeconds=21, sampledFps=1), "input.durationSeconds"),
    (_req("video.generate", prompt="x", sampledFps=0), "input.sampledFps"),
    (_req("video.generate", prompt="x", sampledFps=51), "input.sampledFps"),
    (_req("video.generate", prompt="x", interpolationFps=29), "input.interpolationFps"),
    (_req("video.generate", prompt="x", interpolationFps=61), "input.interpolationFps"),
    (_req("video.generate", prompt="x", interpolationFps=-1), "input.interpolationFps"),
    (_req("video.generate", prompt="x", interpolationFps=True), "input.interpolationFps"),
    (_req("video.generate", prompt="x", width=1280), "width and height"),
    (_req("video.generate", prompt="x", width=1280, height=700), "input.height"),
    (_req("video.generate", prompt="x", seed=0), "input.seed"),
    (_req("video.generate", prompt="x", seed=2**31), "input.seed"),
    (_req("video.generate", prompt="x", extremeQuality="yes"), "input.extremeQuality"),
    (_req("video.generate", prompt="x", referenceAudioUrl=AUDIO), "input.referenceAudio needs"),
    (_req("video.generate", prompt="x", referenceAudio=AUDIO, finalFrameImageUrl=URL),
     "input.referenceAudio needs"),
    (_req("video.generate", prompt="x", startFrameImageUrl=URL, sourceImage=URL),
     "input.startFrameImageUrl and input.sourceImage"),
    (_req("video.generate", prompt="x", sourceImage=URL, sourceImageUrl=URL),
     "input.sourceImage and input.sourceImageUrl"),
    (_req("video.generate", prompt="x", overlapFrameImageUrls=[URL] * 13),
     "input.overlapFrameImageUrls"),
    (_req("video.generate", prompt="x", overlapFrameImages=[URL], overlapFrameImageUrls=[URL]),
     "input.overlapFrameImages and input.overlapFrameImageUrls"),
    (_req("video.generate", prompt="x", finalFrameImage=URL, finalFrameImageUrl=URL),
     "input.finalFrameImage and"),
    (_req("video.generate", prompt="x", startFrameImage=URL,
          referenceAudio={"dataBase64": PNG_B64, "mimeType": "image/png"}),
     "input.referenceAudio"),
    # video.combine
    (_req("video.combine", videoUrls=[CLIP]), "input.videoUrls"),
    (_req("video.combine", videoUrls=[CLIP] * 25), "input.videoUrls"),
    (_req("video.combine"), "input.videoUrls"),
    (_req("video.combine", videoUrls=[CLIP, "file:///etc/passwd"]), "input.videoUrls[1]"),
    (_req("video.combine", videoUrls=[CLIP, CLIP], overlapFrames=121), "input.overlapFrames"),
    (_req("video.combine", videoUrls=[CLIP, CLIP], overlapFrames=-1), "input.overlapFrames"),
    (_req("video.combine", videoUrls=[CLIP, CLIP], frameRate=0), "input.frameRate"),
    (_req("video.combine", videoUrls=[CLIP, CLIP], frameRate=121), "input.frameRate"),
    # video.resize
    (_req("video.resize", width=2, height=2), "input.sourceVideoUrl"),
    (_req("video.resize", sourceVideoUrl=CLIP, width=640), "input.height"),
    (_req("video.resize", sourceVideoUrl=CLIP, width=641, height=480), "input.width"),
    (_req("video.resize", sourceVideoUrl=CLIP, width=640, height=7682), "input.height"),
    (_req("video.resize", sourceVideoUrl=CLIP, width=0, height=480), "input.width"),
    (_req("video.resize", sourceVideoUrl=CLIP, width=640, height=480, sourceDurationSeconds=0.05),
     "input.sourceDurationSeconds"),
    (_req("video.resize", sourceVideoUrl=CLIP, width=640, height=480, sourceDurationSeconds=601),
     "input.sourceDurationSeconds"),
    (_req("video.resize", sourceVideoUrl=CLIP, width=640, height=480,
          sourceDurationSeconds=float("nan")), "input.sourceDurationSeconds"),
    (_req("video.resize", sourceVideoUrl={"url": CLIP}, width=640, height=480),
     "input.sourceVideoUrl"),
    # audio.speak
    (_req("audio.speak"), "input.text"),
    (_req("audio.speak", text="x" * 6001), "input.text"),
    (_req("audio.speak", text="x", provider="eleven"), "input.provider"),
    (_req("audio.speak", text="x", mode="voice_clone"), "input.mode voice_clone needs"),
    (_req("audio.speak", text="x", referenceAudioUrl=AUDIO), "needs input.mode voice_clone"),
    (_req("audio.speak", text="x", referenceTranscript="hi"), "input.referenceTranscript"),
    (_req("audio.speak", text="x", mode="voice_clone", referenceAudio=AUDIO,
          referenceAudioUrl=AUDIO), "input.referenceAudio and input.referenceAudioUrl"),
    (_req("audio.speak", text="x", provider="gemini", mode="voice_clone"), "gemini"),
    (_req("audio.speak", text="x", provider="gemini", seed=3), "input.seed"),
    (_req("audio.speak", text="x", provider="gemini", voiceDescription="female"),
     "input.voiceDescription"),
    (_req("audio.speak", text="x", provider="gemini", referenceAudioUrl=AUDIO),
     "input.referenceAudio"),
    (_req("audio.speak", text="x", voiceName="Kore"), "input.voiceName"),
    (_req("audio.speak", text="x", instructions="calm"), "input.instructions"),
    (_req("audio.speak", text="x", voiceDescription="dragon"), "input.voiceDescription"),
    (_req("audio.speak", text="x", voiceDescription="male,"), "input.voiceDescription"),
    (_req("audio.speak", text="x", voiceDescription="mal"), "input.voiceDescription"),
    (_req("audio.speak", text="x", language="fr"), "input.language"),
    (_req("audio.speak", text="x", quality="320k"), "input.quality"),
    (_req("audio.speak", text="x", provider="gemini", voiceName=""), "input.voiceName"),
    (_req("audio.speak", text="x", mode="voice_clone",
          referenceAudio={"dataBase64": "not base64!", "mimeType": "audio/wav"}),
     "input.referenceAudio"),
    # audio.annotation.reference
    (_req("audio.annotation.reference"), "input.sourceAudioUrl or input.sourceAudio"),
    (_req("audio.annotation.reference", sourceAudioUrl=AUDIO, sourceAudio=AUDIO),
     "input.sourceAudio and input.sourceAudioUrl"),
    (_req("audio.annotation.reference", sourceAudio=AUDIO, transcript=""), "input.transcript"),
    (_req("audio.annotation.reference", sourceAudio=AUDIO, language="English"), "input.language"),
    (_req("audio.annotation.reference", sourceAudio=AUDIO, transcriptionModel="tiny"),
     "input.transcriptionModel"),
    (_req("audio.annotation.reference", sourceAudio=AUDIO, device="tpu"), "input.device"),
    # ace.step.create
    (_req("ace.step.create", tags="pop"), "input.lyrics"),
    (_req("ace.step.create", lyrics="la"), "input.tags"),
    (_req("ace.step.create", tags="p", lyrics="l", durationSeconds=14), "input.durationSeconds"),
    (_req("ace.step.create", tags="p", lyrics="l", durationSeconds=241), "input.durationSeconds"),
    (_req("ace.step.create", tags="p", lyrics="l", bpm=39), "input.bpm"),
    (_req("ace.step.create", tags="p", lyrics="l", steps=33), "input.steps"),
    (_req("ace.step.create", tags="p", lyrics="l", temperature=0.05), "input.temperature"),
    (_req("ace.step.create", tags="p", lyrics="l", minP=0.6), "input.minP"),
    (_req("ace.step.create", tags="p", lyrics="l", topK=201), "input.topK"),
    (_req("ace.step.create", tags="p", lyrics="l", timeSignature=4), "input.timeSignature"),
    (_req("ace.step.create", tags="p", lyrics="l", timeSignature="8"), "input.timeSignature"),
    (_req("ace.step.create", tags="p", lyrics="l", keyScale="H minor"), "input.keyScale"),
    (_req("ace.step.create", tags="p", lyrics="l", keyScale="E Minor"), "input.keyScale"),
    (_req("ace.step.create", tags="p", lyrics="l", qualityPreset="ultra"), "input.qualityPreset"),
    # moss.sound.effect
    (_req("moss.sound.effect"), "input.prompt"),
    (_req("moss.sound.effect", prompt="x", durationSeconds=31), "input.durationSeconds"),
    (_req("moss.sound.effect", prompt="x", topK=0), "input.topK"),
    (_req("moss.sound.effect", prompt="x", repetitionPenalty=0.7), "input.repetitionPenalty"),
    (_req("moss.sound.effect", prompt="x", maxNewTokens=63), "input.maxNewTokens"),
    (_req("moss.sound.effect", prompt="x", temperature=3.5), "input.temperature"),
    # trellis.generate
    (_req("trellis.generate"), "input.sourceImageUrl or input.sourceImage"),
    (_req("trellis.generate", sourceImage=URL), "input.sourceImage"),
    (_req("trellis.generate", sourceImageUrl=URL, textureResolution=1536), "textureSize 2048"),
    (_req("trellis.generate", sourceImageUrl=URL, textureResolution=1536, textureSize=1024),
     "textureSize 2048"),
    (_req("trellis.generate", sourceImageUrl=URL, refinerResolution=1536),
     "input.refinerResolution"),
    (_req("trellis.generate", sourceImageUrl=URL, textureSize=4096), "input.textureSize"),
    (_req("trellis.generate", sourceImageUrl=URL, maxViews=7), "input.maxViews"),
    (_req("trellis.generate", sourceImageUrl=URL, targetFaceCount=999), "input.targetFaceCount"),
    (_req("trellis.generate", sourceImageUrl=URL, postprocessPositionEpsilon=0.01),
     "input.postprocessPositionEpsilon"),
    (_req("trellis.generate", sourceImageUrl=URL, qualityPreset="max"), "input.qualityPreset"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "field"), INVALID)
def test_invalid_requests_name_the_field(data: Any, field: str) -> None:
    _invalid(data, field)


def test_error_message_starts_with_the_path() -> None:
    message = _invalid(_req("image.generate", prompt="x", width=500, height=512), "input.width")
    assert message.startswith("input.width: ")
    assert _invalid(_req("image.generate"), "input.prompt") == "input.prompt: is required"
    assert "not a known field" in _invalid(_req("image.generate", prompt="x", z=1), "input.z")


# -- aliases and normalisations ---------------------------------------------------------------


@pytest.mark.parametrize("alias", ["sourceImage", "sourceImageUrl", "startFrameImageUrl"])
def test_video_start_frame_aliases_fold_into_start_frame_image(alias: str) -> None:
    request = parse_request(_req("video.generate", prompt="x", **{alias: URL}))
    assert request.effective_input()["startFrameImage"] == URL
    assert alias not in request.effective_input()
    [adjustment] = request.input_adjustments
    assert adjustment.model_dump() == {
        "field": f"input.{alias}",
        "requested": alias,
        "effective": "startFrameImage",
        "reason": "alias",
    }
    [staged] = request.inputs()
    assert (staged.slot, staged.kind, staged.media, staged.value) == (
        "startFrameImage",
        "url",
        "image",
        URL,
    )


def test_canonical_spelling_needs_no_adjustment() -> None:
    request = parse_request(_req("video.generate", prompt="x", startFrameImage=URL))
    assert request.input_adjustments == []


@pytest.mark.parametrize(
    ("task", "body", "canonical"),
    [
        ("image.generate", {"prompt": "x", "referenceImageUrls": [URL, URL]}, "referenceImages"),
        ("image.edit", {"prompt": "x", "sourceImageUrl": URL}, "sourceImage"),
        ("video.generate", {"prompt": "x", "overlapFrameImageUrls": [URL]}, "overlapFrameImages"),
        ("video.generate", {"prompt": "x", "finalFrameImageUrl": URL}, "finalFrameImage"),
        ("video.generate", {"prompt": "x", "startFrameImage": URL, "referenceAudioUrl": AUDIO},
         "referenceAudio"),
        ("audio.speak", {"text": "x", "mode": "voice_clone", "referenceAudioUrl": AUDIO},
         "referenceAudio"),
        ("audio.annotation.reference", {"sourceAudioUrl": AUDIO}, "sourceAudio"),
        ("trellis.generate", {"sourceImageUrl": URL}, "sourceImage"),
    ],
)  # fmt: skip
def test_url_fields_fold_into_their_object_fields(
    task: str, body: dict[str, Any], canonical: str
) -> None:
    request = parse_request(_req(task, **body))
    assert canonical in request.effective_input()
    assert any(a.effective == canonical for a in request.input_adjustments)
    assert all(not s.slot.endswith("Url") and "Urls" not in s.slot for s in request.inputs())


@pytest.mark.parametrize(("given", "bare"), [(".webp", "webp"), (".png", "png"), (".jpg", "jpg")])
def test_dot_prefixed_output_formats_are_normalised(given: str, bare: str) -> None:
    request = parse_request(_req("image.generate", prompt="x", outputFormat=given))
    assert request.effective_input()["outputFormat"] == bare
    assert [a.model_dump() for a in request.input_adjustments] == [
        {"field": "input.outputFormat", "requested": given, "effective": bare,
         "reason": "dot-prefixed format"}
    ]  # fmt: skip


def test_bare_output_format_is_not_an_adjustment() -> None:
    request = parse_request(_req("image.edit", prompt="x", sourceImage=URL, outputFormat="png"))
    assert request.input_adjustments == []


@pytest.mark.parametrize(
    "inline",
    [
        {"dataBase64": PNG_B64, "mimeType": "image/jpg"},
        {"dataBase64": f"data:image/jpg;base64,{PNG_B64}"},
        {"dataBase64": f"data:image/jpg;base64,{PNG_B64}", "mimeType": "image/jpeg"},
    ],
)
def test_image_jpg_mime_is_normalised_to_jpeg(inline: dict[str, str]) -> None:
    request = parse_request(_req("image.edit", prompt="x", sourceImage=inline))
    [staged] = request.inputs()
    assert (staged.slot, staged.kind, staged.mime) == ("sourceImage", "inline", "image/jpeg")
    assert staged.value == inline["dataBase64"]
    assert {
        "field": "input.sourceImage.mimeType",
        "requested": "image/jpg",
        "effective": "image/jpeg",
        "reason": "MIME normalised",
    } in [a.model_dump() for a in request.input_adjustments]
    assert request.effective_input()["sourceImage"] == {
        "inline": True,
        "mimeType": "image/jpeg",
        "sizeBytes": 12,
    }


def test_inputs_list_every_media_input_in_order() -> None:
    request = parse_request(
        _req(
            "video.generate",
            prompt="x",
            sourceImage={"url": URL, "mimeType": "image/png"},
            overlapFrameImages=[URL, {"dataBase64": PNG_B64}],
            finalFrameImageUrl=URL,
            referenceAudio={"dataBase64": PNG_B64, "mimeType": "audio/wav"},
        )
    )
    assert [(i.slot, i.media, i.kind, i.mime) for i in request.inputs()] == [
        ("startFrameImage", "image", "url", "image/png"),
        ("overlapFrameImages[0]", "image", "url", None),
        ("overlapFrameImages[1]", "image", "inline", None),
        ("finalFrameImage", "image", "url", None),
        ("referenceAudio", "audio", "inline", "audio/wav"),
    ]


def test_combine_and_resize_list_their_clip_urls() -> None:
    combine = parse_request(_req("video.combine", videoUrls=[CLIP, CLIP + "?b"]))
    assert [(i.slot, i.media, i.kind) for i in combine.inputs()] == [
        ("videoUrls[0]", "video", "url"),
        ("videoUrls[1]", "video", "url"),
    ]
    resize = parse_request(_req("video.resize", sourceVideoUrl=CLIP, width=2, height=2))
    assert [i.slot for i in resize.inputs()] == ["sourceVideoUrl"]


def test_overlap_frames_alone_allow_reference_audio() -> None:
    request = parse_request(
        _req("video.generate", prompt="x", overlapFrameImageUrls=[URL], referenceAudioUrl=AUDIO)
    )
    assert request.effective_input()["referenceAudio"] == AUDIO


# -- the LTX frame rules with concrete numbers --------------------------------------------------


@pytest.mark.parametrize("frames", [9, 17, 25, 121, 249, 257])
def test_ltx_valid_frame_counts(frames: int) -> None:
    request = parse_request(_req("video.generate", prompt="x", durationFrames=frames))
    assert request.input.sampled_frames() == frames


@pytest.mark.parametrize("frames", [10, 16, 24, 120, 250, 256])
def test_ltx_invalid_frame_counts(frames: int) -> None:
    _invalid(_req("video.generate", prompt="x", durationFrames=frames), "input.durationFrames")


@pytest.mark.parametrize(
    ("seconds", "fps", "frames"),
    [(3, 30, 97), (8, 30, 241), (10, 25, 257), (5, 24, 121), (20, 12, 241), (20, 1, 25)],
)
def test_duration_seconds_within_the_budget(seconds: int, fps: int, frames: int) -> None:
    request = parse_request(
        _req("video.generate", prompt="x", durationSeconds=seconds, sampledFps=fps)
    )
    assert request.input.sampled_frames() == frames
    assert request.effective_input()["durationSeconds"] == seconds


@pytest.mark.parametrize(("seconds", "fps"), [(9, 30), (11, 24), (6, 50), (20, 13)])
def test_duration_seconds_over_the_budget(seconds: int, fps: int) -> None:
    _invalid(
        _req("video.generate", prompt="x", durationSeconds=seconds, sampledFps=fps), "LTX budget"
    )


def test_duration_frames_win_over_seconds() -> None:
    request = parse_request(
        _req("video.generate", prompt="x", durationFrames=249, durationSeconds=5)
    )
    assert request.input.sampled_frames() == 249
    assert "durationSeconds" not in request.effective_input()
    assert [a.field for a in request.input_adjustments] == ["input.durationSeconds"]


@pytest.mark.parametrize(
    ("interp", "sampled_fps", "output_frames"), [(60, 30, 242), (0, 30, 121), (30, 30, 121),
                                                 (45, 30, 182)]
)  # fmt: skip
def test_interpolation_values(interp: int, sampled_fps: int, output_frames: int) -> None:
    request = parse_request(
        _req("video.generate", prompt="x", interpolationFps=interp, sampledFps=sampled_fps)
    )
    assert request.input.output_frames() == output_frames


@settings(max_examples=200, deadline=None)
@given(seconds=st.integers(3, 20), fps=st.integers(1, 50))
def test_duration_seconds_accepted_exactly_when_within_the_budget(seconds: int, fps: int) -> None:
    data = _req("video.generate", prompt="x", durationSeconds=seconds, sampledFps=fps)
    if seconds * fps <= 257 and ltx_frames_for_seconds(seconds, fps) <= 257:
        frames = parse_request(data).input.sampled_frames()
        assert frames % 8 == 1 and frames >= seconds * fps and frames - seconds * fps < 8
    else:
        _invalid(data, "LTX budget")


@settings(max_examples=200, deadline=None)
@given(width=st.integers(1, 3000), height=st.integers(1, 3000))
def test_image_canvas_rule(width: int, height: int) -> None:
    data = _req("image.generate", prompt="x", width=width, height=height)
    ok = width % 32 == 0 and height % 32 == 0 and width >= 32 and height >= 32
    ok = ok and width * height <= 4 * 1024 * 1024
    if ok:
        assert parse_request(data).input.output_size() == (width, height)
    else:
        _invalid(data, "input")


@pytest.mark.parametrize(("width", "height"), [(2048, 2048), (4096, 1024), (32, 32)])
def test_image_canvas_at_the_cap(width: int, height: int) -> None:
    parse_request(_req("image.generate", prompt="x", width=width, height=height))


def test_speech_provider_fields() -> None:
    gemini = parse_request(
        _req("audio.speak", text="hi", provider="gemini", voiceName="Puck", instructions="calm")
    )
    assert gemini.effective_input()["voiceName"] == "Puck"
    clone = parse_request(
        _req("audio.speak", text="hi", mode="voice_clone", referenceAudio=AUDIO,
             referenceTranscript="hello", voiceDescription="Female, british accent", seed=7)
    )  # fmt: skip
    assert clone.inputs()[0].slot == "referenceAudio"


def test_trellis_texture_1536_with_2048() -> None:
    parse_request(
        _req("trellis.generate", sourceImage={"dataBase64": PNG_B64, "mimeType": "image/png"},
             textureResolution=1536, refinerResolution=1536, textureSize=2048)
    )  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(payload=st.binary(min_size=1, max_size=64))
def test_any_base64_payload_is_accepted_with_its_size(payload: bytes) -> None:
    data = base64.b64encode(payload).decode()
    request = parse_request(_req("trellis.generate", sourceImage={"dataBase64": data}))
    assert request.effective_input()["sourceImage"]["sizeBytes"] == len(payload)


@settings(max_examples=200, deadline=None)
@given(
    body=st.dictionaries(
        st.text(max_size=8), st.none() | st.integers() | st.text(max_size=8), max_size=4
    ),
    task=st.sampled_from(["image.generate", "video.generate", "audio.speak", "nope"]),
)
def test_arbitrary_bodies_are_parsed_or_invalid(body: dict[str, Any], task: str) -> None:
    try:
        parse_request({"task": task, "input": body})
    except AppError as exc:
        assert exc.kind is ErrorKind.INVALID and exc.message


def test_documented_defaults_are_filled_in() -> None:
    gemini = parse_request(_req("audio.speak", text="hi", provider="gemini"))
    assert gemini.effective_input()["voiceName"] == "Kore"
    anchored = parse_request(
        _req("audio.annotation.reference", sourceAudio=AUDIO, transcript="words")
    )
    assert anchored.effective_input()["transcriptionModel"] == "distil-large-v3"
    hq = parse_request(_req("ace.step.create", tags="t", lyrics="l", qualityPreset="high_quality"))
    assert hq.effective_input()["durationSeconds"] == 108
    assert hq.effective_input()["quality"] == "192k"
    explicit = parse_request(
        _req("ace.step.create", tags="t", lyrics="l", qualityPreset="high_quality",
             durationSeconds=30, quality="96k")
    )  # fmt: skip
    assert explicit.effective_input()["durationSeconds"] == 30
    assert explicit.effective_input()["quality"] == "96k"
    resize = parse_request(
        _req("video.resize", sourceVideoUrl=CLIP, width=2, height=2, sourceDurationSeconds=10)
    )
    assert resize.effective_input()["sourceDurationSeconds"] == 10


def test_speech_reference_audio_takes_any_declared_mime_as_the_document_says() -> None:
    """audio.speak's inline referenceAudio schema takes any `mimeType` string; the video
    task's MediaAudioInput does not."""
    odd = {"dataBase64": PNG_B64, "mimeType": "audio/midi"}
    speech = parse_request(_req("audio.speak", text="x", mode="voice_clone", referenceAudio=odd))
    assert speech.effective_input()["referenceAudio"]["mimeType"] == "audio/midi"
    _invalid(
        _req("video.generate", prompt="p", startFrameImage=URL, referenceAudio=odd),
        "input.referenceAudio",
    )
