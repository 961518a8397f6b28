"""The media path of the image handlers (`image.generate`, `image.edit`): one copy of the
rules, used by z-image-turbo and flux-kontext; `gpu_handlers.diffusion` stays the loader.

Invariants:
- The payload is a `MediaHandlerInput` for this handler and one of its tasks
  (`media_io.parse`), its `output.contentType` one of `IMAGE_CONTENT_TYPES`; anything else is
  a `MediaInputError`. `image.generate` with reference images runs only on a handler that
  takes a conditioning image (flux-kontext) and without them only on one that does not
  (z-image-turbo): a routing bug fails the job instead of dropping or inventing references.
- Canvas (`image.generate`): `width` x `height` when given, else `DEFAULT_CANVAS[aspectRatio]`
  (default 1:1). Edit (`image.edit`): the source's size, scaled down to at most
  `MAX_EDIT_PIXELS` (aspect kept) and rounded to multiples of 16.
- The pipeline runs at the canvas rounded up to its multiple (16), scaled down first to the
  spec's `max_pixels` when it has one; the result is resized (Lanczos) to the exact canvas.
  `upscale` then resizes to exactly `w*3//2` x `h*3//2` (Lanczos).
- Steps: the spec's default, `* 3 // 2` with `highDetail` (the +50 % the price carries).
- Seed: `input.seed` when the gateway sends one, else random; always reported in meta.seed.
  The noise comes from a CPU `torch.Generator` (same seed, same noise on every device).
- Conditioning (flux-kontext): the source image (edit) followed by the reference images, in
  order, stitched side by side at a common height into ONE image, scaled to the pixel count
  of the generation canvas (multiples of 16). Kontext takes one conditioning image; this is
  how the Kontext community feeds several.
- Every staged image must be declared `image/*` and decode with Pillow, else
  `MediaInputError`. Calls into one pipeline are serialised by the loader's lock.
- meta: {width, height, steps, seed, upscaled} (+ {references} on flux-kontext).
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from gpu_handlers import diffusion, media_io
from gpu_handlers.errors import MediaInputError
from shared.media.jobs.images import DEFAULT_ASPECT_RATIO, DEFAULT_CANVAS
from shared.schemas.media import IMAGE_CONTENT_TYPES

MAX_EDIT_PIXELS = 1024 * 1024  # edit output cap (Kontext's trained area)
EDIT_MULTIPLE = 16
SEED_LIMIT = 2**32
EXTENSIONS = {"image/webp": "webp", "image/png": "png", "image/jpeg": "jpg"}
LANCZOS = Image.Resampling.LANCZOS


@dataclass(frozen=True)
class MediaImageSpec:
    """What the media path needs to know about one image handler."""

    model: diffusion.ModelSpec  # model_id is the media handler id
    default_steps: int
    conditioned: bool = False  # takes a conditioning image (source / references)
    max_pixels: int | None = None  # generation area cap (then resized to the canvas)


def steps_for(default_steps: int, high_detail: bool) -> int:
    return default_steps * 3 // 2 if high_detail else default_steps


def canvas(inp: dict[str, Any]) -> tuple[int, int]:
    """The generate canvas before any upscale."""
    width, height = inp.get("width"), inp.get("height")
    if width is not None or height is not None:
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            raise MediaInputError("input.width and input.height must be positive, together")
        return width, height
    ratio = inp.get("aspectRatio") or DEFAULT_ASPECT_RATIO
    if ratio not in DEFAULT_CANVAS:
        raise MediaInputError(f"input.aspectRatio {ratio!r} is not one of {sorted(DEFAULT_CANVAS)}")
    return DEFAULT_CANVAS[ratio]


def fit(size: tuple[int, int], max_pixels: int, multiple: int) -> tuple[int, int]:
    """`size` scaled down to at most `max_pixels` (aspect kept), sides multiples of
    `multiple` (nearest when not scaled, floor when scaled so the cap holds)."""
    width, height = size
    scale = min(1.0, math.sqrt(max_pixels / (width * height)))
    snap = round if scale == 1.0 else math.floor
    return (
        max(multiple, int(snap(width * scale / multiple)) * multiple),
        max(multiple, int(snap(height * scale / multiple)) * multiple),
    )


def generation_size(
    size: tuple[int, int], multiple: int, max_pixels: int | None
) -> tuple[int, int]:
    """Where the pipeline runs for an output of `size`."""
    if max_pixels is not None and size[0] * size[1] > max_pixels:
        return fit(size, max_pixels, multiple)
    return diffusion.round_up(size[0], multiple), diffusion.round_up(size[1], multiple)


def stitch(images: list[Image.Image], pixels: int, multiple: int) -> Image.Image:
    """One conditioning image: `images` side by side at the first one's height, scaled to
    about `pixels` pixels with sides multiples of `multiple`."""
    height = images[0].height
    parts = [
        im if im.height == height else im.resize((max(1, im.width * height // im.height), height))
        for im in images
    ]
    sheet = Image.new("RGB", (sum(p.width for p in parts), height))
    x = 0
    for part in parts:
        sheet.paste(part, (x, 0))
        x += part.width
    scale = math.sqrt(pixels / (sheet.width * sheet.height))
    target = (
        max(multiple, round(sheet.width * scale / multiple) * multiple),
        max(multiple, round(sheet.height * scale / multiple) * multiple),
    )
    return sheet.resize(target, LANCZOS)


def _image(value: object, field_name: str, tmp: Path) -> Image.Image:
    file = media_io.media_file(value, field_name)
    if not file.mimeType.startswith("image/"):
        raise MediaInputError(f"input.{field_name} is {file.mimeType}, not an image")
    return media_io.read_image(file, tmp / field_name)  # errors name the field


def _seed(inp: dict[str, Any]) -> int:
    seed = inp.get("seed")
    if seed is None:
        return secrets.randbelow(SEED_LIMIT)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < SEED_LIMIT:
        raise MediaInputError("input.seed must be an integer in [0, 2**32)")
    return seed


def generate(spec: MediaImageSpec, payload: object) -> dict[str, Any]:
    """Run one media image job end to end; returns the `MediaHandlerOutput` dump."""
    import torch

    started = time.monotonic()
    handler_id = str(spec.model.model_id)
    job = media_io.parse(payload, handler_id)
    inp = job.input
    content_type = job.output.contentType
    if content_type not in IMAGE_CONTENT_TYPES.values():
        raise MediaInputError(f"output.contentType {content_type!r} is not an image type")
    prompt = inp.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise MediaInputError("input.prompt is required")
    references = inp.get("referenceImages") or []
    if not isinstance(references, list):
        raise MediaInputError("input.referenceImages must be a list")
    edit = job.task == "image.edit"
    if not edit and bool(references) != spec.conditioned:
        raise MediaInputError(
            f"image.generate {'with' if references else 'without'} reference images does not "
            f"run on {handler_id!r}"
        )
    steps = steps_for(spec.default_steps, bool(inp.get("highDetail", False)))
    upscale = bool(inp.get("upscale", False)) and not edit
    seed = _seed(inp)

    loaded = diffusion.load(spec.model)
    with media_io.workdir() as tmp:
        sources = [_image(inp.get("sourceImage"), "sourceImage", tmp)] if edit else []
        sources += [_image(ref, f"referenceImages[{i}]", tmp) for i, ref in enumerate(references)]
        size = fit(sources[0].size, MAX_EDIT_PIXELS, EDIT_MULTIPLE) if edit else canvas(inp)
        gen_w, gen_h = generation_size(size, loaded.multiple, spec.max_pixels)
        kwargs: dict[str, Any] = dict(spec.model.call_kwargs)
        if spec.conditioned:
            # Kontext rescales its canvas to `max_area` and snaps the conditioning image to
            # its preferred sizes unless told not to: both are decided here instead.
            kwargs.update(
                image=stitch(sources, gen_w * gen_h, loaded.multiple),
                max_area=gen_w * gen_h,
                _auto_resize=False,
            )
        generator = torch.Generator(device="cpu").manual_seed(seed)
        with loaded.lock:
            result = loaded.pipe(
                prompt=prompt,
                width=gen_w,
                height=gen_h,
                num_inference_steps=steps,
                generator=generator,
                output_type="pil",
                **kwargs,
            )
        image: Image.Image = result.images[0].convert("RGB")
        if image.size != size:
            image = image.resize(size, LANCZOS)
        if upscale:
            image = image.resize((size[0] * 3 // 2, size[1] * 3 // 2), LANCZOS)
        path = tmp / f"output.{EXTENSIONS[content_type]}"
        path.write_bytes(media_io.encode_image(image, content_type))
        meta: dict[str, Any] = {
            "width": image.width,
            "height": image.height,
            "steps": steps,
            "seed": seed,
            "upscaled": upscale,
        }
        if spec.conditioned:
            meta["references"] = len(references)
        return media_io.deliver(job, path, meta, started=started)
