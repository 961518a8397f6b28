"""Whisper handler: `audio.annotation.reference` -> application/json word timings.

Invariants:
- One checkpoint per `transcriptionModel` (distil-large-v3 | large-v3, filled in by the
  gateway), each loaded once per process from `$RELAY_MODEL_DIR/whisper/<name>/`
  (local_files_only) when RELAY_MODEL_DIR is set, else from its Hugging Face repo (REPOS).
- The staged source is decoded by ffmpeg to 16 kHz mono float32; a file ffprobe cannot read
  or that has no audio stream is a `MediaInputError`.
- Word timings come from the transformers ASR pipeline (`return_timestamps="word"`, cross-
  attention DTW over the generation config's `alignment_heads`).
- With a `transcript`, the output's words are exactly the transcript's words (whitespace
  split), in order: those difflib aligns to an ASR word take its times (`anchored: true`),
  the others share the gap between their anchored neighbours by length. Every word has
  0 <= start <= end <= durationSeconds and starts no earlier than the previous word ends,
  whatever the ASR produced (an ASR word that goes backwards is dropped, not anchored).
- Without a transcript the words are the ASR words, clamped the same way.
- Segments split the words after sentence-ending punctuation; one rule for both modes.
- `device` (auto | cuda | cpu) is a hint only: the handler runs where its weights were
  loaded (CUDA when the worker has a GPU).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from gpu_handlers import media_io
from gpu_handlers.errors import MediaInputError

HANDLER_ID = "whisper"
TASK = "audio.annotation.reference"
REPOS = {"distil-large-v3": "distil-whisper/distil-large-v3", "large-v3": "openai/whisper-large-v3"}
SAMPLE_RATE = 16_000
CHUNK_SECONDS = 30
OVERLAP_S = 0.05  # DTW word times may overlap by a frame or two
_SENTENCE_END = re.compile(r"[.!?…]['\")\]]*$")
_NORMAL = re.compile(r"[^\w']+")

_lock = threading.Lock()
_pipes: dict[str, Any] = {}


def _source(name: str, model_dir: str | os.PathLike[str] | None) -> tuple[str, bool]:
    root = model_dir or os.environ.get("RELAY_MODEL_DIR")
    if root:
        return str(Path(root) / HANDLER_ID / name), True
    return REPOS[name], False


def _load(name: str, model_dir: str | os.PathLike[str] | None = None) -> Any:
    with _lock:
        if name not in _pipes:
            import torch
            from transformers import WhisperForConditionalGeneration, WhisperProcessor, pipeline

            path, local = _source(name, model_dir)
            cuda = torch.cuda.is_available()
            dtype = torch.float16 if cuda else torch.float32
            model = WhisperForConditionalGeneration.from_pretrained(
                path, local_files_only=local, dtype=dtype
            )
            processor = WhisperProcessor.from_pretrained(path, local_files_only=local)
            _pipes[name] = pipeline(
                "automatic-speech-recognition",
                model=model,
                tokenizer=processor.tokenizer,
                feature_extractor=processor.feature_extractor,
                device="cuda" if cuda else "cpu",
                dtype=dtype,
            )
        return _pipes[name]


def load_pipeline(model_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Load both checkpoints (once per process); returns name -> ASR pipeline."""
    return {name: _load(name, model_dir) for name in REPOS}


def decode_audio(path: Path) -> np.ndarray:
    """16 kHz mono float32 samples of a staged file; MediaInputError if it has no audio."""
    try:
        info = media_io.probe(path)
    except media_io.MediaToolError:
        raise MediaInputError("input.sourceAudio is not readable audio") from None
    if not any(s.get("codec_type") == "audio" for s in info.get("streams", [])):
        raise MediaInputError("input.sourceAudio has no audio stream")
    raw = media_io.ffmpeg(
        "-i", str(path), "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1"
    )  # fmt: skip
    samples = np.frombuffer(raw, dtype=np.float32)
    if samples.size == 0:
        raise MediaInputError("input.sourceAudio decodes to no samples")
    return samples


def transcribe(pipe: Any, samples: np.ndarray, language: str) -> list[dict[str, Any]]:
    """ASR words [{word, start, end}] (times as the model gave them; may be None)."""
    out = pipe(
        {"raw": samples, "sampling_rate": SAMPLE_RATE},
        return_timestamps="word",
        chunk_length_s=CHUNK_SECONDS,
        ignore_warning=True,
        generate_kwargs={"language": language, "task": "transcribe"},
    )
    words = []
    for chunk in out.get("chunks", []):
        text = str(chunk.get("text", "")).strip()
        if text:
            start, end = chunk.get("timestamp", (None, None))
            words.append({"word": text, "start": start, "end": end})
    return words


