"""FLUX.1 Kontext image-edit handler (`FluxKontextPipeline`,
black-forest-labs/FLUX.1-Kontext-dev): `image.edit`, and `image.generate` with reference images.

Public API lives in `handler`: `load_pipeline(model_dir=None)` and `generate(payload)`;
`tiny.save(out_dir, seed)` builds the offline test model.
"""
