"""A tiny random `AudioLDM2Pipeline`: the local stand-in for MOSS-SoundEffect.

MOSS-SoundEffect is not installable from a registry (its model code is `trust_remote_code`
in the Hugging Face repo), so offline tests run the closest installable real text-to-audio
pipeline, diffusers' `AudioLDM2Pipeline`, behind the same handler interface.

Invariants:
- Same classes AudioLDM2 production checkpoints load (CLAP + T5 text encoders, GPT-2
  language model, AudioLDM2 projection and UNet, AutoencoderKL on mel spectrograms,
  SpeechT5 HiFi-GAN vocoder at 16 kHz with a 160-sample hop, DDIM scheduler), tiny widths.
- Tokenizers are built in Python from in-memory vocabularies; nothing is downloaded.
- The saved `model_index.json` names `AudioLDM2Pipeline`: that is how the handler tells the
  stand-in from a MOSS snapshot in the same folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_LENGTH = 77


def _tokenizers() -> tuple[Any, Any]:
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import RobertaTokenizer

    from gpu_handlers.tiny_models import tiny_t5_tokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for ch in sorted(ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    roberta = RobertaTokenizer(vocab=vocab, merges=[], model_max_length=MAX_LENGTH)
    t5 = tiny_t5_tokenizer(MAX_LENGTH)
    return roberta, t5


def build(seed: int) -> Any:
    import torch
    from diffusers import AudioLDM2Pipeline, AutoencoderKL, DDIMScheduler
    from diffusers.pipelines.audioldm2.modeling_audioldm2 import (
        AudioLDM2ProjectionModel,
        AudioLDM2UNet2DConditionModel,
    )
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapTextConfig,
        GPT2Config,
        GPT2LMHeadModel,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        T5Config,
        T5EncoderModel,
    )

    tokenizer, tokenizer_2 = _tokenizers()
    torch.manual_seed(seed)
    unet = AudioLDM2UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=([None, 16, 32], [None, 16, 32]),
    )
    scheduler = DDIMScheduler(
        beta_start=0.0015,
        beta_end=0.0195,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        block_out_channels=[8, 16],
        in_channels=1,
        out_channels=1,
        norm_num_groups=8,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
    )
    torch.manual_seed(seed + 2)
    text_config = ClapTextConfig(
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
        hidden_size=8,
        intermediate_size=37,
        num_attention_heads=1,
        num_hidden_layers=1,
        vocab_size=len(tokenizer),
        projection_dim=8,
        max_position_embeddings=MAX_LENGTH + 3,
    )
    audio_config = ClapAudioConfig(
        spec_size=8,
        window_size=4,
        num_mel_bins=8,
        intermediate_size=37,
        depths=[1, 1],
        num_attention_heads=[1, 1],
        num_hidden_layers=1,
        hidden_size=192,
        projection_dim=8,
        patch_size=2,
        patch_stride=2,
        patch_embed_input_channels=4,
    )
    text_encoder = ClapModel(
        ClapConfig(
            text_config=text_config.to_dict(),
            audio_config=audio_config.to_dict(),
            projection_dim=16,
        )
    )
    feature_extractor = ClapFeatureExtractor(feature_size=8, hop_length=7900)
    torch.manual_seed(seed + 3)
    text_encoder_2 = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer_2),
            d_model=32,
            d_ff=37,
            d_kv=8,
            num_heads=2,
            num_layers=2,
            pad_token_id=tokenizer_2.pad_token_id,
            eos_token_id=tokenizer_2.eos_token_id,
        )
    )
    torch.manual_seed(seed + 4)
    language_model = GPT2LMHeadModel(
        GPT2Config(
            n_embd=16,
            n_head=2,
            n_layer=2,
            vocab_size=8,
            n_positions=160,
            bos_token_id=0,
            eos_token_id=0,
        )
    )
    language_model.config.max_new_tokens = 8
    projection_model = AudioLDM2ProjectionModel(
        text_encoder_dim=16, text_encoder_1_dim=32, langauge_model_dim=16
    )
    torch.manual_seed(seed + 5)
    vocoder = SpeechT5HifiGan(
        SpeechT5HifiGanConfig(
            model_in_dim=8,
            sampling_rate=16000,
            upsample_initial_channel=16,
            upsample_rates=[10, 16],  # a 160-sample hop: 100 mel frames per second
            upsample_kernel_sizes=[20, 32],
            resblock_kernel_sizes=[3],
            resblock_dilation_sizes=[[1, 3]],
            normalize_before=False,
        )
    )
    return AudioLDM2Pipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        projection_model=projection_model,
        language_model=language_model,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        feature_extractor=feature_extractor,
        unet=unet,
        scheduler=scheduler,
        vocoder=vocoder,
    )


def save(out_dir: Path, seed: int) -> dict[str, Any]:
    build(seed).save_pretrained(out_dir, safe_serialization=True)
    return {"pipeline": "AudioLDM2Pipeline", "standsInFor": "OpenMOSS-Team/MOSS-SoundEffect"}
