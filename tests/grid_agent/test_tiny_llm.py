"""The tiny random causal LM: built offline, saved completely, reloaded by the production path."""

from __future__ import annotations

import hashlib
from pathlib import Path

from gpu_handlers.runtimes.grid import tiny_llm


def test_builds_once_and_reloads_with_local_files_only(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny_llm.ensure_tiny_llm(tmp_path)
    assert path == tmp_path / "tiny-llm"
    assert tiny_llm.is_complete(path)
    marker_mtime = (path / tiny_llm.MARKER_FILE).stat().st_mtime_ns
    weights = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()

    assert tiny_llm.ensure_tiny_llm(tmp_path) == path  # a complete save is skipped
    assert (path / tiny_llm.MARKER_FILE).stat().st_mtime_ns == marker_mtime

    tiny_llm.ensure_tiny_llm(tmp_path, force=True)  # a rebuild gives the same weights
    assert hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest() == weights

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    assert model.config.num_hidden_layers == 2
    assert model.config.hidden_size == 64
    assert model.config.vocab_size == len(tokenizer) == len(tiny_llm.vocabulary())
    assert tokenizer.eos_token == "</s>"
    assert tokenizer.pad_token == "<pad>"


def test_tokenizer_is_one_token_per_character_plus_bos() -> None:
    tokenizer = tiny_llm.build_tokenizer()
    text = "Héllo, wörld!\n\tok"
    ids = tokenizer(text)["input_ids"]
    assert len(ids) == len(text) + 1
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert tokenizer("日")["input_ids"][1] == tokenizer.unk_token_id


def test_cli_prints_the_model_path(tmp_path: Path, capsys) -> None:
    tiny_llm.ensure_tiny_llm(tmp_path)  # already complete: the CLI run is a no-op
    assert tiny_llm.main(["--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == f"tiny-llm:latest: {tmp_path / 'tiny-llm'}"
