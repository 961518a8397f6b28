"""LTX-Video handler (`video.generate`): diffusers `LTXConditionPipeline` + spatial latent
upsampler, interpolated to the output fps, encoded as H.264 MP4 (AAC when audio is given).

Invariants (the sampling plan's own are in `plan.py`):
- Weights load once per process (`load_pipeline`): from `$RELAY_MODEL_DIR/ltx-video/` (the
  pipeline, plus the upscaler under `spatial_upscaler/`) with `local_files_only=True` when a
  model root is set, else from the production hub repos. A root without them is an error.
- Only `ltx-video` payloads for `video.generate` are accepted; every staged input is fetched
  and decoded before sampling, and one that is not what its slot needs (an image that does
  not decode, audio without an audio stream) is a `MediaInputError`.
- The same seed, input and weights give the same frames: noise comes from a CPU
  `torch.Generator` seeded with `seed` (a fresh random seed when absent, reported in meta).
- The uploaded MP4 is exactly `width` x `height`, `output_frames` frames at `output_fps`
  (`frames.py`); reference audio is muxed trimmed to the video (never conditions sampling:
  LTX-Video 0.9.x has no audio input).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from gpu_handlers import media_io
from gpu_handlers.errors import MediaInputError
from gpu_handlers.ltx_video import frames as frame_ops
from gpu_handlers.ltx_video.plan import REFINE_DENOISE, Plan, VideoJobInput, make_plan, read_input
from gpu_handlers.ltx_video.tiny import UPSCALER_DIR

HANDLER_ID = "ltx-video"
REPO_ID = "Lightricks/LTX-Video-0.9.7-dev"
UPSCALER_REPO_ID = "Lightricks/ltxv-spatial-upscaler-0.9.7"
MODEL_DIR_ENV = "RELAY_MODEL_DIR"
GUIDANCE_SCALE = 3.0  # the dev checkpoint's recommended CFG
NEGATIVE_PROMPT = "worst quality, inconsistent motion, blurry, jittery, distorted"
MAX_SEQUENCE_LENGTH = 256
DECODE_TIMESTEP = 0.05
REFINE_IMAGE_COND_NOISE = 0.025


@dataclass
class Loaded:
    pipe: Any  # LTXConditionPipeline
    upsample: Any  # LTXLatentUpsamplePipeline sharing pipe.vae
    source: str
    lock: threading.Lock = field(default_factory=threading.Lock)


_LOADED: dict[str, Loaded] = {}
_LOAD_LOCK = threading.Lock()


def _sources(model_dir: str | os.PathLike[str] | None) -> tuple[str, str, bool]:
    root = model_dir if model_dir is not None else os.environ.get(MODEL_DIR_ENV) or None
    if root is None:
        return REPO_ID, UPSCALER_REPO_ID, False
    path = Path(root).expanduser().resolve() / HANDLER_ID
    if not (path / "model_index.json").is_file() or not (path / UPSCALER_DIR).is_dir():
        raise FileNotFoundError(
            f"no saved LTX pipeline and upscaler at {path}; build the tiny one with"
            f" `python -m gpu_handlers.tiny_models --out <root> --model {HANDLER_ID}`"
        )
    return str(path), str(path / UPSCALER_DIR), True


def load_pipeline(model_dir: str | os.PathLike[str] | None = None) -> Loaded:
    """Load (once per process per source) the condition pipeline and the upsampler."""
    source, upscaler_source, local = _sources(model_dir)
    with _LOAD_LOCK:
        if source in _LOADED:
            return _LOADED[source]
        from diffusers import LTXConditionPipeline, LTXLatentUpsamplePipeline
        from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel

        from gpu_handlers.diffusion import default_device, dtype_for

        device = default_device()
        dtype = dtype_for(device)
        pipe = LTXConditionPipeline.from_pretrained(source, dtype=dtype, local_files_only=local)
        upsampler = LTXLatentUpsamplerModel.from_pretrained(
            upscaler_source, subfolder="latent_upsampler", dtype=dtype, local_files_only=local
        )
        upsample = LTXLatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=upsampler)
        pipe.to(device)
        upsample.to(device)
        pipe.vae.enable_tiling()  # full-size decodes of long clips; no-op below the tile size
        for p in (pipe, upsample):
            p.set_progress_bar_config(disable=True)
        _LOADED[source] = Loaded(pipe=pipe, upsample=upsample, source=source)
        return _LOADED[source]


def _frame(file: dict[str, Any], field: str, dest: Path, plan: Plan) -> Image.Image:
    image = media_io.read_image(media_io.media_file(file, field), dest)
    # Cover-crop to the canvas aspect so the pipeline's resize never distorts the frame.
    return ImageOps.fit(image, (plan.width, plan.height), Image.Resampling.LANCZOS)


def _conditions(job: VideoJobInput, plan: Plan, tmp: Path) -> list[Any]:
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    conditions = []
    overlap = [
        _frame(f, f"overlapFrameImages[{i}]", tmp / f"overlap{i}", plan)
        for i, f in enumerate(job.overlapFrameImages or ())
    ]
    if overlap:
        # The pipeline takes a video condition of 8n + 1 frames: the longest such head of the
        # overlap frames at frame 0, the rest one by one at their own index.
        head = (len(overlap) - 1) // 8 * 8 + 1
        if head == 1:
            conditions.append(LTXVideoCondition(image=overlap[0], frame_index=0))
        else:
            conditions.append(LTXVideoCondition(video=overlap[:head], frame_index=0))
        conditions += [
            LTXVideoCondition(image=overlap[i], frame_index=i) for i in range(head, len(overlap))
        ]
    if job.startFrameImage is not None and plan.start_index is not None:
        start = _frame(job.startFrameImage, "startFrameImage", tmp / "start", plan)
        conditions.append(LTXVideoCondition(image=start, frame_index=plan.start_index))
    if job.finalFrameImage is not None and plan.final_index is not None:
        final = _frame(job.finalFrameImage, "finalFrameImage", tmp / "final", plan)
        conditions.append(LTXVideoCondition(image=final, frame_index=plan.final_index))
    return conditions


def _reference_audio(job: VideoJobInput, tmp: Path) -> Path | None:
    if job.referenceAudio is None:
        return None
    path = media_io.fetch(media_io.media_file(job.referenceAudio, "referenceAudio"), tmp / "ref")
    try:
        streams = media_io.probe(path)["streams"]
    except media_io.MediaToolError:
        streams = []
    if not any(s.get("codec_type") == "audio" for s in streams):
        raise MediaInputError("input.referenceAudio: not a readable audio file")
    return path


def _sample(loaded: Loaded, job: VideoJobInput, plan: Plan, conditions: list[Any], seed: int):
    import torch

    generator = torch.Generator("cpu").manual_seed(seed)
    common: dict[str, Any] = {
        "conditions": conditions or None,
        "prompt": job.prompt,
        "negative_prompt": NEGATIVE_PROMPT,
        "num_frames": plan.sampled_frames,
        "frame_rate": plan.sampled_fps,
        "guidance_scale": GUIDANCE_SCALE,
        "max_sequence_length": MAX_SEQUENCE_LENGTH,
        "generator": generator,
    }
    (w1, h1), (w2, h2) = plan.first_pass, plan.refine
    with loaded.lock, torch.inference_mode():
        latents = loaded.pipe(
            **common,
            width=w1,
            height=h1,
            num_inference_steps=plan.first_steps,
            output_type="latent",
        ).frames
        upscaled = loaded.upsample(latents=latents, output_type="latent").frames
        video = loaded.pipe(
            **common,
            width=w2,
            height=h2,
            num_inference_steps=plan.refine_steps,
            denoise_strength=REFINE_DENOISE,
            latents=upscaled,
            decode_timestep=DECODE_TIMESTEP,
            image_cond_noise_scale=REFINE_IMAGE_COND_NOISE,
            output_type="np",
        ).frames
    return video[0]  # float [frames, h, w, 3] in 0..1


def generate(payload: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    request = media_io.parse(payload, HANDLER_ID)
    job = read_input(request.input)
    plan = make_plan(job)
    seed = job.seed if job.seed is not None else secrets.randbelow(2**31 - 1) + 1
    loaded = load_pipeline()
    with media_io.workdir() as tmp:
        conditions = _conditions(job, plan, tmp)
        audio = _reference_audio(job, tmp)
        sampled = frame_ops.to_uint8(_sample(loaded, job, plan, conditions, seed))
        sampled = frame_ops.resize(sampled, plan.width, plan.height)
        frames = frame_ops.retime(sampled, plan)
        out = tmp / "out.mp4"
        meta = media_io.write_video(frames, plan.output_fps, out, audio=audio)
        meta.update(
            sampledFrames=plan.sampled_frames,
            sampledFps=plan.sampled_fps,
            interpolated=plan.interpolates,
            seed=seed,
            steps=plan.first_steps + plan.refine_steps,
            firstPassSize=f"{plan.first_pass[0]}x{plan.first_pass[1]}",
        )
        return media_io.deliver(request, out, meta, started=started)
