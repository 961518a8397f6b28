"""Field types the market's request models share (one rule each)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_URL = 2048
_HTTP_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)


def _http_url(value: str) -> str:
    if not _HTTP_URL.match(value):
        raise ValueError("must be an http or https URL")
    return value


# An http(s) URL with a host, at most 2048 characters, kept as the client wrote it.
WebUrl = Annotated[str, Field(max_length=MAX_URL), AfterValidator(_http_url)]
