"""The model-family rule and which local model runs a job (pure logic)."""

from __future__ import annotations

import pytest

from gpu_handlers.runtimes.grid.families import (
    canonical_tag,
    choose_model,
    model_family,
    same_model,
)


@pytest.mark.parametrize(
    ("tag", "family"),
    [
        ("llama3:8b", "llama3"),
        ("llama3:70b-instruct-q4_K_M", "llama3"),
        ("llama3", "llama3"),
        ("Mistral:7B", "mistral"),
        (" qwen2.5:0.5b ", "qwen2.5"),
        ("tiny-llm:latest", "tiny-llm"),
    ],
)
def test_family_is_the_tag_before_the_colon(tag: str, family: str) -> None:
    assert model_family(tag) == family


def test_a_tag_without_version_means_latest_as_in_ollama() -> None:
    assert canonical_tag("llama3") == "llama3:latest"
    assert canonical_tag("llama3:8b") == "llama3:8b"
    assert same_model("tiny-llm", "tiny-llm:latest")
    assert not same_model("llama3:8b", "llama3:70b")


LOCAL = ["llama3:8b", "mistral:7b"]


@pytest.mark.parametrize(
    ("requested", "match", "chosen"),
    [
        ("mistral:7b", "exact", "mistral:7b"),
        ("llama3:70b", "exact", None),  # exact is never widened
        ("llama3:70b", "family", "llama3:8b"),
        ("phi3:mini", "family", "llama3:8b"),  # reached a catch-all worker: runs what it has
        (None, "any", "llama3:8b"),
        ("phi3:mini", "any", "llama3:8b"),
    ],
)
def test_choose_model(requested: str | None, match: str, chosen: str | None) -> None:
    assert choose_model(requested=requested, match=match, local_models=LOCAL) == chosen


def test_choose_model_prefers_the_exact_tag_and_understands_latest() -> None:
    local = ["llama3:8b", "llama3:latest"]
    assert choose_model(requested="llama3", match="family", local_models=local) == "llama3:latest"
    assert choose_model(requested="x", match="any", local_models=[]) is None
