"""Sweep hooks: what each site adds to the scheduled sweep, without the engine importing it.

A site package registers its hooks when it is imported (`register("grid", sweep_grid)`);
the sweep task imports every site, then runs the engine's own steps (money first) and each
hook, isolated, so one failing hook never stops the rest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

SweepHook = Callable[[dt.datetime], dict[str, int]]
_hooks: dict[str, SweepHook] = {}


def register(name: str, hook: SweepHook) -> None:
    _hooks[name] = hook


def registered() -> dict[str, SweepHook]:
    return dict(_hooks)
