"""`ffmpeg-video` handler: `video.combine` and `video.resize` with the Debian ffmpeg, no model.

Invariants:
- `load_pipeline` only checks that `ffmpeg` and `ffprobe` are on PATH (a worker without them
  dies at start, not per job) and returns None: there are no weights (registry.WEIGHTLESS).
- `generate` refuses a payload for another handler or task (`MediaInputError`, via
  `media_io.parse`), works in a private temp dir removed afterwards, uploads exactly one MP4
  and answers `MediaHandlerOutput` (see combine.py / resize.py for each task's rules).
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

from gpu_handlers import media_io
from gpu_handlers.ffmpeg_video import combine, resize

HANDLER_ID = "ffmpeg-video"
TASKS = {"video.combine": combine.run, "video.resize": resize.run}


def load_pipeline(model_dir: str | os.PathLike[str] | None = None) -> None:
    """Check the tools are installed (model_dir is accepted for the common interface)."""
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"{HANDLER_ID}: {', '.join(missing)} not on PATH")
    return None


def generate(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one `video.combine` / `video.resize` job and answer its MediaHandlerOutput dump."""
    started = time.monotonic()
    job = media_io.parse(payload, HANDLER_ID)
    with media_io.workdir() as work:
        out, meta = TASKS[job.task](job, work)
        return media_io.deliver(job, out, meta, started=started)
