"""Serverless runtimes that host the image handlers.

- `runpod_worker`: RunPod serverless entry point, one model per worker process
  (`python -m gpu_handlers.runtimes.runpod_worker --model z-image-turbo`).
- `modal_app`: the `relay-images` Modal app, one GPU class per model, plus
  `run_local(model_id, payload)` which runs the same class body in-process, offline.

Both load the pipeline once when the container starts and call the model's pure
`generate(payload)` per request; neither adds behaviour of its own, so a payload gives
the same image through either runtime.
"""
