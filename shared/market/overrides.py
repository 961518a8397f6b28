"""What a creator may configure on a tars model: its `configOverrides` and its price.

- `configOverrides` is a PARTIAL input of the base model: every key must be a property of
  the base model's input schema (when the schema lists properties or sets
  `additionalProperties: false`), and every value must be valid for its property's schema.
  `required` never applies: an override fixes some fields, the consumer supplies the rest.
  The handler's fixed input is not in the consumer schema, so it can never be overridden.
- A run's price is the base model's `price_credits` unless the creator sets one between
  that and the base model's `max_price_credits` (= `price_credits` when unset).
Both refuse with ERR_2001 and details naming the field; nothing is written on refusal.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError
from referencing.exceptions import Unresolvable

from shared.engine.errors import AppError, ErrorKind
from shared.market.records import BaseModelRecord

FIELD = "configOverrides"
MAX_REPORTED = 20


def _invalid(message: str, fields: list[dict[str, str]]) -> AppError:
    return AppError(ErrorKind.INVALID, message, {"code": "ERR_2001", "fields": fields})


def _partial_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], set[str] | None]:
    """The schema an override must satisfy, and the keys it may use (None: any key)."""
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    additional = schema.get("additionalProperties", True)
    partial: dict[str, Any] = {"type": "object", "properties": properties}
    for defs in ("$defs", "definitions"):  # so property `$ref`s still resolve
        if defs in schema:
            partial[defs] = schema[defs]
    if "$schema" in schema:
        partial["$schema"] = schema["$schema"]
    if properties or additional is False:
        return partial, set(properties)
    if isinstance(additional, dict):
        partial["additionalProperties"] = additional
    return partial, None


def check_overrides(*, base: BaseModelRecord, overrides: dict[str, Any]) -> None:
    """Refuse (ERR_2001) overrides that are not a valid partial input of `base`."""
    partial, allowed = _partial_schema(base.input_schema)
    fields: list[dict[str, str]] = []
    if allowed is not None:
        fields += [
            {"field": f"{FIELD}.{key}", "message": "not an input of the base model"}
            for key in sorted(overrides)
            if key not in allowed
        ]
    try:
        validator_class = jsonschema.validators.validator_for(partial)
        validator_class.check_schema(partial)
        validator = validator_class(partial)
        errors = sorted(validator.iter_errors(overrides), key=lambda e: list(e.absolute_path))
    except (SchemaError, Unresolvable) as exc:
        # The base model's schema is the admin's; a broken one refuses overrides, not a 500.
        raise _invalid("The base model's input schema cannot validate overrides", []) from exc
    for error in errors:
        path = ".".join(str(p) for p in error.absolute_path)
        fields.append(
            {"field": f"{FIELD}.{path}" if path else FIELD, "message": error.message[:300]}
        )
    if fields:
        raise _invalid("configOverrides is not valid for the base model", fields[:MAX_REPORTED])


def price_bounds(base: BaseModelRecord) -> tuple[int, int]:
    low = base.price_credits
    high = base.max_price_credits if base.max_price_credits is not None else low
    return low, max(low, high)


def check_price(*, base: BaseModelRecord, price_credits: int | None) -> None:
    """Refuse (ERR_2001) a creator price outside the base model's bounds; None is the
    base model's price."""
    if price_credits is None:
        return
    low, high = price_bounds(base)
    if not low <= price_credits <= high:
        raise _invalid(
            f"priceCredits must be between {low} and {high}",
            [{"field": "priceCredits", "message": f"must be between {low} and {high}"}],
        )


def effective_price(*, base: BaseModelRecord, price_credits: int | None) -> int:
    """What a run costs: the creator's price, else the base model's; always within the base
    model's current bounds (an admin who narrows them after a creator priced a model wins)."""
    low, high = price_bounds(base)
    return low if price_credits is None else min(max(price_credits, low), high)
