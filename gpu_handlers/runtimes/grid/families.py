"""Model tags as the grid routes them: families, Ollama's default tag, picking a local model.

Invariants:
- A model's family is the part of its tag before the first ':', stripped and lower-cased
  (`llama3:8b` -> `llama3`), exactly the rule the grid server applies to `families[]` and to
  `model_match=family` jobs; `model_family` (shared/schemas/text.py) is its one copy.
- Two tags name the same model when they are equal after Ollama's own normalisation: a tag
  with no ':' means ':latest' (`llama3` == `llama3:latest`).
- `choose_model` never picks a model the worker does not have, and never widens an `exact`
  job to another tag.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.schemas.text import model_family

DEFAULT_TAG = "latest"
MATCH_EXACT = "exact"
MATCH_FAMILY = "family"
MATCH_ANY = "any"


def canonical_tag(tag: str) -> str:
    """`tag` with Ollama's implied `:latest` made explicit (`llama3` -> `llama3:latest`)."""
    tag = tag.strip()
    return tag if ":" in tag else f"{tag}:{DEFAULT_TAG}"


def same_model(a: str, b: str) -> bool:
    """True when two tags name the same model (`llama3` and `llama3:latest` do)."""
    return canonical_tag(a) == canonical_tag(b)


def find_model(tag: str, local_models: Sequence[str]) -> str | None:
    """The local spelling of `tag`, or None when the worker does not have it."""
    return next((m for m in local_models if same_model(m, tag)), None)


def choose_model(
    *, requested: str | None, match: str | None, local_models: Sequence[str]
) -> str | None:
    """Which local model runs a job that asked for `requested` under `match`; None if none may.

    The requested tag itself wins; then (unless the match is `exact`) the first local model of
    the same family; then, for `any` jobs or jobs without a model (a catch-all worker), the
    first local model.
    """
    if requested:
        exact = find_model(requested, local_models)
        if exact is not None:
            return exact
        if match == MATCH_EXACT:
            return None
        family = model_family(requested)
        same_family = next((m for m in local_models if model_family(m) == family), None)
        if same_family is not None:
            return same_family
        # No same-family model: only a catch-all worker is sent such a job, and it agreed to
        # run jobs "regardless of model", so it runs it on what it has.
    return local_models[0] if local_models else None
