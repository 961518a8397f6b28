"""Text-generation (grid) conventions shared by the grid service and the grid agent."""

from __future__ import annotations


def model_family(tag: str) -> str:
    """The family of a model tag: the part before ':' (`llama3:8b` -> `llama3`)."""
    return tag.split(":", 1)[0].strip().lower()
