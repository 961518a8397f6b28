"""`estimatedDurationSeconds`: a rough wall-clock estimate shown at submit (never billed).

An estimate is a fixed start-up allowance plus the quote's billed units at a per-unit
throughput of the production GPUs; `durationEstimateMeta` says which units and rate.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Final

from shared.media.jobs.pricing import Quote

STARTUP_S: Final = 5.0
# task -> (what is counted, seconds per unit)
_RATES: Final[dict[str, tuple[str, float]]] = {
    "image.generate": ("megapixelSteps", 0.12),
    "image.edit": ("megapixelSteps", 0.15),
    "video.generate": ("outputFrames", 0.9),
    "video.combine": ("clips", 2.0),
    "video.resize": ("billableFrames", 0.01),
    "audio.speak": ("characters", 0.02),
    "audio.annotation.reference": ("seconds", 0.05),
    "ace.step.create": ("seconds", 0.3),
    "moss.sound.effect": ("seconds", 0.5),
    "trellis.generate": ("jobs", 45.0),
}


def _units(task: str, meta: dict[str, Any]) -> float:
    basis = _RATES[task][0]
    if basis == "megapixelSteps":
        return float(meta["billedPixels"]) * float(meta["steps"]) / 1e6
    if basis == "jobs":
        return 1.0
    return float(Fraction(str(meta[basis])))


def estimate(task: str, quote: Quote) -> tuple[float, dict[str, Any]]:
    basis, per_unit = _RATES[task]
    units = _units(task, quote.meta)
    meta = {"basis": basis, "units": round(units, 3), "secondsPerUnit": per_unit}
    return round(STARTUP_S + units * per_unit, 1), {**meta, "startupSeconds": STARTUP_S}
