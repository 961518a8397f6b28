"""FLUX.1-schnell text-to-image handler (`FluxPipeline`, black-forest-labs/FLUX.1-schnell).

Public API lives in `handler`: `load_pipeline(model_dir=None)` and `generate(payload)`.
"""
