"""Input/output schema of this handler: re-exported from `shared.schemas.images`.

There is one copy of the schema; submit-side validation and this handler import the
same classes, so what was validated and priced at submit is exactly what runs here.
"""

from shared.schemas.images import ImageGenerationInput, ImageGenerationOutput, ImageModel

__all__ = ["ImageGenerationInput", "ImageGenerationOutput", "ImageModel"]
