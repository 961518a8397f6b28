"""Input errors every runtime reports the same way, without importing torch.

Invariant: an input error becomes the one-line message `"invalid input: ..."` (field path and
reason, no pydantic doc URLs), whichever runtime (RunPod, Modal) reports it; anything else is
not an input error and is left to the runtime's own failure reporting.
"""

from __future__ import annotations

from pydantic import ValidationError


class ModelMismatchError(ValueError):
    """The payload asks for a different model than this handler serves."""


class MediaInputError(ValueError):
    """A media payload or one of its inputs cannot be used (another handler's payload, a
    staged file that is not what it claims)."""


def describe_input_error(exc: BaseException) -> str | None:
    """`"invalid input: ..."` for a schema or model-mismatch error, else None."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in err["loc"]) or "input"
            parts.append(f"{loc}: {err['msg']}")
        return "invalid input: " + "; ".join(parts)
    if isinstance(exc, ModelMismatchError | MediaInputError):
        return f"invalid input: {exc}"
    return None
