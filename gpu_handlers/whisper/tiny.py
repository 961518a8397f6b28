"""Tiny random Whisper checkpoints, one per `transcriptionModel`, for offline tests.

Invariants:
- Same classes production loads (`WhisperForConditionalGeneration`, `WhisperProcessor` =
  `WhisperFeatureExtractor` + `WhisperTokenizer`), same audio front end (128 mel bins,
  16 kHz, 30 s windows, 1500 encoder positions), so the handler's loading, decoding and
  word-timing code runs unchanged; only the widths and depths are tiny.
- The tokenizer is built in Python from an in-memory byte vocab plus Whisper's special
  tokens (language, task, no-timestamps and the 1501 timestamp tokens); nothing is
  downloaded.
- The generation config carries `alignment_heads` (needed for word timestamps) and a short
  `max_length`, so random weights stop quickly; the words they produce are garbage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# transcriptionModel -> decoder depth (distil-large-v3 keeps 2 of large-v3's 32 layers).
DECODER_LAYERS = {"distil-large-v3": 1, "large-v3": 2}
MAX_LENGTH = 24
SPECIALS = [
    "<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
    "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>",
]  # fmt: skip


def _processor() -> Any:
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import WhisperFeatureExtractor, WhisperProcessor, WhisperTokenizer

    vocab = {ch: i for i, ch in enumerate(sorted(ByteLevel.alphabet()))}
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[])
    stamps = [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIALS[1:]})
    tokenizer.add_tokens(stamps)
    extractor = WhisperFeatureExtractor(feature_size=128)  # large-v3's 128 mel bins
    return WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer)


def _model(processor: Any, decoder_layers: int, seed: int) -> Any:
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    tok = processor.tokenizer
    ids = {name: tok.convert_tokens_to_ids(name) for name in SPECIALS}
    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=len(tok),
        num_mel_bins=128,
        d_model=16,
        encoder_layers=1,
        encoder_attention_heads=2,
        decoder_layers=decoder_layers,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_source_positions=1500,
        max_target_positions=448,
        pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|endoftext|>"],
        decoder_start_token_id=ids["<|startoftranscript|>"],
        begin_suppress_tokens=[],
        suppress_tokens=[],
    )
    model = WhisperForConditionalGeneration(config)
    gen = model.generation_config
    gen.decoder_start_token_id = ids["<|startoftranscript|>"]
    gen.eos_token_id = gen.pad_token_id = ids["<|endoftext|>"]
    gen.no_timestamps_token_id = ids["<|notimestamps|>"]
    gen.prev_sot_token_id = ids["<|startofprev|>"]
    gen.lang_to_id = {"<|en|>": ids["<|en|>"]}
    gen.task_to_id = {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}
    gen.is_multilingual = True
    gen.max_initial_timestamp_index = 50
    gen.max_length = MAX_LENGTH
    gen.alignment_heads = [[layer, head] for layer in range(decoder_layers) for head in (0, 1)]
    gen._from_model_config = False  # else from_pretrained rebuilds it from config.json
    gen.begin_suppress_tokens = []
    gen.suppress_tokens = []
    return model


def save(out_dir: Path, seed: int) -> dict[str, Any]:
    """Write `<out_dir>/<transcriptionModel>/` for each model name; marker facts."""
    for offset, (name, layers) in enumerate(DECODER_LAYERS.items()):
        processor = _processor()
        model = _model(processor, layers, seed + offset)
        target = out_dir / name
        model.save_pretrained(target, safe_serialization=True)
        processor.save_pretrained(target)
    return {
        "pipeline": "WhisperForConditionalGeneration",
        "processor": "WhisperProcessor",
        "transcriptionModels": list(DECODER_LAYERS),
    }
