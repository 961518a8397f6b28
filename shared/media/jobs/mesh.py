"""`trellis.generate` inputs (image to 3D mesh).

- A source image is required: `sourceImageUrl` (a URL) or `sourceImage` (an inline object
  only, `MediaInlineImageSource`; a bare string is refused), folded into `sourceImage`.
- `qualityPreset` performance | balanced | fidelity (balanced when omitted, for pricing).
- Bounds as the document states; `textureResolution` 1536 and `refinerResolution` 1536 each
  require an explicit `textureSize` 2048.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, model_validator

from shared.media.jobs.assets import ImageUrl, InlineImageSource, InputModel
from shared.media.jobs.video import Seed

DEFAULT_PRESET: Final = "balanced"
Steps = Annotated[int, Field(ge=8, le=20)]


class TrellisInput(InputModel):
    source_image: InlineImageSource | None = None
    source_image_url: Annotated[ImageUrl | None, Field(exclude=True)] = None
    quality_preset: Literal["performance", "balanced", "fidelity"] | None = None
    target_face_count: Annotated[int, Field(ge=1000, le=500_000)] | None = None
    texture_size: Literal[512, 1024, 2048] | None = None
    texture_resolution: Literal[512, 1024, 1536] | None = None
    max_views: Annotated[int, Field(ge=2, le=6)] | None = None
    sparse_structure_steps: Steps | None = None
    shape_steps: Steps | None = None
    texture_steps: Steps | None = None
    mesh_resolution: Literal[128, 256, 512, 1024] | None = None
    remove_background: bool | None = None
    padding: Annotated[int, Field(ge=0, le=64)] | None = None
    refiner_resolution: Literal[512, 1024, 1536] | None = None
    refiner_downsampling: Literal[16, 32, 64] | None = None
    remesh_fill_holes: bool | None = None
    remesh_fill_holes_max_perimeter: Annotated[float, Field(ge=0.005, le=0.2)] | None = None
    remesh_remove_floaters: bool | None = None
    remesh_remove_inner_faces: bool | None = None
    mesh_cluster_cone_half_angle_rad: Annotated[float, Field(ge=35, le=85)] | None = None
    postprocess_position_epsilon: Annotated[float, Field(ge=1e-6, le=1e-3)] | None = None
    postprocess_normal_crease_deg: Annotated[float, Field(ge=1, le=180)] | None = None
    seed: Seed | None = None

    @model_validator(mode="after")
    def _rules(self) -> TrellisInput:
        self.fold("source_image", "source_image_url")
        if self.source_image is None:
            raise ValueError("input.sourceImageUrl or input.sourceImage is required")
        for name, field in (
            ("texture_resolution", "textureResolution"),
            ("refiner_resolution", "refinerResolution"),
        ):
            if getattr(self, name) == 1536 and self.texture_size != 2048:
                raise ValueError(f"input.{field} 1536 requires input.textureSize 2048")
        return self

    def preset(self) -> str:
        return self.quality_preset or DEFAULT_PRESET
