"""The engine's sweep names no site: pull-based backends are registered by their site."""

from __future__ import annotations

from shared.engine import sweeps


def test_grid_registers_its_backend_as_pull_based_and_its_hook() -> None:
    import shared.grid  # noqa: F401  (importing the site registers its sweep work)
    from shared.grid.jobs import BACKEND

    assert sweeps.is_pull_backend(BACKEND)
    assert "grid" in sweeps.registered()


def test_push_backends_are_not_left_to_a_site() -> None:
    import shared.grid  # noqa: F401

    assert not sweeps.is_pull_backend("runpod")
    assert not sweeps.is_pull_backend("modal")
