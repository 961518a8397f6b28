"""Tiny, randomly initialised stand-ins for the production image pipelines.

`build_z_image_turbo()` and `build_flux_schnell()` return pipelines of the SAME diffusers
classes the production handlers load (`ZImagePipeline`, `FluxPipeline`), with the same
component classes (Qwen3 text encoder, CLIP + T5 text encoders, AutoencoderKL,
FlowMatchEulerDiscreteScheduler), only with a few thousand parameters each. They let the
handlers, runtimes and tests exercise the real loading and generation code on a CPU with
no network. The images they make are noise-like, not pictures.

Invariants:
- Nothing is downloaded: every tokenizer is built in Python from an in-memory vocab, every
  model from a config.
- Deterministic: the same diffusers/transformers/torch versions give the same weights
  (each component is built right after `torch.manual_seed`).
- The VAE has 4 resolution levels (scale factor 8), so the pipelines need width/height
  multiples of 16, exactly as in production; the handlers' round-up-and-resize path is
  therefore exercised by the tiny models too.
- `ensure_tiny_models(out)` writes `out/<model-id>/` atomically (build in a temp dir,
  then rename), so a directory holding `model_index.json` and `TINY_MODEL.json` is a
  complete save and is skipped on the next run.

CLI: `python -m gpu_handlers.tiny_models --out DIR [--model ID ...] [--force]`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_handlers import registry
from gpu_handlers.local_save import MARKER_FILE, save_atomically
from shared.schemas.images import ImageModel

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, FluxPipeline, ZImagePipeline

# torch/diffusers/transformers are imported inside the builders: they take seconds to import,
# and a re-run over complete saves should be an instant no-op.

SEED = 0
NOTE = "randomly initialised test model; not the production weights"

# Same sequence limits as the production tokenizers: the pipelines pad to these lengths.
CLIP_MAX_LENGTH = 77
T5_MAX_LENGTH = 512
QWEN_MAX_LENGTH = 512

# Qwen3's chat template reduced to what ZImagePipeline uses: one user turn plus the
# generation prompt. The pipeline passes enable_thinking=True, which (as in Qwen3's own
# template) adds no empty <think> block.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "<think>\n\n</think>\n\n"
    "{% endif %}{% endif %}"
)


def _byte_alphabet() -> list[str]:
    from tokenizers.pre_tokenizers import ByteLevel

    # The 256 printable stand-ins byte-level BPE uses for raw bytes: with all of them in
    # the vocab (and no merges) any UTF-8 prompt tokenizes to one token per byte, no <unk>.
    return sorted(ByteLevel.alphabet())


def tiny_t5_tokenizer(max_length: int) -> Any:
    """A T5 (SentencePiece unigram) tokenizer over printable ASCII, built in memory; every
    tiny model with a T5 text encoder uses this one."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [(chr(c), -3.0) for c in range(33, 127)]  # printable ASCII; the rest -> <unk>
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def tiny_qwen3(tokenizer: Any, *, max_length: int) -> Any:
    """A 2-layer Qwen3 text encoder for `tokenizer` (seed torch first); the image models'
    and ACE-Step's tiny builds share it."""
    from transformers import Qwen3Config, Qwen3Model

    return Qwen3Model(
        Qwen3Config(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
            max_position_embeddings=max_length,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )


def _tiny_vae(latent_channels: int) -> AutoencoderKL:
    from diffusers import AutoencoderKL

    # Four levels -> vae_scale_factor 8, like the production (Flux) VAE; 8 channels keep it
    # cheap even when decoding 256x256 on a CPU. Scaling/shift are the Flux VAE's values.
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=4,
        sample_size=64,
        use_quant_conv=False,
        use_post_quant_conv=False,
        scaling_factor=0.3611,
        shift_factor=0.1159,
    )


