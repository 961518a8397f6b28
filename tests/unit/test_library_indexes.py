"""Every query shape the library's list can build has its composite index declared in
infra/firestore/firestore.indexes.json (production refuses a query without one; the
emulator does not, so only this test notices)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from shared.library import catalog, records

INDEXES = Path(__file__).resolve().parents[2] / "infra" / "firestore" / "firestore.indexes.json"

Fields = tuple[tuple[str, str], ...]


def declared(collection: str) -> set[Fields]:
    indexes = json.loads(INDEXES.read_text())["indexes"]
    return {
        tuple((f["fieldPath"], f.get("order") or f["arrayConfig"]) for f in i["fields"])
        for i in indexes
        if i["collectionGroup"] == collection and i["queryScope"] == "COLLECTION"
    }


def every_query() -> list[catalog.ListQuery]:
    """One query per combination that can change the shape: sort x range x residuals x
    equality filters (the last two must not change it)."""
    options = itertools.product(
        records.SORTS,
        [None, 0, 63],
        [{}, {"search": "x"}, {"tags": "a,b"}],
        [{}, {"category": "LoRA", "baseModel": "SDXL", "hasMetadata": "true"}],
    )
    return [
        catalog.ListQuery.model_validate({"sort": s, "maxNsfwLevel": n, **residual, **equal})
        for s, n, residual, equal in options
    ]


def index_for(shape: catalog.Shape) -> Fields:
    """The composite index serving a shape: array-contains, then the order-by fields (the
    range field among them, after the sort field: Firestore's equality, order, inequality)."""
    assert shape.range_field is None or shape.range_field in {f for f, _ in shape.orders}
    return ((shape.array_contains, "CONTAINS"), *shape.orders)


def test_every_list_query_shape_has_its_composite_index() -> None:
    have = declared(records.MODELS)
    missing = {
        index_for(catalog.query_shape(q))
        for q in every_query()
        if index_for(catalog.query_shape(q)) not in have
    }
    assert not missing, f"declare these library_models indexes: {sorted(missing)}"


def test_every_sort_orders_by_its_field_then_the_tie_break() -> None:
    for sort, (field, descending) in records.SORTS.items():
        shape = catalog.query_shape(catalog.ListQuery(sort=sort))  # type: ignore[arg-type]
        assert shape.orders[0] == (field, "DESCENDING" if descending else "ASCENDING")
        assert shape.orders[1:] == catalog.TIE_BREAK
        assert shape.orders[-1][0] == "__name__"


def test_the_range_filter_does_not_change_the_index_a_sort_needs() -> None:
    for sort in records.SORTS:
        plain = catalog.query_shape(catalog.ListQuery(sort=sort))  # type: ignore[arg-type]
        ranged = catalog.query_shape(catalog.ListQuery(sort=sort, maxNsfwLevel=3))  # type: ignore[arg-type]
        assert index_for(plain) == index_for(ranged)
        assert ranged.range_field == "nsfwLevel"