def _norm(word: str) -> str:
    return _NORMAL.sub("", word.lower())


def _clamped(words: list[dict[str, Any]], duration: float) -> list[dict[str, Any]]:
    """The words with usable, in-order times, clamped monotone into [0, duration]."""
    kept, last_end = [], 0.0
    for w in words:
        if w["start"] is None or float(w["start"]) + OVERLAP_S < last_end:
            continue  # no time, or out of order: not a usable time
        start = min(max(float(w["start"]), last_end), duration)
        end = w["end"] if w["end"] is not None else start
        end = min(max(float(end), start), duration)
        kept.append({**w, "start": start, "end": end})
        last_end = end
    return kept


def anchor(transcript: str, asr: list[dict[str, Any]], duration: float) -> list[dict[str, Any]]:
    """Every transcript word with monotone times inside [0, duration] (see module doc)."""
    words = transcript.split()
    heard = _clamped(asr, duration)
    matcher = difflib.SequenceMatcher(
        None, [_norm(w) for w in words], [_norm(w["word"]) for w in heard], autojunk=False
    )
    times: list[tuple[float, float] | None] = [None] * len(words)
    last_end = 0.0
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            hit = heard[block.b + k]
            if hit["start"] >= last_end:  # never let an anchor go backwards
                times[block.a + k] = (hit["start"], hit["end"])
                last_end = hit["end"]
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(words):
        if times[i] is not None:
            start, end = times[i]  # type: ignore[misc]
            out.append({"word": words[i], "start": start, "end": end, "anchored": True})
            i += 1
            continue
        j = i
        while j < len(words) and times[j] is None:
            j += 1
        gap_start = out[-1]["end"] if out else 0.0
        gap_end = times[j][0] if j < len(words) else duration  # type: ignore[index]
        weights = [len(w) + 1 for w in words[i:j]]
        span, total, cursor = max(gap_end - gap_start, 0.0), sum(weights), gap_start
        for word, weight in zip(words[i:j], weights, strict=True):
            end = min(cursor + span * weight / total, gap_end)
            out.append({"word": word, "start": cursor, "end": end, "anchored": False})
            cursor = end
        i = j
    return out


def segments(words: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sentences: words split after sentence-ending punctuation."""
    out, current = [], []
    for w in words:
        current.append(w)
        if _SENTENCE_END.search(w["word"]):
            out.append(current)
            current = []
    if current:
        out.append(current)
    return [
        {"text": " ".join(w["word"] for w in seg), "start": seg[0]["start"], "end": seg[-1]["end"]}
        for seg in out
    ]


def generate(payload: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    job = media_io.parse(payload, HANDLER_ID)
    inp = job.input
    name = inp.get("transcriptionModel") or (
        "distil-large-v3" if inp.get("transcript") else "large-v3"
    )
    if name not in REPOS:
        raise MediaInputError(f"input.transcriptionModel {name!r} is not one of {sorted(REPOS)}")
    transcript = inp.get("transcript")
    if transcript is not None and (not isinstance(transcript, str) or not transcript.split()):
        raise MediaInputError("input.transcript has no words")
    language = inp.get("language") or "en"
    source = media_io.media_file(inp.get("sourceAudio"), "sourceAudio")
    with media_io.workdir() as tmp:
        samples = decode_audio(media_io.fetch(source, tmp / "source"))
        duration = round(samples.size / SAMPLE_RATE, 3)
        asr = transcribe(_load(name), samples, language)
        if transcript is not None:
            words = anchor(transcript, asr, duration)
        else:
            words = [{**w, "anchored": False} for w in _clamped(asr, duration)]
        words = [{**w, "start": round(w["start"], 3), "end": round(w["end"], 3)} for w in words]
        document = {
            "language": language,
            "transcriptionModel": name,
            "durationSeconds": duration,
            "text": transcript if transcript is not None else " ".join(w["word"] for w in words),
            "words": words,
            "segments": segments(words),
        }
        out = tmp / "annotation.json"
        out.write_text(json.dumps(document, ensure_ascii=False))
        meta = {"durationSeconds": duration, "words": len(words)}
        return media_io.deliver(job, out, meta, started=started)
