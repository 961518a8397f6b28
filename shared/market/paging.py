"""Page-numbered lists, as the Tarsify document pages them.

`page` starts at 1; `limit` is 1..100 (default 20 unless a route documents another);
anything else is refused (ERR_2002 at the doorway). `meta` is `{page, limit, total,
totalPages}`. Pages are cut from a list the service has already filtered and ordered, so a
page is stable for equal inputs; `MAX_PAGE` bounds how far a client can make us read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
MAX_LIMIT = 100
MAX_PAGE = 10_000


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    page: int = Field(1, ge=1, le=MAX_PAGE)
    limit: int = Field(20, ge=1, le=MAX_LIMIT)


def meta(*, page: int, limit: int, total: int) -> dict[str, Any]:
    return {"page": page, "limit": limit, "total": total, "totalPages": math.ceil(total / limit)}


def cut(items: Sequence[T], *, page: int, limit: int) -> list[T]:
    start = (page - 1) * limit
    return list(items[start : start + limit])
