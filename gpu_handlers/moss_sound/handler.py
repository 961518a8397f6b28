"""MOSS sound-effect handler: `moss.sound.effect` -> Ogg Opus of exactly the asked length.

Production runs OpenMOSS-Team/MOSS-SoundEffect (MossTTSDelay, `trust_remote_code`) through
the API its model card publishes: `AutoProcessor` / `AutoModel`, a user message built with
`processor.build_user_message(ambient_sound=prompt, tokens=seconds * 12.5)`, then
`model.generate(..., max_new_tokens, audio_temperature, audio_top_p, audio_top_k,
audio_repetition_penalty)` and `processor.decode(...)` to a waveform at the codec's rate.
That code is not on a package registry, so locally the same folder holds a tiny diffusers
`AudioLDM2Pipeline` (gpu_handlers/moss_sound/tiny.py), the closest installable real
text-to-audio pipeline, run behind the same interface.

Invariants:
- Weights load once per process from `$RELAY_MODEL_DIR/moss-sound/` (local_files_only) when
  RELAY_MODEL_DIR is set, else from PRODUCTION_REPO. Which backend runs is decided by what
  the folder holds: a `model_index.json` naming AudioLDM2Pipeline is the stand-in, anything
  else is MOSS.
- `durationSeconds` (default MOSS_DEFAULT_SECONDS) is exact: the waveform is trimmed or
  zero-padded to round(seconds * rate) samples before encoding.
- The output is Ogg Opus at the `quality` bitrate (OPUS_BITRATES, default 128k).
- MOSS's sampling knobs (temperature, topP, topK, repetitionPenalty, maxNewTokens) go to
  MOSS's generate; the stand-in has no token sampler and ignores them.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gpu_handlers import media_io
from gpu_handlers.errors import MediaInputError
from shared.media.jobs.audio import MOSS_DEFAULT_SECONDS
from shared.schemas.media import DEFAULT_OPUS_QUALITY, OPUS_BITRATES

HANDLER_ID = "moss-sound"
TASK = "moss.sound.effect"
PRODUCTION_REPO = "OpenMOSS-Team/MOSS-SoundEffect"
MOSS_TOKENS_PER_SECOND = 12.5
# MOSS-SoundEffect's recommended sampling (model card); the request's knobs override.
MOSS_SAMPLING = {
    "temperature": 1.5,
    "topP": 0.6,
    "topK": 50,
    "repetitionPenalty": 1.2,
    "maxNewTokens": 4096,
}
STAND_IN_STEPS = 4  # AudioLDM2 diffusion steps for the local stand-in
MAX_SECONDS = 30


class Backend(Protocol):
    def render(self, prompt: str, seconds: float, knobs: dict[str, Any]) -> tuple[Any, int]:
        """(float samples [n] or [n, channels], sample rate)."""
        ...


class MossBackend:
    """OpenMOSS-Team/MOSS-SoundEffect through its published transformers remote code."""

    def __init__(self, path: str, local: bool) -> None:
        import torch
        from transformers import AutoModel, AutoProcessor

        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.processor = AutoProcessor.from_pretrained(
            path, trust_remote_code=True, local_files_only=local
        )
        self.processor.audio_tokenizer = self.processor.audio_tokenizer.to(self.device)
        self.model = AutoModel.from_pretrained(
            path, trust_remote_code=True, local_files_only=local, dtype=dtype
        ).to(self.device)
        self.model.eval()

    def render(self, prompt: str, seconds: float, knobs: dict[str, Any]) -> tuple[Any, int]:
        import torch

        tokens = round(seconds * MOSS_TOKENS_PER_SECOND)
        message = self.processor.build_user_message(ambient_sound=prompt, tokens=tokens)
        batch = self.processor([[message]], mode="generation")
        with torch.inference_mode():
            outputs = self.model.generate(
                input_ids=batch["input_ids"].to(self.device),
                attention_mask=batch["attention_mask"].to(self.device),
                max_new_tokens=int(knobs["maxNewTokens"]),
                audio_temperature=float(knobs["temperature"]),
                audio_top_p=float(knobs["topP"]),
                audio_top_k=int(knobs["topK"]),
                audio_repetition_penalty=float(knobs["repetitionPenalty"]),
            )
        decoded = list(self.processor.decode(outputs))
        if not decoded or not decoded[0].audio_codes_list:
            raise RuntimeError("MOSS-SoundEffect produced no audio")
        audio = decoded[0].audio_codes_list[0]
        rate = int(self.processor.model_config.sampling_rate)
        samples = audio.float().cpu().numpy()
        if samples.ndim == 2:  # (channels, n) -> (n, channels); mono stays 1-D
            samples = samples[0] if samples.shape[0] == 1 else samples.T
        return samples, rate


class AudioLDM2Backend:
    """The local stand-in: diffusers' AudioLDM2Pipeline (tiny random weights in tests)."""

    def __init__(self, path: str) -> None:
        import torch
        from diffusers import AudioLDM2Pipeline

        cuda = torch.cuda.is_available()
        self.pipe = AudioLDM2Pipeline.from_pretrained(
            path, local_files_only=True, torch_dtype=torch.float16 if cuda else torch.float32
        ).to("cuda" if cuda else "cpu")
        self.pipe.set_progress_bar_config(disable=True)

    def render(self, prompt: str, seconds: float, knobs: dict[str, Any]) -> tuple[Any, int]:
        out = self.pipe(prompt, audio_length_in_s=seconds, num_inference_steps=STAND_IN_STEPS)
        return np.asarray(out.audios[0]), int(self.pipe.vocoder.config.sampling_rate)


