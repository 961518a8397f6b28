"""OmniVoice-style `audio.speak` (voice design / voice clone) on Sesame CSM.

Production loads `CsmForConditionalGeneration` + `CsmProcessor` from `sesame/csm-1b`
(PRODUCTION_REPO); tests load the tiny random model of the same classes (tiny.py) from
`$RELAY_MODEL_DIR/omnivoice`, through this same code. OmniVoice (k2-fsa) itself is not
installable here; CSM is the closest real model class: it clones a voice from context
audio plus its transcript, and speaks as one of its conversation speakers otherwise.

Invariants:
- Weights load once per process, `local_files_only` from `$RELAY_MODEL_DIR/omnivoice` when
  RELAY_MODEL_DIR is set (or `model_dir` is given), else the hub repo. Nothing downloads
  at run time in tests or the local stack.
- voice_design: the normalised, sorted `voiceDescription` tags pick the CSM speaker id
  (`[n]` prefix, stable across processes); no tags -> speaker 0. voice_clone: the reference
  audio (decoded by ffmpeg to 24 kHz mono, at most REFERENCE_MAX_S) and `referenceTranscript`
  are the context turn of speaker 0, and the text is spoken by speaker 0 after it.
- `seed` seeds torch before each job, so the same input and seed give the same audio;
  without one a fresh seed is drawn.
- Text is spoken in sentence chunks of at most CHUNK_CHARS, each with a frame budget that
  grows with its length (SECONDS_PER_CHAR), concatenated in order.
- Sampled codes stay inside the codec's codebook (CSM's special audio codes are suppressed).
- The output is Ogg Opus at the `quality` bitrate (OPUS_BITRATES, default 128k); a reference
  that ffmpeg cannot decode as audio is a `MediaInputError`.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from gpu_handlers import media_io
from gpu_handlers.errors import MediaInputError
from gpu_handlers.media_io import MediaToolError
from shared.schemas.media import DEFAULT_OPUS_QUALITY, OPUS_BITRATES, SPEECH_CONTENT_TYPE

HANDLER_ID = "omnivoice"
PRODUCTION_REPO = "sesame/csm-1b"
SAMPLE_RATE = 24_000  # Mimi's rate
FRAME_RATE = 12.5  # Mimi frames (CSM generation steps) per second
SECONDS_PER_CHAR = 0.09  # frame budget per character, plus CHUNK_PAD_S per chunk
CHUNK_PAD_S = 1.0
CHUNK_CHARS = 300
MAX_CHUNK_S = 30.0
REFERENCE_MAX_S = 30.0
NUM_DESIGN_SPEAKERS = 8

_lock = threading.Lock()
_loaded: tuple[Any, Any] | None = None


def _source(model_dir: str | os.PathLike[str] | None) -> tuple[str, bool]:
    root = model_dir or os.environ.get("RELAY_MODEL_DIR")
    if root:
        return str(Path(root) / HANDLER_ID), True
    return PRODUCTION_REPO, False


def load_pipeline(model_dir: str | os.PathLike[str] | None = None) -> tuple[Any, Any]:
    """(model, processor), loaded once per process."""
    global _loaded
    with _lock:
        if _loaded is None:
            import torch
            from transformers import AutoProcessor, CsmForConditionalGeneration

            source, local = _source(model_dir)
            device = "cuda" if torch.cuda.is_available() else "cpu"
            dtype = torch.bfloat16 if device == "cuda" else torch.float32
            model = CsmForConditionalGeneration.from_pretrained(
                source, local_files_only=local, dtype=dtype
            ).to(device)
            model.eval()
            processor = AutoProcessor.from_pretrained(source, local_files_only=local)
            _loaded = (model, processor)
        return _loaded


def design_speaker(description: str | None) -> int:
    """The CSM speaker id a voiceDescription maps to (stable; tag order/case ignored)."""
    if not description:
        return 0
    tags = sorted({t.strip().lower() for t in description.split(",") if t.strip()})
    digest = hashlib.sha256(",".join(tags).encode()).digest()
    return int.from_bytes(digest[:4], "big") % NUM_DESIGN_SPEAKERS


def chunks(text: str) -> list[str]:
    """Sentence chunks of at most CHUNK_CHARS (a longer sentence is cut at spaces)."""
    out: list[str] = []
    current = ""
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        while len(sentence) > CHUNK_CHARS:
            cut = sentence.rfind(" ", 0, CHUNK_CHARS)
            cut = cut if cut > 0 else CHUNK_CHARS
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > CHUNK_CHARS:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    return [c for c in out if c]


def frame_budget(chunk: str) -> int:
    seconds = min(MAX_CHUNK_S, CHUNK_PAD_S + SECONDS_PER_CHAR * len(chunk))
    return max(1, math.ceil(seconds * FRAME_RATE))


def _reference(job_input: dict[str, Any], dest: Path) -> np.ndarray:
    file = media_io.media_file(job_input.get("referenceAudio"), "referenceAudio")
    media_io.fetch(file, dest)
    try:
        raw = media_io.ffmpeg(
            "-i", str(dest), "-t", str(REFERENCE_MAX_S), "-vn", "-ac", "1",
            "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1",
        )  # fmt: skip
    except MediaToolError:
        raise MediaInputError("input.referenceAudio is not decodable audio") from None
    samples = np.frombuffer(raw, dtype=np.float32)
    if samples.size < SAMPLE_RATE // 10:
        raise MediaInputError("input.referenceAudio holds less than 0.1 s of audio")
    return samples


def synthesize(
    text: str, *, speaker: int, seed: int, reference: np.ndarray | None, transcript: str | None
) -> np.ndarray:
    """Float32 mono samples at SAMPLE_RATE for `text`."""
    import torch

    model, processor = load_pipeline()
    bos, eos = processor.tokenizer.bos_token, processor.tokenizer.eos_token
    context = ""
    audio = None
    if reference is not None:
        context = f"{bos}[{speaker}]{transcript or ''}{eos}{processor.audio_token}"
        context += processor.audio_eos_token
        audio = [reference]
    # Ids past the codec's codebook are CSM's padding/special codes, never audio: a sampled
    # one would crash the codec's decode, so they are suppressed for every codebook.
    special = list(range(model.config.codec_config.codebook_size, model.config.vocab_size))
    torch.manual_seed(seed)
    pieces = []
    for chunk in chunks(text):
        prompt = f"{context}{bos}[{speaker}]{chunk}{eos}"
        inputs = processor(prompt, audio=audio, add_special_tokens=False).to(model.device)
        if "input_values" in inputs:
            inputs["input_values"] = inputs["input_values"].to(model.dtype)
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                output_audio=True,
                max_new_tokens=frame_budget(chunk),
                do_sample=True,
                suppress_tokens=special,
                depth_decoder_suppress_tokens=special,
            )
        pieces.append(out[0].float().cpu().numpy().reshape(-1))
    return np.concatenate(pieces).astype(np.float32)


def generate(payload: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    job = media_io.parse(payload, HANDLER_ID)
    data = job.input
    if job.output.contentType != SPEECH_CONTENT_TYPE["omnivoice"]:
        raise MediaInputError(f"omnivoice writes {SPEECH_CONTENT_TYPE['omnivoice']}")
    if data.get("provider", "omnivoice") != "omnivoice":
        raise MediaInputError(f"provider {data.get('provider')!r} is not omnivoice")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise MediaInputError("input.text is required")
    quality = data.get("quality") or DEFAULT_OPUS_QUALITY
    if quality not in OPUS_BITRATES:
        raise MediaInputError(f"input.quality {quality!r} is not one of {sorted(OPUS_BITRATES)}")
    mode = data.get("mode") or "voice_design"
    seed = data.get("seed")
    seed = int(seed) if seed is not None else secrets.randbelow(2**31 - 1) + 1
    with media_io.workdir() as tmp:
        reference = None
        if mode == "voice_clone":
            reference = _reference(data, tmp / "reference")
            speaker = 0
        else:
            speaker = design_speaker(data.get("voiceDescription"))
        samples = synthesize(
            text,
            speaker=speaker,
            seed=seed,
            reference=reference,
            transcript=data.get("referenceTranscript"),
        )
        out = tmp / "speech.ogg"
        meta = media_io.write_audio(
            samples, SAMPLE_RATE, out, content_type=job.output.contentType,
            bitrate=OPUS_BITRATES[quality],
        )  # fmt: skip
        meta["characters"] = len(text)
        return media_io.deliver(job, out, meta, started=started)
