"""Saving a locally built model atomically, with a marker that says what it is.

Invariants: a reader never sees a half-written model directory (the save is written to a
temporary sibling and renamed into place); a finished save carries `TINY_MODEL.json`, so
a real model placed at the same path is never mistaken for a test model; two processes
building the same model at once both end with a complete save.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARKER_FILE = "TINY_MODEL.json"


def save_atomically(
    final: Path, write: Callable[[Path], dict[str, Any]], is_complete: Callable[[Path], bool]
) -> Path:
    """Run `write(tmp_dir)` (it saves the model and returns the marker's contents), then
    move the result to `final`, replacing an incomplete leftover."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        marker = write(tmp)
        (tmp / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")
        # mkdtemp (and safetensors) make owner-only entries; the final save is ordinary.
        tmp.chmod(0o755)
        for path in tmp.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        if final.exists():
            shutil.rmtree(final)  # incomplete leftover, or a forced rebuild
        # Rename is atomic on one filesystem: readers never see a half-written save.
        os.replace(tmp, final)
    except OSError:
        # Another process may have finished the same save first; theirs is as good.
        if not is_complete(final):
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
