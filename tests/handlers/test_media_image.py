"""Media image jobs (`image.generate`, `image.edit`) on z-image-turbo and flux-kontext, run on
the tiny offline pipelines against real signed URLs (storage emulator)."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from PIL import Image

from gpu_handlers import diffusion, media_image
from gpu_handlers.errors import MediaInputError
from gpu_handlers.registry import get_handler
from gpu_handlers.runtimes.runpod_worker import make_handler
from shared.schemas.media import IMAGE_CONTENT_TYPES, MediaHandlerOutput

ZIT, KONTEXT = "z-image-turbo", "flux-kontext"
PIL_FORMATS = {"image/webp": "WEBP", "image/png": "PNG", "image/jpeg": "JPEG"}


def png(size: tuple[int, int], color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def job_for(bucket: Any, handler: str, task: str, fmt: str = "png", **inp: Any) -> dict:
    return bucket.payload(
        handler,
        task,
        {"prompt": "a red kite over dunes", "outputFormat": fmt, **inp},
        content_type=IMAGE_CONTENT_TYPES[fmt],
    )


@pytest.fixture
def bucket(media_bucket: Any) -> Any:
    class Bound:
        def payload(self, *args: Any, **kwargs: Any) -> dict:
            job = media_bucket.payload(*args, **kwargs)
            job["_bucket"] = media_bucket
            return job

        stage = staticmethod(media_bucket.stage)

    return Bound()


def strip(job: dict) -> dict:
    return {k: v for k, v in job.items() if k != "_bucket"}


def answer_and_image(job: dict) -> tuple[dict[str, Any], Image.Image, bytes]:
    bucket = job["_bucket"]
    answer = get_handler(job["handler"]).generate(strip(job))
    MediaHandlerOutput.model_validate(answer)
    data = bucket.output(job)
    return answer, Image.open(io.BytesIO(data)), data


@pytest.mark.parametrize("fmt", ["webp", "png", "jpg"])
def test_generate_each_format_exact_size(bucket: Any, fmt: str) -> None:
    job = job_for(bucket, ZIT, "image.generate", fmt, width=96, height=64)
    answer, image, data = answer_and_image(job)
    assert image.format == PIL_FORMATS[IMAGE_CONTENT_TYPES[fmt]]
    assert image.size == (96, 64)
    assert answer["contentType"] == IMAGE_CONTENT_TYPES[fmt]
    assert answer["sizeBytes"] == len(data)
    assert answer["sha256"] == hashlib.sha256(data).hexdigest()
    meta = answer["meta"]
    assert (meta["width"], meta["height"], meta["steps"], meta["upscaled"]) == (96, 64, 8, False)
    assert isinstance(meta["seed"], int)


def test_upscale_is_exactly_one_and_a_half(bucket: Any) -> None:
    job = job_for(bucket, ZIT, "image.generate", "webp", width=64, height=96, upscale=True)
    answer, image, _ = answer_and_image(job)
    assert image.size == (96, 144)
    assert (answer["meta"]["width"], answer["meta"]["height"]) == (96, 144)
    assert answer["meta"]["upscaled"] is True


@pytest.mark.parametrize(("handler", "base"), [(ZIT, 8), (KONTEXT, 28)])
def test_high_detail_runs_half_again_as_many_steps(bucket: Any, handler: str, base: int) -> None:
    calls: list[int] = []  # one transformer forward per denoising step (no CFG on either)
    spec = get_handler(handler).SPEC  # type: ignore[attr-defined]
    transformer = diffusion.load(spec).pipe.transformer
    hook = transformer.register_forward_hook(lambda *_: calls.append(1))
    extra: dict[str, Any] = {}
    if handler == KONTEXT:
        extra["referenceImages"] = [bucket.stage(png((64, 64)), "image/png")]
    steps = []
    for high in (False, True):
        calls.clear()
        job = job_for(bucket, handler, "image.generate", width=64, height=64, highDetail=high)
        job["input"].update(extra)
        answer, _, _ = answer_and_image(job)
        steps.append((answer["meta"]["steps"], len(calls)))
    hook.remove()
    assert steps == [(base, base), (base * 3 // 2, base * 3 // 2)]


def test_given_seed_is_reproducible_and_reported(bucket: Any) -> None:
    outs = []
    for _ in range(2):
        job = job_for(bucket, ZIT, "image.generate", width=64, height=64, seed=1234)
        answer, _, data = answer_and_image(job)
        assert answer["meta"]["seed"] == 1234
        outs.append(data)
    assert outs[0] == outs[1]


def test_edit_keeps_source_size_and_aspect(bucket: Any) -> None:
    job = job_for(bucket, KONTEXT, "image.edit", "jpg")
    job["input"]["sourceImage"] = bucket.stage(png((112, 64)), "image/png")
    answer, image, _ = answer_and_image(job)
    assert image.format == "JPEG" and image.size == (112, 64)
    assert answer["meta"]["steps"] == 28 and answer["meta"]["references"] == 0


def test_edit_with_references(bucket: Any) -> None:
    job = job_for(bucket, KONTEXT, "image.edit", "webp")
    job["input"]["sourceImage"] = bucket.stage(png((64, 96)), "image/png")
    job["input"]["referenceImages"] = [
        bucket.stage(png((48, 48), (0, 0, 255)), "image/png"),
        bucket.stage(png((80, 40), (0, 255, 0)), "image/png"),
    ]
    answer, image, _ = answer_and_image(job)
    assert image.format == "WEBP" and image.size == (64, 96)
    assert answer["meta"]["references"] == 2


def test_generate_with_references_routes_through_kontext(bucket: Any) -> None:
    refs = [bucket.stage(png((64, 64)), "image/png")]
    job = job_for(bucket, KONTEXT, "image.generate", "png", width=96, height=64)
    job["input"]["referenceImages"] = refs
    answer, image, _ = answer_and_image(job)
    assert image.size == (96, 64) and answer["meta"]["references"] == 1
    # The same job on z-image-turbo would silently drop the references: refused.
    wrong = job_for(bucket, ZIT, "image.generate", "png", width=96, height=64)
    wrong["input"]["referenceImages"] = refs
    with pytest.raises(MediaInputError, match="reference images"):
        get_handler(ZIT).generate(strip(wrong))
    # And kontext without references is a routing bug too.
    bare = job_for(bucket, KONTEXT, "image.generate", "png", width=64, height=64)
    with pytest.raises(MediaInputError, match="without reference images"):
        get_handler(KONTEXT).generate(strip(bare))


@pytest.mark.parametrize(
    ("handler", "other", "task"),
    [(ZIT, KONTEXT, "image.generate"), (KONTEXT, ZIT, "image.generate"), (ZIT, ZIT, "image.edit")],
)
def test_payload_for_other_handler_or_task_is_refused(
    bucket: Any, handler: str, other: str, task: str
) -> None:
    job = strip(job_for(bucket, other, task, width=64, height=64))
    with pytest.raises(MediaInputError):
        get_handler(handler).generate(job)


@pytest.mark.parametrize(
    ("data", "mime"), [(b"not an image at all", "image/png"), (png((32, 32)), "audio/wav")]
)
def test_staged_input_that_is_not_an_image_is_refused(bucket: Any, data: bytes, mime: str) -> None:
    job = job_for(bucket, KONTEXT, "image.edit")
    job["input"]["sourceImage"] = bucket.stage(data, mime)
    with pytest.raises(MediaInputError, match="sourceImage"):
        get_handler(KONTEXT).generate(strip(job))
    ref = job_for(bucket, KONTEXT, "image.generate", width=64, height=64)
    ref["input"]["referenceImages"] = [bucket.stage(data, mime)]
    with pytest.raises(MediaInputError, match=r"referenceImages\[0\]"):
        get_handler(KONTEXT).generate(strip(ref))


def test_non_image_output_type_is_refused(bucket: Any) -> None:
    job = strip(job_for(bucket, ZIT, "image.generate", width=64, height=64))
    job["output"]["contentType"] = "video/mp4"
    with pytest.raises(MediaInputError, match="contentType"):
        get_handler(ZIT).generate(job)


def test_runpod_loop_answers_like_generate(bucket: Any) -> None:
    job = job_for(bucket, ZIT, "image.generate", "webp", width=64, height=64, seed=5)
    answer = make_handler(ZIT)({"id": "j", "input": strip(job)})
    assert MediaHandlerOutput.model_validate(answer).meta["seed"] == 5
    data = bucket_output(job)
    assert answer["sha256"] == hashlib.sha256(data).hexdigest()
    assert Image.open(io.BytesIO(data)).size == (64, 64)
    refused = make_handler(KONTEXT)({"id": "j", "input": strip(job)})
    assert refused["error"].startswith("invalid input: ")


def bucket_output(job: dict) -> bytes:
    return bytes(job["_bucket"].output(job))


def test_canvas_rules() -> None:
    assert media_image.canvas({}) == (1024, 1024)
    assert media_image.canvas({"aspectRatio": "16:9"}) == (1344, 768)
    assert media_image.canvas({"aspectRatio": "9:16", "width": 320, "height": 640}) == (320, 640)
    with pytest.raises(MediaInputError):
        media_image.canvas({"width": 320})
    with pytest.raises(MediaInputError):
        media_image.canvas({"aspectRatio": "3:2"})


def test_edit_size_is_capped_and_snapped() -> None:
    assert media_image.fit((112, 64), 1024 * 1024, 16) == (112, 64)
    assert media_image.fit((100, 70), 1024 * 1024, 16) == (96, 64)
    width, height = media_image.fit((4000, 2000), 1024 * 1024, 16)
    assert width * height <= 1024 * 1024 and width % 16 == height % 16 == 0
    assert abs(width / height - 2.0) < 0.03
    # Kontext generation over its trained area runs at <= 1 MP, then is resized to the canvas.
    assert media_image.generation_size((2048, 2048), 16, 1024 * 1024) == (1024, 1024)
    assert media_image.generation_size((100, 70), 16, None) == (112, 80)


def test_stitch_puts_references_side_by_side() -> None:
    red, blue = Image.new("RGB", (64, 64), (255, 0, 0)), Image.new("RGB", (32, 64), (0, 0, 255))
    sheet = media_image.stitch([red, blue], 96 * 64, 16)
    assert sheet.size == (96, 64)
    assert sheet.getpixel((10, 32))[0] > 200 and sheet.getpixel((90, 32))[2] > 200
