"""`TextBackend` that runs a Hugging Face causal LM in this process.

Invariants:
- The model and tokenizer load once, in the constructor, from a local directory only
  (`from_pretrained(dir, local_files_only=True)`); nothing is downloaded, ever.
- Generations are serialised by a lock (one model, one generation at a time, like Ollama
  with `OLLAMA_NUM_PARALLEL=1`); that is also what makes a seeded sample reproducible.
- The prompt is treated as Ollama's `/api/generate` treats it: unless `raw`, it becomes one
  user turn (after an optional system turn) of the tokenizer's chat template, when there is
  one. Templated text is tokenized without adding special tokens (the template carries its
  BOS); a raw prompt is tokenized with them. Either way the model reads one BOS.
- Counts are the tokenizer's, never estimates: `input_tokens` is the prompt's length in
  tokens, `output_tokens` the number of generated tokens less a final end-of-sequence token.
  With `min_new_tokens=n` the end-of-sequence token is suppressed until n tokens exist, so
  `min_new_tokens == max_new_tokens == n` yields exactly n.
- `temperature` 0 (the default) is greedy decoding; above 0 it samples (top-k/top-p), from
  `seed` when one is given.
- Prompt plus new tokens never exceed the context window: `max_new_tokens` is clamped (the
  generation then ends with `finish_reason="length"`); a prompt that leaves no room, or less
  than `min_new_tokens`, is a `BackendError`.
- `on_text`, if given, receives the text each new token adds, in order; the pieces
  concatenate to `Generation.text`. An exception raised by `on_text` aborts the generation
  and propagates (how a server stops generating for a client that went away).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.generation.streamers import BaseStreamer

from gpu_handlers.runtimes.grid.backend import (
    FINISH_LENGTH,
    FINISH_STOP,
    BackendError,
    Generation,
)
from gpu_handlers.runtimes.grid.families import canonical_tag, same_model

log = logging.getLogger(__name__)

DEFAULT_TOP_K = 40  # Ollama's sampling defaults
DEFAULT_TOP_P = 0.9


def resolve_model_dir(path: str | Path) -> Path:
    """The model directory for `path`: `path` itself when it holds `config.json`, else its
    only subdirectory that does (so the `--out` dir of `tiny_llm` works too)."""
    root = Path(path).expanduser()
    if (root / "config.json").is_file():
        return root
    candidates = sorted(p for p in root.glob("*/config.json") if p.is_file())
    if len(candidates) == 1:
        return candidates[0].parent
    if not candidates:
        raise FileNotFoundError(f"no model (config.json) in {root} or its subdirectories")
    names = ", ".join(p.parent.name for p in candidates)
    raise ValueError(f"{root} holds several models ({names}); pass one of them")


class _TextSink(BaseStreamer):
    """Turns `generate`'s token stream into text pieces for `on_text`."""

    def __init__(self, tokenizer: Any, on_text: Callable[[str], None]) -> None:
        self._tokenizer = tokenizer
        self._on_text = on_text
        self._prompt_skipped = False
        self._ids: list[int] = []
        self._sent = 0  # characters of the decoded text already handed to on_text

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_skipped:  # generate() first puts the prompt ids
            self._prompt_skipped = True
            return
        self._ids.extend(int(i) for i in value.reshape(-1).tolist())
        self._emit(final=False)

    def end(self) -> None:
        self._emit(final=True)

    def _emit(self, *, final: bool) -> None:
        # Decode everything so far rather than token by token: byte-level tokenizers split
        # characters over several tokens, which only decode correctly together.
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        if not final and text.endswith("\ufffd"):
            return  # half a character; wait for the token that completes it
        piece, self._sent = text[self._sent :], len(text)
        if piece:
            self._on_text(piece)