_lock = threading.Lock()
_backend: Backend | None = None


def _is_stand_in(path: Path) -> bool:
    index = path / "model_index.json"
    return index.is_file() and json.loads(index.read_text()).get("_class_name") == (
        "AudioLDM2Pipeline"
    )


def load_pipeline(model_dir: str | os.PathLike[str] | None = None) -> Backend:
    """Load (once per process) and return the backend this model folder holds."""
    global _backend
    with _lock:
        if _backend is None:
            root = model_dir or os.environ.get("RELAY_MODEL_DIR")
            if root and _is_stand_in(Path(root) / HANDLER_ID):
                _backend = AudioLDM2Backend(str(Path(root) / HANDLER_ID))
            elif root:
                _backend = MossBackend(str(Path(root) / HANDLER_ID), local=True)
            else:
                _backend = MossBackend(PRODUCTION_REPO, local=False)
        return _backend


def fit(samples: Any, sample_rate: int, seconds: float) -> np.ndarray:
    """Float32 samples trimmed or zero-padded to exactly round(seconds * rate) frames."""
    data = np.asarray(samples, dtype=np.float32)
    want = round(seconds * sample_rate)
    if data.shape[0] >= want:
        return data[:want]
    pad = [(0, want - data.shape[0])] + [(0, 0)] * (data.ndim - 1)
    return np.pad(data, pad)


def _request(inp: dict[str, Any]) -> tuple[str, float, int, dict[str, Any]]:
    prompt = inp.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise MediaInputError("input.prompt is required")
    seconds = inp.get("durationSeconds") or MOSS_DEFAULT_SECONDS
    if not isinstance(seconds, int | float) or not 0 < seconds <= MAX_SECONDS:
        raise MediaInputError(f"input.durationSeconds must be in (0, {MAX_SECONDS}]")
    quality = inp.get("quality") or DEFAULT_OPUS_QUALITY
    if quality not in OPUS_BITRATES:
        raise MediaInputError(f"input.quality must be one of {sorted(OPUS_BITRATES)}")
    knobs = {k: inp[k] if inp.get(k) is not None else v for k, v in MOSS_SAMPLING.items()}
    return prompt, float(seconds), OPUS_BITRATES[quality], knobs


def generate(payload: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    job = media_io.parse(payload, HANDLER_ID)
    prompt, seconds, bitrate, knobs = _request(job.input)
    samples, rate = load_pipeline().render(prompt, seconds, knobs)
    with media_io.workdir() as tmp:
        out = tmp / "sound.ogg"
        meta = media_io.write_audio(
            fit(samples, rate, seconds), rate, out, content_type="audio/ogg", bitrate=bitrate
        )
        return media_io.deliver(job, out, meta, started=started)
