"""A tiny, randomly initialised LTX-Video stack of the SAME classes production loads.

`save(out_dir, seed)` writes an `LTXConditionPipeline` (T5 encoder + tokenizer,
`LTXVideoTransformer3DModel`, `AutoencoderKLLTXVideo`, `FlowMatchEulerDiscreteScheduler`)
into `out_dir`, and the spatial `LTXLatentUpsamplerModel` into
`out_dir/<UPSCALER_DIR>/latent_upsampler/` (the hub layout of the upscaler repo), so the
handler's loading code is identical for tiny and production weights.

Invariants:
- Nothing is downloaded: the T5 tokenizer is built from an in-memory vocab, every model
  from a config; each component is built right after `torch.manual_seed` (deterministic).
- The VAE keeps production's compression (32x spatial via patch 4 and three 2x levels, 8x
  temporal), so the handler's 8n + 1 frame rule and its rounding of the half-size first
  pass to multiples of 32 are exercised exactly as in production.
- Only channel widths and depths are shrunk (a few thousand parameters per component).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

UPSCALER_DIR = "spatial_upscaler"
T5_MAX_LENGTH = 128  # LTX-Video's tokenizer model_max_length
LATENT_CHANNELS = 8  # production: 128


def build(seed: int) -> tuple[Any, Any]:
    """(LTXConditionPipeline, LTXLatentUpsamplerModel), tiny and random."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXVideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel
    from transformers import T5Config, T5EncoderModel

    from gpu_handlers.tiny_models import tiny_t5_tokenizer

    tokenizer = tiny_t5_tokenizer(T5_MAX_LENGTH)

    torch.manual_seed(seed)
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer),
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=1,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )
    torch.manual_seed(seed + 1)
    transformer = LTXVideoTransformer3DModel(
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        num_layers=1,
        caption_channels=text_encoder.config.d_model,
    )
    torch.manual_seed(seed + 2)
    # The 0.9.7 VAE's block structure (LTXVideo095 blocks, residual 2x upsampling, no
    # decoder timestep conditioning) with 8-channel levels.
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=LATENT_CHANNELS,
        block_out_channels=(4, 8, 16, 32, 64),
        down_block_types=("LTXVideo095DownBlock3D",) * 4,
        decoder_block_out_channels=(8, 16, 32),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        upsample_residual=(True, True, True),
        upsample_factor=(2, 2, 2),
        timestep_conditioning=False,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
        spatial_compression_ratio=32,
        temporal_compression_ratio=8,
    )
    # LTX-Video 0.9.7's own scheduler config.
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=1.0,
        use_dynamic_shifting=False,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
        shift_terminal=0.1,
    )
    pipe = LTXConditionPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )
    torch.manual_seed(seed + 3)
    upsampler = LTXLatentUpsamplerModel(
        in_channels=LATENT_CHANNELS, mid_channels=32, num_blocks_per_stage=1, dims=3
    )
    return pipe, upsampler


def save(out_dir: Path, seed: int) -> dict[str, Any]:
    pipe, upsampler = build(seed)
    pipe.save_pretrained(out_dir, safe_serialization=True)
    upsampler.save_pretrained(out_dir / UPSCALER_DIR / "latent_upsampler", safe_serialization=True)
    return {"pipeline": type(pipe).__name__, "upsampler": type(upsampler).__name__}
