"""Sweep hooks: what each site adds to the scheduled sweep, without the engine importing it.

A site package registers its hooks when it is imported (`register("grid", sweep_grid)`);
the sweep task imports every site, then runs the engine's own steps (money first) and each
hook, isolated, so one failing hook never stops the rest.

A site whose backend is pull-based (its workers claim jobs) registers that backend with
`register_pull_backend`: the engine's timeout step then leaves that backend's CLAIMED and
RUNNING jobs to the site's hook, which knows whether the worker's claim lapsed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

SweepHook = Callable[[dt.datetime], dict[str, int]]
_hooks: dict[str, SweepHook] = {}
_pull_backends: set[str] = set()


def register(name: str, hook: SweepHook) -> None:
    _hooks[name] = hook


def registered() -> dict[str, SweepHook]:
    return dict(_hooks)


def register_pull_backend(backend: str) -> None:
    _pull_backends.add(backend)


def is_pull_backend(backend: str) -> bool:
    """True when a site's own hook handles this backend's claimed and running jobs."""
    return backend in _pull_backends
