"""A tiny random Sesame CSM (`CsmForConditionalGeneration` + `CsmProcessor`) for offline tests.

Same classes the omnivoice handler loads in production (`sesame/csm-1b`): a Llama-style
backbone, a depth decoder over the audio codebooks and a Mimi codec, with a few thousand
parameters each. The Mimi codec keeps production's strides (24 kHz, 1920 samples per frame,
12.5 frames/s) so the processor's frame arithmetic and the handler's duration budget are
exercised exactly as in production; only widths, depths and the number of codebooks shrink.

Invariants: nothing is downloaded (the tokenizer is byte-level BPE built from an in-memory
vocab, every model from a config); deterministic for a seed; `save(out_dir, seed)` writes a
folder `CsmForConditionalGeneration.from_pretrained` / `AutoProcessor.from_pretrained` load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ("<|begin_of_text|>", "<|end_of_text|>", "<|AUDIO|>", "<|audio_eos|>")
NUM_CODEBOOKS = 4
CODEBOOK_SIZE = 2048  # Mimi's; CSM's audio vocab is codebook + 3 specials (2051)


def build() -> tuple[Any, Any]:
    """(CsmForConditionalGeneration, CsmProcessor), randomly initialised; seed torch first."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import (
        CsmConfig,
        CsmForConditionalGeneration,
        CsmProcessor,
        EncodecFeatureExtractor,
        MimiConfig,
        PreTrainedTokenizerFast,
    )

    vocab = {ch: i for i, ch in enumerate(sorted(ByteLevel.alphabet()))}
    for tok in SPECIAL_TOKENS:
        vocab[tok] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        pad_token="<|AUDIO|>",  # as in csm-1b: pad and audio share an id
    )
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    feature_extractor = EncodecFeatureExtractor(feature_size=1, sampling_rate=24_000)
    processor = CsmProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)

    codec = MimiConfig(
        hidden_size=16,
        num_filters=4,
        num_residual_layers=1,
        upsampling_ratios=[8, 6, 5, 4],  # production's: 1920 samples per 12.5 Hz frame
        codebook_size=CODEBOOK_SIZE,
        codebook_dim=8,
        vector_quantization_hidden_dimension=8,
        num_quantizers=NUM_CODEBOOKS,
        num_semantic_quantizers=1,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=8,
        intermediate_size=32,
        upsample_groups=16,  # == hidden_size (production: 512 == 512)
    )
    depth = {
        "num_codebooks": NUM_CODEBOOKS,
        "backbone_hidden_size": 32,
        "vocab_size": CODEBOOK_SIZE + 3,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 8,
        "max_position_embeddings": NUM_CODEBOOKS + 1,
    }
    config = CsmConfig(
        num_codebooks=NUM_CODEBOOKS,
        vocab_size=CODEBOOK_SIZE + 3,
        text_vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=4096,
        bos_token_id=ids["<|begin_of_text|>"],
        eos_token_id=ids["<|end_of_text|>"],
        pad_token_id=ids["<|AUDIO|>"],
        audio_token_id=ids["<|AUDIO|>"],
        audio_eos_token_id=ids["<|audio_eos|>"],
        codebook_pad_token_id=CODEBOOK_SIZE + 2,
        codebook_eos_token_id=0,
        depth_decoder_config=depth,
        codec_config=codec.to_dict(),
    )
    model = CsmForConditionalGeneration(config)
    # Mimi initialises its codebooks to zeros (trained ones are learned): random codebooks
    # make the decoded audio depend on the generated codes, as with real weights.
    for name, buffer in model.codec_model.named_buffers():
        if name.endswith("embed_sum"):
            buffer.copy_(torch.randn_like(buffer))
    return model, processor


def save(out_dir: Path, seed: int) -> dict[str, Any]:
    import torch

    torch.manual_seed(seed)
    model, processor = build()
    model.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    return {"pipeline": type(model).__name__, "processor": type(processor).__name__}
