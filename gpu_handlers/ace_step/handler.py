"""`ace-step` handler: `ace.step.create` (tags + lyrics -> a song) on diffusers' `AceStepPipeline`
(ACE-Step 1.5), encoded to Ogg Opus at the job's `quality`.

Invariants:
- Production loads PRODUCTION_REPO; tests load the tiny random build of the SAME classes
  (tiny.py) from `$RELAY_MODEL_DIR/ace-step` with local_files_only (diffusion.resolve_source:
  one copy of that rule). Nothing downloads at run time when RELAY_MODEL_DIR is set.
- The output is exactly `durationSeconds` long (60 when omitted; the gateway fills 108 for
  high_quality): the pipeline's waveform is cut or zero-padded to round(seconds * rate)
  samples before encoding, so the Opus file's duration is the billed one.
- `tags` is the pipeline's prompt, `lyrics` its lyrics; bpm/keyScale/timeSignature go to the
  pipeline's metadata arguments; `steps` -> num_inference_steps, `samplerCfg` ->
  guidance_scale (turbo checkpoints ignore CFG, as the pipeline decides), `seed` -> the
  generator. temperature/topP/topK/minP/textCfgScale steer ACE-Step's optional 5 Hz LM
  planner, which the diffusers pipeline does not run: accepted, echoed in meta.unusedKnobs.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from gpu_handlers import media_io
from gpu_handlers.errors import MediaInputError
from shared.schemas.media import DEFAULT_OPUS_QUALITY, OPUS_BITRATES

HANDLER_ID = "ace-step"
PRODUCTION_REPO = "ACE-Step/acestep-v15-xl-turbo-diffusers"  # diffusers-format ACE-Step 1.5
DEFAULT_SECONDS = 60
DEFAULT_STEPS = 8  # the turbo checkpoints' step count
LM_KNOBS = ("temperature", "topP", "topK", "minP", "textCfgScale")

_LOCK = threading.Lock()
_PIPE: dict[str, Any] = {}


def load_pipeline(model_dir: str | os.PathLike[str] | None = None) -> Any:
    """Load AceStepPipeline once per process (tiny build under RELAY_MODEL_DIR)."""
    from diffusers import AceStepPipeline

    from gpu_handlers import diffusion

    source = diffusion.weights_source(HANDLER_ID, PRODUCTION_REPO, model_dir)
    with _LOCK:
        if source not in _PIPE:
            device = diffusion.default_device()
            pipe = AceStepPipeline.from_pretrained(
                source, dtype=diffusion.dtype_for(device), local_files_only=Path(source).is_dir()
            )
            pipe.to(device)
            pipe.set_progress_bar_config(disable=True)
            _PIPE[source] = pipe
        return _PIPE[source]


def _number(inp: dict[str, Any], key: str, kind: type, default: Any = None) -> Any:
    value = inp.get(key, default)
    if value is None:
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise MediaInputError(f"input.{key} must be a number") from None


def _text(inp: dict[str, Any], key: str) -> str:
    value = inp.get(key)
    if not isinstance(value, str) or not value.strip():
        raise MediaInputError(f"input.{key} is required")
    return value


def generate(payload: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    job = media_io.parse(payload, HANDLER_ID)
    inp = job.input
    tags, lyrics = _text(inp, "tags"), _text(inp, "lyrics")
    seconds = _number(inp, "durationSeconds", int, DEFAULT_SECONDS)
    if not 15 <= seconds <= 240:
        raise MediaInputError("input.durationSeconds must be 15..240")
    quality = inp.get("quality") or DEFAULT_OPUS_QUALITY
    if quality not in OPUS_BITRATES:
        raise MediaInputError(f"input.quality must be one of {sorted(OPUS_BITRATES)}")

    import torch

    pipe = load_pipeline()
    seed = _number(inp, "seed", int)
    generator = torch.Generator("cpu").manual_seed(seed) if seed is not None else None
    kwargs: dict[str, Any] = {
        "prompt": tags,
        "lyrics": lyrics,
        "audio_duration": float(seconds),
        "vocal_language": inp.get("language") or "en",
        "num_inference_steps": _number(inp, "steps", int, DEFAULT_STEPS),
        "bpm": _number(inp, "bpm", int),
        "keyscale": inp.get("keyScale"),
        "timesignature": inp.get("timeSignature"),
        "generator": generator,
        "output_type": "pt",
    }
    cfg = _number(inp, "samplerCfg", float)
    if cfg is not None:
        kwargs["guidance_scale"] = cfg
    with _LOCK, torch.inference_mode():
        audio = pipe(**kwargs).audios[0]  # [channels, samples]
    rate = int(pipe.sample_rate)
    samples = _exact_length(audio.float().cpu().numpy().T, round(seconds * rate))
    with media_io.workdir() as tmp:
        out = tmp / "song.ogg"
        meta = media_io.write_audio(
            samples, rate, out, content_type="audio/ogg", bitrate=OPUS_BITRATES[quality]
        )
        meta["quality"] = quality
        unused = [k for k in LM_KNOBS if inp.get(k) is not None]
        if unused:
            meta["unusedKnobs"] = unused
        return media_io.deliver(job, out, meta, started=started)


def _exact_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad [n, channels] samples to exactly `length` frames."""
    if samples.shape[0] >= length:
        return samples[:length]
    pad = np.zeros((length - samples.shape[0], samples.shape[1]), dtype=samples.dtype)
    return np.concatenate([samples, pad])