class TransformersBackend:
    """Runs prompts on one local `AutoModelForCausalLM`."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        model_name: str | None = None,
        device: str | None = None,
        use_chat_template: bool = True,
        temperature: float = 0.0,
        seed: int | None = None,
        num_threads: int | None = None,
    ) -> None:
        """`model_name` is the tag the model is served under (default `<dir name>:latest`);
        `temperature`/`seed` are the defaults for calls that do not pass their own;
        `num_threads` sets torch's CPU threads for the whole process (small models run
        fastest on one thread, and several threads fight over a busy machine's cores)."""
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        self.model_dir = resolve_model_dir(model_dir)
        self.model_name = canonical_tag(model_name or self.model_dir.name)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._use_chat_template = use_chat_template
        self._temperature = temperature
        self._seed = seed
        self._lock = threading.Lock()
        start = time.perf_counter()
        # Typed Any: transformers' Auto* factories return whatever class the config names.
        self.tokenizer: Any = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        # On a GPU keep the checkpoint's dtype (usually bf16); CPUs are fastest in float32.
        dtype: Any = "auto" if self.device.startswith("cuda") else torch.float32
        model: Any = AutoModelForCausalLM.from_pretrained(
            self.model_dir, local_files_only=True, dtype=dtype
        )
        self.model: Any = model.to(self.device)
        self.model.eval()
        self.load_seconds = time.perf_counter() - start
        log.info("loaded %s from %s in %.2fs", self.model_name, self.model_dir, self.load_seconds)

    # -- facts about the loaded model ------------------------------------------------------

    @property
    def context_length(self) -> int:
        config = self.model.config
        return int(getattr(config, "max_position_embeddings", 0) or self.tokenizer.model_max_length)

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def models(self) -> list[str]:
        return [self.model_name]

    # -- prompts ---------------------------------------------------------------------------

    def render_chat(self, messages: Sequence[Mapping[str, str]]) -> str:
        """`messages` ({role, content}) as the model's chat template renders them, ending
        with the assistant's turn; tokenize the result with `raw=True`."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise BackendError(f"model {self.model_name} has no chat template")
        rendered = self.tokenizer.apply_chat_template(
            [dict(m) for m in messages], tokenize=False, add_generation_prompt=True
        )
        return str(rendered)

    def _prompt_ids(self, prompt: str, *, raw: bool, system: str | None) -> list[int]:
        if not raw and self._use_chat_template and getattr(self.tokenizer, "chat_template", None):
            turns = [{"role": "system", "content": system}] if system else []
            text = self.render_chat([*turns, {"role": "user", "content": prompt}])
            return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return list(self.tokenizer(prompt)["input_ids"])

    def count_tokens(self, prompt: str, *, raw: bool = False, system: str | None = None) -> int:
        """How many tokens `generate` would feed the model for this prompt."""
        return len(self._prompt_ids(prompt, raw=raw, system=system))

    # -- generation ------------------------------------------------------------------------

    def generate(
        self,
        model: str,
        prompt: str,
        *,
        max_new_tokens: int,
        min_new_tokens: int | None = None,
        raw: bool = False,
        system: str | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        if not same_model(model, self.model_name):
            raise BackendError(f'model "{model}" not found (this backend serves {self.model_name})')
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if min_new_tokens is not None and not 0 <= min_new_tokens <= max_new_tokens:
            raise ValueError("min_new_tokens must be between 0 and max_new_tokens")
        start = time.perf_counter()
        prompt_ids = self._prompt_ids(prompt, raw=raw, system=system)
        room = self.context_length - len(prompt_ids)
        if room < max(1, min_new_tokens or 0):
            raise BackendError(
                f"prompt is too long: {len(prompt_ids)} tokens, context is {self.context_length}"
            )
        budget = min(max_new_tokens, room)

        temperature = self._temperature if temperature is None else temperature
        seed = self._seed if seed is None else seed
        options: dict[str, Any] = {
            "max_new_tokens": budget,
            "min_new_tokens": min_new_tokens or None,
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }
        if temperature > 0:
            options.update(
                do_sample=True,
                temperature=temperature,
                top_k=top_k or DEFAULT_TOP_K,
                top_p=top_p or DEFAULT_TOP_P,
            )
        else:
            options.update(do_sample=False, temperature=None, top_k=None, top_p=None)
        if on_text is not None:
            options["streamer"] = _TextSink(self.tokenizer, on_text)

        input_ids = torch.tensor([prompt_ids], device=self.device)
        with self._lock, torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)  # under the lock: nobody else draws from the RNG
            output = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **options
            )
        new_ids = [int(i) for i in output[0, len(prompt_ids) :].tolist()]
        finish = FINISH_LENGTH
        if new_ids and new_ids[-1] in self._eos_ids():
            new_ids, finish = new_ids[:-1], FINISH_STOP
        elif len(new_ids) < budget:
            finish = FINISH_STOP  # a stop criterion other than length ended it
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        return Generation(
            text=text,
            input_tokens=len(prompt_ids),
            output_tokens=len(new_ids),
            duration_ms=round((time.perf_counter() - start) * 1000),
            finish_reason=finish,
        )

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        if eos is None:
            return set()
        return {int(e) for e in eos} if isinstance(eos, (list, tuple)) else {int(eos)}
