"""Z-Image-Turbo text-to-image handler (`ZImagePipeline`, Tongyi-MAI/Z-Image-Turbo).

Public API lives in `handler`: `load_pipeline(model_dir=None)` and `generate(payload)`.
"""
