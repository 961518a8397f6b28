"""TransformersBackend: real token counts, exact min_new_tokens, prompt template, limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_handlers.runtimes.grid.backend import BackendError, TextBackend

PROMPT = "Why is the sky blue?"


def test_is_a_text_backend_serving_the_tiny_model(tiny_backend) -> None:
    assert isinstance(tiny_backend, TextBackend)
    assert tiny_backend.models() == ["tiny-llm:latest"]


def test_counts_are_the_tokenizers_counts(tiny_backend) -> None:
    generation = tiny_backend.generate("tiny-llm:latest", PROMPT, max_new_tokens=24)
    rendered = tiny_backend.render_chat([{"role": "user", "content": PROMPT}])
    prompt_ids = tiny_backend.tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert generation.input_tokens == len(prompt_ids)
    # One character per token in the tiny tokenizer, and "<s>" is one token: so the
    # count is visible without trusting the tokenizer.
    assert generation.input_tokens == len(rendered) - len("<s>") + 1
    assert 1 <= generation.output_tokens <= 24
    assert len(generation.text) == generation.output_tokens
    assert isinstance(generation.duration_ms, int)
    assert generation.duration_ms >= 0


@pytest.mark.parametrize("n", [1, 7, 64])
def test_min_new_tokens_gives_exactly_that_many(tiny_backend, n: int) -> None:
    generation = tiny_backend.generate(
        "tiny-llm", PROMPT, max_new_tokens=n, min_new_tokens=n, temperature=1.0, seed=n
    )
    assert generation.output_tokens == n
    assert generation.finish_reason == "length"
    assert len(generation.text) == n


def test_greedy_is_deterministic_and_seeded_sampling_reproducible(tiny_backend) -> None:
    first = tiny_backend.generate("tiny-llm", PROMPT, max_new_tokens=16)
    assert tiny_backend.generate("tiny-llm", PROMPT, max_new_tokens=16).text == first.text
    a = tiny_backend.generate("tiny-llm", PROMPT, max_new_tokens=16, temperature=1.0, seed=1)
    b = tiny_backend.generate("tiny-llm", PROMPT, max_new_tokens=16, temperature=1.0, seed=1)
    c = tiny_backend.generate("tiny-llm", PROMPT, max_new_tokens=16, temperature=1.0, seed=2)
    assert a.text == b.text
    assert a.text != c.text


def test_raw_prompt_skips_the_template(tiny_backend) -> None:
    generation = tiny_backend.generate("tiny-llm", "abc", max_new_tokens=3, raw=True)
    assert generation.input_tokens == 4  # <s> a b c
    assert tiny_backend.count_tokens("abc", raw=True) == 4


def test_streamed_pieces_concatenate_to_the_text(tiny_backend) -> None:
    pieces: list[str] = []
    generation = tiny_backend.generate(
        "tiny-llm", PROMPT, max_new_tokens=20, min_new_tokens=20, on_text=pieces.append
    )
    assert "".join(pieces) == generation.text
    assert len(pieces) == 20


def test_context_window_is_enforced(tiny_backend) -> None:
    window = tiny_backend.context_length
    with pytest.raises(BackendError, match="prompt is too long"):
        tiny_backend.generate("tiny-llm", "x" * window, max_new_tokens=4, raw=True)
    # A prompt leaving 3 tokens of room: max_new_tokens is clamped to them.
    generation = tiny_backend.generate(
        "tiny-llm", "x" * (window - 4), max_new_tokens=50, min_new_tokens=3, raw=True
    )
    assert generation.input_tokens == window - 3
    assert generation.output_tokens == 3
    assert generation.finish_reason == "length"


def test_other_models_and_bad_limits_are_refused(tiny_backend) -> None:
    with pytest.raises(BackendError, match="not found"):
        tiny_backend.generate("llama3:8b", PROMPT, max_new_tokens=4)
    with pytest.raises(ValueError):
        tiny_backend.generate("tiny-llm", PROMPT, max_new_tokens=4, min_new_tokens=5)


def test_model_dir_may_be_the_tiny_llm_out_dir(tiny_llm_dir: Path, tmp_path: Path) -> None:
    from gpu_handlers.runtimes.grid.transformers_backend import resolve_model_dir

    # An `--out` directory holding only the tiny LLM (.local/models also holds the media
    # handlers' tiny models, some of them transformers models too).
    out = tmp_path / "models"
    out.mkdir()
    (out / tiny_llm_dir.name).symlink_to(tiny_llm_dir, target_is_directory=True)
    assert resolve_model_dir(tiny_llm_dir) == tiny_llm_dir
    assert resolve_model_dir(out).resolve() == tiny_llm_dir.resolve()
