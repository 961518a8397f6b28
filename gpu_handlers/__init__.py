"""Relay GPU handlers: the code that runs on RunPod/Modal GPU workers.

Layout:
- `diffusion`: the one implementation of loading a diffusers text-to-image pipeline and
  turning an `ImageGenerationInput` payload into an `ImageGenerationOutput` dict.
- `z_image_turbo/`, `flux_schnell/`: one thin folder per base model (`handler.py` binds the
  model's spec; `schema.py` re-exports the shared schema; `test_input.json`; `WEIGHTS.md`).
- `registry`: model id -> handler module.
- `runtimes/`: the RunPod worker and the Modal app that host the handlers.
- `tiny_models`: tiny random pipelines of the same classes, for offline CPU tests
  (`python -m gpu_handlers.tiny_models --out .local/models`).

Invariants: the input schema lives only in `shared.schemas.images`; every handler's
`generate(payload)` is a pure function of the payload and the loaded weights; weights load
once per process, never per request; with `RELAY_MODEL_DIR` set nothing is downloaded.
"""
