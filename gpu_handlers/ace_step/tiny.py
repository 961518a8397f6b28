"""A tiny random `AceStepPipeline` (ACE-Step 1.5, diffusers) for offline tests.

Same classes as the production repo (PRODUCTION_REPO in handler.py): Qwen3 text encoder with
a Qwen2 BPE tokenizer, `AceStepConditionEncoder`, `AceStepTransformer1DModel`,
`AutoencoderOobleck`, `FlowMatchEulerDiscreteScheduler`; only the sizes differ.

Invariants: nothing is downloaded (the tokenizer is built from an in-memory byte vocab); the
latent rate is ACE-Step's 25 Hz (VAE 8 kHz, hop 320, where production is 48 kHz, hop 1920),
so a 15 s CPU job is 375 latent frames and 120,000 samples: well under a few seconds.
"""

from __future__ import annotations

from pathlib import Path

TINY_SAMPLE_RATE = 8000
TINY_DOWNSAMPLING = (4, 8, 10)  # product 320 -> 25 latents per second, as in production


def build(seed: int = 0):
    import torch
    from diffusers import AceStepPipeline, AutoencoderOobleck, FlowMatchEulerDiscreteScheduler
    from diffusers.models.transformers.ace_step_transformer import AceStepTransformer1DModel
    from diffusers.pipelines.ace_step import AceStepConditionEncoder
    from transformers import Qwen2Tokenizer

    from gpu_handlers.tiny_models import _byte_alphabet, tiny_qwen3

    vocab = {ch: i for i, ch in enumerate(_byte_alphabet())}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=2048)
    torch.manual_seed(seed)
    text_encoder = tiny_qwen3(tokenizer, max_length=2048)
    torch.manual_seed(seed + 1)
    condition_encoder = AceStepConditionEncoder(
        hidden_size=32,
        intermediate_size=64,
        text_hidden_dim=32,
        timbre_hidden_dim=8,
        num_lyric_encoder_hidden_layers=1,
        num_timbre_encoder_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        sliding_window=16,
    )
    torch.manual_seed(seed + 2)
    transformer = AceStepTransformer1DModel(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        in_channels=24,
        audio_acoustic_hidden_dim=8,
        patch_size=2,
        sliding_window=16,
    )
    torch.manual_seed(seed + 3)
    vae = AutoencoderOobleck(
        encoder_hidden_size=4,
        downsampling_ratios=list(TINY_DOWNSAMPLING),
        decoder_channels=4,
        decoder_input_channels=8,
        audio_channels=2,
        channel_multiples=[1, 2, 2],
        sampling_rate=TINY_SAMPLE_RATE,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0)
    return AceStepPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        condition_encoder=condition_encoder,
        scheduler=scheduler,
    )


def save(out_dir: Path, seed: int) -> dict[str, object]:
    build(seed).save_pretrained(out_dir)
    return {"pipeline": "AceStepPipeline", "sampleRate": TINY_SAMPLE_RATE}
