"""RunPod serverless worker for one handler (an image model or a media handler).

Usage (container CMD; the model can also come from `$RELAY_HANDLER_MODEL`):

    python -m gpu_handlers.runtimes.runpod_worker --model z-image-turbo

Local smoke run (RunPod's own test mode, no RunPod account needed):

    python -m gpu_handlers.runtimes.runpod_worker --model flux-schnell \\
        --test_input "$(cat gpu_handlers/flux_schnell/test_input.json)"

Invariants:
- The pipeline is loaded once, in `main()`, before `runpod.serverless.start`; a request never
  loads weights (and a worker whose weights fail to load dies at start, not per job).
- `--model` is removed from `sys.argv` before RunPod parses it, so RunPod's own flags
  (`--rp_*`, `--test_input`) keep working unchanged.
- Bad input (schema violation, or a payload for another model) returns `{"error": ...}`,
  RunPod's convention for a failed job; any other exception propagates so RunPod records
  it with its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from gpu_handlers.errors import describe_input_error
from gpu_handlers.registry import HANDLER_IDS, get_handler

MODEL_ENV = "RELAY_HANDLER_MODEL"

Job = dict[str, Any]


def make_handler(model_id: str) -> Callable[[Job], dict[str, Any]]:
    """The RunPod handler for `model_id`: `job["input"]` -> output dict or `{"error": ...}`."""
    model_handler = get_handler(model_id)

    def handler(job: Job) -> dict[str, Any]:
        try:
            return model_handler.generate(job.get("input"))  # type: ignore[arg-type]
        except ValueError as exc:  # ValidationError and ModelMismatchError are ValueErrors
            message = describe_input_error(exc)
            if message is None:
                raise  # not the caller's fault: let RunPod report it with its traceback
            return {"error": message}

    return handler


def parse_model_arg(argv: Sequence[str]) -> tuple[str, list[str]]:
    """Split our `--model` out of `argv`; return (model id, argv left for RunPod)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--model", choices=HANDLER_IDS)
    known, rest = parser.parse_known_args(list(argv[1:]))
    model = known.model or os.environ.get(MODEL_ENV)
    if not model:
        raise SystemExit(f"runpod_worker: pass --model or set {MODEL_ENV}")
    return model, [argv[0], *rest]


def main(argv: Sequence[str] | None = None) -> None:
    import runpod  # imported here so tests of make_handler don't need RunPod's start-up

    from gpu_handlers.runtimes import scaler

    model_id, sys.argv = parse_model_arg(sys.argv if argv is None else argv)
    get_handler(model_id).load_pipeline()  # once, before accepting jobs
    scaler.install()  # take the next job as soon as one ends (gpu_handlers/runtimes/scaler.py)
    runpod.serverless.start({"handler": make_handler(model_id)})


if __name__ == "__main__":
    main()
