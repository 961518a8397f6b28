"""A tiny randomly initialised causal LM for offline grid tests: `tiny-llm:latest`.

`build_tiny_llm()` returns a 2-layer `LlamaForCausalLM` (hidden size 64, ~90 k parameters)
and a character-level tokenizer built in Python; `ensure_tiny_llm(out)` saves both to
`out/tiny-llm/` in the standard `save_pretrained` layout, so the production loading code
(`AutoModelForCausalLM` / `AutoTokenizer.from_pretrained(dir, local_files_only=True)`)
reads it unchanged. Its text is noise; it exists to exercise real tokenization, generation
and token counting on a CPU in milliseconds.

Invariants:
- Nothing is downloaded: the vocabulary is an in-memory dict, the model comes from a config.
- Deterministic: the same transformers/torch versions give the same weights (seeded).
- Tokenization is one token per character (printable ASCII, tab, newline, Latin-1), unknown
  characters become `<unk>`, and a `<s>` is prepended, so a prompt of n known characters is
  n + 1 tokens; decoding generated ids and concatenating per-token pieces give the same text.
- The chat template starts with `<s>` itself, so a templated prompt is tokenized without
  adding special tokens (one BOS either way), as with production chat models.
- The saved generation config never produces `<pad>`, `<s>` or `<unk>`, so every generated
  token except a final `</s>` is visible text.
- `ensure_tiny_llm` writes atomically (build in a temp dir, then rename); a directory with
  `config.json`, `tokenizer.json`, `model.safetensors` and `TINY_MODEL.json` is complete and
  is skipped next time.

CLI: `python -m gpu_handlers.runtimes.grid.tiny_llm --out DIR [--force]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gpu_handlers.local_save import MARKER_FILE, save_atomically

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

# torch/transformers are imported inside the builder: importing them takes seconds, and a
# re-run over a complete save should be an instant no-op.

TINY_LLM_DIRNAME = "tiny-llm"
TINY_LLM_NAME = "tiny-llm:latest"  # the grid/Ollama tag it is advertised under
SEED = 0
CONTEXT_LENGTH = 2048

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)  # ids 0..3, in this order

# One user/system/assistant turn per block, Ollama-style "<|role|>" markers.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

COMPLETE_FILES = ("config.json", "tokenizer.json", "model.safetensors", MARKER_FILE)


def vocabulary() -> dict[str, int]:
    """Special tokens, then one token per supported character."""
    chars = [chr(c) for c in range(32, 127)] + ["\t", "\n"] + [chr(c) for c in range(0xA1, 0x100)]
    return {token: i for i, token in enumerate([*SPECIAL_TOKENS, *chars])}


def build_tokenizer() -> PreTrainedTokenizerFast:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = vocabulary()
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # Every character is its own piece (whitespace included), so nothing is lost or merged.
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()  # concatenate pieces, no spaces between them
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, vocab[BOS])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=CONTEXT_LENGTH,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_llm(seed: int = SEED) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """The tiny random model and its tokenizer (not saved)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    ids = vocabulary()
    config = LlamaConfig(
        vocab_size=len(ids),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=CONTEXT_LENGTH,
        bos_token_id=ids[BOS],
        eos_token_id=ids[EOS],
        pad_token_id=ids[PAD],
        tie_word_embeddings=True,
        # Wider than Llama's 0.02: with near-zero weights greedy decoding repeats one
        # character forever; at 0.2 the (meaningless) text varies, which tests can see.
        initializer_range=0.2,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids[BOS],
        eos_token_id=ids[EOS],
        pad_token_id=ids[PAD],
        do_sample=False,
        suppress_tokens=[ids[PAD], ids[BOS], ids[UNK]],
    )
    return model, tokenizer


def is_complete(model_path: Path) -> bool:
    """True when `model_path` holds a finished tiny-llm save."""
    return all((model_path / name).is_file() for name in COMPLETE_FILES)


def ensure_tiny_llm(
    out_dir: str | os.PathLike[str], *, force: bool = False, seed: int = SEED
) -> Path:
    """Build and save the tiny LM under `out_dir/tiny-llm/` unless already there; its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final = out / TINY_LLM_DIRNAME
    if is_complete(final) and not force:
        return final

    def write(tmp: Path) -> dict[str, object]:
        model, tokenizer = build_tiny_llm(seed)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        return {
            "model": TINY_LLM_NAME,
            "tiny": True,
            "seed": seed,
            "architecture": type(model).__name__,
            "note": "randomly initialised test model; its text is noise",
        }

    return save_atomically(final, write, is_complete)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gpu_handlers.runtimes.grid.tiny_llm",
        description=f"Build the tiny random causal LM ({TINY_LLM_NAME}) for offline tests.",
    )
    parser.add_argument("--out", required=True, help=f"directory to hold {TINY_LLM_DIRNAME}/")
    parser.add_argument("--force", action="store_true", help="rebuild even if already saved")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    path = ensure_tiny_llm(args.out, force=args.force)
    print(f"{TINY_LLM_NAME}: {path}")
    print(f"done in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