def build_z_image_turbo(seed: int = SEED) -> ZImagePipeline:
    """A tiny random `ZImagePipeline` (Qwen3 text encoder, Z-Image DiT, AutoencoderKL)."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
    from transformers import Qwen2Tokenizer

    vocab = {ch: i for i, ch in enumerate(_byte_alphabet())}
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        model_max_length=QWEN_MAX_LENGTH,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE

    torch.manual_seed(seed)
    # >= 2 layers: the pipeline reads hidden_states[-2] (the penultimate layer).
    text_encoder = tiny_qwen3(tokenizer, max_length=QWEN_MAX_LENGTH)

    latent_channels = 4
    torch.manual_seed(seed + 1)
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,),
        all_f_patch_size=(1,),
        in_channels=latent_channels,  # Z-Image patchifies inside the transformer
        dim=32,
        n_layers=2,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
        cap_feat_dim=text_encoder.config.hidden_size,
        axes_dims=[4, 4, 8],  # sum == head dim (32 / 2)
    )
    torch.manual_seed(seed + 2)
    vae = _tiny_vae(latent_channels)
    # Z-Image-Turbo's own scheduler config.
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False
    )
    return ZImagePipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )


def flux_components(seed: int = SEED, *, guidance_embeds: bool = False) -> dict[str, Any]:
    """Tiny random Flux components (CLIP + T5 text encoders and tokenizers, Flux DiT,
    AutoencoderKL), keyed as every Flux pipeline's constructor names them.

    `guidance_embeds`: False for schnell (timestep-distilled), True for the guidance-distilled
    dev family (FLUX.1-dev, FLUX.1-Kontext-dev)."""
    import torch
    from diffusers import FluxTransformer2DModel
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTokenizer,
        T5Config,
        T5EncoderModel,
    )

    alphabet = _byte_alphabet()
    clip_vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in alphabet:
        # CLIP's BPE marks the last piece of a word with </w>, so each byte needs both forms.
        clip_vocab[ch] = len(clip_vocab)
        clip_vocab[ch + "</w>"] = len(clip_vocab)
    tokenizer = CLIPTokenizer(vocab=clip_vocab, merges=[], model_max_length=CLIP_MAX_LENGTH)

    tokenizer_2 = tiny_t5_tokenizer(T5_MAX_LENGTH)

    torch.manual_seed(seed)
    # Special-token ids must match the tokenizer's: CLIPTextModel pools at the first eos id.
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            projection_dim=32,
            max_position_embeddings=CLIP_MAX_LENGTH,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    torch.manual_seed(seed + 1)
    text_encoder_2 = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer_2),
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=tokenizer_2.pad_token_id,
            eos_token_id=tokenizer_2.eos_token_id,
        )
    )

    latent_channels = 4
    torch.manual_seed(seed + 2)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4 * latent_channels,  # the pipeline packs 2x2 latent patches
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=text_encoder_2.config.d_model,
        pooled_projection_dim=text_encoder.config.hidden_size,
        guidance_embeds=guidance_embeds,
        axes_dims_rope=(4, 4, 8),  # sum == attention_head_dim
    )
    torch.manual_seed(seed + 3)
    vae = _tiny_vae(latent_channels)
    return {
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": tokenizer_2,
        "transformer": transformer,
    }


def build_flux_schnell(seed: int = SEED) -> FluxPipeline:
    """A tiny random `FluxPipeline` (CLIP + T5 text encoders, Flux DiT, AutoencoderKL)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

    # schnell is timestep-distilled: no guidance embedding.
    components = flux_components(seed, guidance_embeds=False)
    # FLUX.1-schnell's own scheduler config.
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=1.0,
        use_dynamic_shifting=False,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )
    return FluxPipeline(scheduler=scheduler, **components)


# Values return ZImagePipeline / FluxPipeline; typed Any because diffusers' lazy module
# hides their DiffusionPipeline base from type checkers.
BUILDERS: dict[str, Callable[[int], Any]] = {
    ImageModel.Z_IMAGE_TURBO.value: build_z_image_turbo,
    ImageModel.FLUX_SCHNELL.value: build_flux_schnell,
}


# Media handlers keep their tiny builders beside them (`gpu_handlers/<folder>/tiny.py`,
# `save(out_dir, seed) -> dict` writes the model into `out_dir` and returns marker facts).
TINY_MODULES = registry.TINY_MODULES
ALL_MODELS: tuple[str, ...] = (*BUILDERS, *TINY_MODULES)


def _has_module(model_id: str) -> bool:
    try:
        return importlib.util.find_spec(TINY_MODULES[model_id]) is not None
    except ModuleNotFoundError:  # the handler's package itself is missing
        return False


def is_complete(model_path: Path) -> bool:
    """True when `model_path` holds a finished tiny-model save (the marker is written last)."""
    return (model_path / MARKER_FILE).is_file()


def ensure_tiny_models(
    out_dir: str | os.PathLike[str],
    models: Sequence[str] | None = None,
    *,
    force: bool = False,
    seed: int = SEED,
) -> dict[str, Path]:
    """Build and save the tiny pipelines under `out_dir/<model-id>/`; return their paths.

    A model whose directory is already complete is skipped unless `force`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for model_id in models or list(ALL_MODELS):
        if model_id not in ALL_MODELS:
            raise ValueError(f"unknown model {model_id!r}; expected one of {sorted(ALL_MODELS)}")
        if models is None and model_id in TINY_MODULES and not _has_module(model_id):
            continue  # a handler folder still to come; named explicitly, it is an error
        final = out / model_id
        paths[model_id] = final
        if is_complete(final) and not force:
            continue

        def write(tmp: Path, model_id: str = model_id) -> dict[str, object]:
            if model_id in TINY_MODULES:
                facts = importlib.import_module(TINY_MODULES[model_id]).save(tmp, seed)
                return {"model": model_id, "tiny": True, "seed": seed, **facts, "note": NOTE}
            pipe = BUILDERS[model_id](seed)
            pipe.save_pretrained(tmp, safe_serialization=True)
            return {
                "model": model_id,
                "tiny": True,
                "seed": seed,
                "pipeline": type(pipe).__name__,
                "note": NOTE,
            }

        save_atomically(final, write, is_complete)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gpu_handlers.tiny_models",
        description="Build tiny random image pipelines for offline tests.",
    )
    parser.add_argument("--out", required=True, help="directory to hold <model-id>/ subfolders")
    parser.add_argument(
        "--model", action="append", choices=sorted(ALL_MODELS), help="build only this model"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if already saved")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    paths = ensure_tiny_models(args.out, args.model, force=args.force)
    for model_id, path in paths.items():
        print(f"{model_id}: {path}")
    print(f"done in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
