"""`image.generate` and `image.edit` inputs.

- `prompt` 1..4000 characters. `outputFormat` webp | png | jpg (dot-prefixed accepted),
  default webp. `highDetail` default false: +50 % inference steps and +50 % price.
- `image.generate`: optional `aspectRatio`; optional `width` + `height` (together, >= 32,
  multiples of 32, at most 4 MP); `upscale` default false (a built-in 1.5x upscale).
- `image.edit`: a source image is required (`sourceImageUrl` or `sourceImage`, folded into
  `sourceImage`).
- Reference images: at most 5, as `referenceImages` (URL strings or inline objects) or the
  URL-only legacy `referenceImageUrls` (folded into `referenceImages`); not both.
- The output canvas when no width/height is given follows `aspectRatio` (default 1:1) through
  DEFAULT_CANVAS; an upscale multiplies each side by 3/2. The edit output follows its source
  (unknown before staging).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, field_validator, model_validator

from shared.media.jobs import formats
from shared.media.jobs.assets import ImageInput, ImageUrl, InputModel

AspectRatio = Literal["1:1", "16:9", "9:16", "9:7", "7:9"]
Prompt = Annotated[str, Field(min_length=1, max_length=4000)]
Side = Annotated[int, Field(ge=formats.CANVAS_MIN, multiple_of=formats.CANVAS_MULTIPLE)]
MAX_REFERENCE_IMAGES: Final = 5
DEFAULT_ASPECT_RATIO: Final = "1:1"
# About one megapixel at each aspect ratio, sides multiples of 32.
DEFAULT_CANVAS: Final[dict[str, tuple[int, int]]] = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "9:7": (1152, 896),
    "7:9": (896, 1152),
}


class _ImageInput(InputModel):
    prompt: Prompt
    output_format: str = formats.DEFAULT_IMAGE_OUTPUT_FORMAT
    high_detail: bool = False
    reference_images: Annotated[list[ImageInput], Field(max_length=MAX_REFERENCE_IMAGES)] | None = (
        None
    )
    reference_image_urls: Annotated[
        Annotated[list[ImageUrl], Field(max_length=MAX_REFERENCE_IMAGES)] | None,
        Field(exclude=True),
    ] = None

    @field_validator("output_format", mode="plain")
    @classmethod
    def _format(cls, value: object) -> str:
        return formats.output_format(value)[0]

    @model_validator(mode="wrap")
    @classmethod
    def _record_format(cls, data: object, handler):  # type: ignore[no-untyped-def]
        model = handler(data)
        requested = data.get("outputFormat") if isinstance(data, dict) else None
        if isinstance(requested, str) and requested != model.output_format:
            model.adjust("outputFormat", requested, model.output_format, "dot-prefixed format")
        return model

    @model_validator(mode="after")
    def _fold_references(self) -> _ImageInput:
        self.fold("reference_images", "reference_image_urls")
        return self


class ImageGenerateInput(_ImageInput):
    aspect_ratio: AspectRatio | None = None
    upscale: bool = False
    width: Side | None = None
    height: Side | None = None

    @model_validator(mode="after")
    def _canvas(self) -> ImageGenerateInput:
        formats.check_canvas(self.width, self.height, max_pixels=formats.IMAGE_MAX_PIXELS)
        return self

    def output_size(self) -> tuple[int, int]:
        """The delivered canvas (after any upscale)."""
        if self.width is not None and self.height is not None:
            width, height = self.width, self.height
        else:
            width, height = DEFAULT_CANVAS[self.aspect_ratio or DEFAULT_ASPECT_RATIO]
        if self.upscale:
            return width * 3 // 2, height * 3 // 2
        return width, height


class ImageEditInput(_ImageInput):
    source_image: ImageInput | None = None
    source_image_url: Annotated[ImageUrl | None, Field(exclude=True)] = None

    @model_validator(mode="after")
    def _source(self) -> ImageEditInput:
        self.fold("source_image", "source_image_url")
        if self.source_image is None:
            raise ValueError("input.sourceImageUrl or input.sourceImage is required")
        return self
