"""configOverrides as partial inputs of a base model, and creator price bounds (pure rules)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from shared.engine.errors import AppError
from shared.market.overrides import check_overrides, check_price, effective_price
from shared.market.records import BaseModelRecord, Category

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string", "minLength": 1},
        "steps": {"type": "integer", "minimum": 1, "maximum": 50},
        "style": {"$ref": "#/$defs/style"},
    },
    "$defs": {"style": {"enum": ["anime", "photo"]}},
}


def base(schema: dict[str, Any] | None = None, **fields: Any) -> BaseModelRecord:
    now = dt.datetime.now(dt.UTC)
    values: dict[str, Any] = {
        "id": "b",
        "endpoint_id": "e",
        "slug": "base",
        "name": "Base",
        "category": Category.IMAGE,
        "input_schema_json": json.dumps(SCHEMA if schema is None else schema),
        "output_type": "IMAGE",
        "price_credits": 10,
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    return BaseModelRecord(**values)


def refused_fields(record: BaseModelRecord, overrides: dict[str, Any]) -> list[str]:
    with pytest.raises(AppError) as caught:
        check_overrides(base=record, overrides=overrides)
    assert caught.value.details["code"] == "ERR_2001"
    return [f["field"] for f in caught.value.details["fields"]]


def test_a_partial_input_without_required_fields_is_accepted() -> None:
    check_overrides(base=base(), overrides={"steps": 30, "style": "anime"})
    check_overrides(base=base(), overrides={})


def test_unknown_keys_and_invalid_values_are_named() -> None:
    fields = refused_fields(base(), {"steps": 0, "style": "cubism", "negative": "x"})
    assert fields == [
        "configOverrides.negative",
        "configOverrides.steps",
        "configOverrides.style",
    ]


def test_a_schema_without_properties_allows_any_key_unless_it_forbids_extras() -> None:
    check_overrides(base=base({"type": "object"}), overrides={"anything": 1})
    closed = base({"type": "object", "additionalProperties": False})
    assert refused_fields(closed, {"anything": 1}) == ["configOverrides.anything"]
    typed = base({"type": "object", "additionalProperties": {"type": "integer"}})
    check_overrides(base=typed, overrides={"n": 3})
    assert refused_fields(typed, {"n": "three"}) == ["configOverrides.n"]


def test_a_broken_base_schema_refuses_overrides_instead_of_failing() -> None:
    broken = base({"type": "object", "properties": {"x": {"type": "no-such-type"}}})
    with pytest.raises(AppError) as caught:
        check_overrides(base=broken, overrides={"x": 1})
    assert caught.value.details["code"] == "ERR_2001"


def test_price_lies_between_the_base_price_and_its_maximum() -> None:
    ranged = base(max_price_credits=30)
    check_price(base=ranged, price_credits=None)
    for price in (10, 30):
        check_price(base=ranged, price_credits=price)
    for price in (9, 31):
        with pytest.raises(AppError):
            check_price(base=ranged, price_credits=price)
    with pytest.raises(AppError):
        check_price(base=base(), price_credits=11)  # no maximum: exactly the base price
    assert effective_price(base=ranged, price_credits=None) == 10
    assert effective_price(base=ranged, price_credits=25) == 25


def test_a_stored_price_outside_narrowed_bounds_is_charged_within_them() -> None:
    # A creator priced at 25 when the maximum was 30; admin later narrowed the bounds.
    assert effective_price(base=base(max_price_credits=20), price_credits=25) == 20
    assert effective_price(base=base(max_price_credits=None), price_credits=25) == 10
    raised = base(price_credits=30, max_price_credits=40)  # the base price went up
    assert effective_price(base=raised, price_credits=25) == 30
