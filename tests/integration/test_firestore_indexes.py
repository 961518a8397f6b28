"""Every query the code makes is served by infra/firestore/firestore.indexes.json.

The emulator serves any query; production refuses one that needs a composite index it
lacks. So this test runs the code's query paths against the emulator, records the shape of
each query it actually sends (collection, equality fields, range and order fields), and
checks each shape against the declared indexes. A shape needs no composite index when it
touches one field, or only equality fields (Firestore merges single-field indexes). Otherwise
it is covered by an index on its equality fields (any order) followed by its range/order
fields in order, or, with one order field, by merging one such index per equality field.
A source file that builds queries but is not exercised here fails the test, so a new query
path cannot slip past it.
"""

from __future__ import annotations

import datetime as dt
import json
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud.firestore_v1.query import Query

REPO = Path(__file__).resolve().parents[2]
INDEXES = REPO / "infra" / "firestore" / "firestore.indexes.json"
EQUALITY = {"EQUAL", "IN", "ARRAY_CONTAINS", "ARRAY_CONTAINS_ANY"}

Shape = tuple[str, frozenset[str], tuple[tuple[str, str], ...]]


def shape_of(query: Query) -> Shape:
    proto = Query._to_protobuf(query)
    where = proto.where
    leaves = list(where.composite_filter.filters) if "composite_filter" in where else [where]
    equal: set[str] = set()
    ranged: list[str] = []
    for leaf in leaves:
        if "field_filter" not in leaf:
            continue
        field = leaf.field_filter.field.field_path
        op = leaf.field_filter.op.name
        (equal.add(field) if op in EQUALITY else ranged.append(field))
    orders = [(o.field.field_path, o.direction.name) for o in proto.order_by]
    ordered = {f for f, _ in orders}
    # Firestore orders by the range field first (ascending) when the query does not say.
    # Two bounds on one field (a prefix range) are one range field.
    suffix = [(f, "ASCENDING") for f in dict.fromkeys(ranged) if f not in ordered] + orders
    return proto.from_[0].collection_id, frozenset(equal), tuple(suffix)


def needs_composite(shape: Shape) -> bool:
    _, equal, suffix = shape
    return bool(suffix) and len(equal) + len(suffix) > 1


def declared() -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    indexes = json.loads(INDEXES.read_text())["indexes"]
    return {
        (
            i["collectionGroup"],
            tuple((f["fieldPath"], f.get("order", f.get("arrayConfig"))) for f in i["fields"]),
        )
        for i in indexes
    }


def covered(shape: Shape, indexes: set[tuple[str, tuple[tuple[str, str], ...]]]) -> bool:
    collection, equal, suffix = shape
    for group, fields in indexes:
        n = len(equal)
        if group == collection and {f for f, _ in fields[:n]} == equal and fields[n:] == suffix:
            return True
    # Index merging: one (equality field, sort field) index per equality field.
    return len(suffix) == 1 and all(
        (collection, ((e, "ASCENDING"), *suffix)) in indexes for e in equal
    )


@pytest.fixture
def recorded(monkeypatch) -> Iterator[dict[Shape, set[str]]]:
    """Query shapes sent while the test runs, with the shared/ files that built them."""
    shapes: dict[Shape, set[str]] = {}
    real_stream = Query.stream

    def stream(self: Query, *args: Any, **kwargs: Any) -> Any:
        callers = {
            str(Path(f.filename).resolve().relative_to(REPO))
            for f in traceback.extract_stack()
            if f.filename.startswith(str(REPO / "shared"))
        }
        shapes.setdefault(shape_of(self), set()).update(callers)
        return real_stream(self, *args, **kwargs)

    monkeypatch.setattr(Query, "stream", stream)
    yield shapes


def _run_every_query_path() -> None:
    from shared.engine import audit, identity, jobs, ledger
    from shared.engine.store import db
    from shared.grid import blobs, claims, work, workers
    from shared.grid import jobs as grid_jobs
    from shared.grid import queue as grid_queue
    from shared.market import (
        analytics,
        catalog,
        developers,
        earnings,
        marketplace,
        notebooks,
        payout_events,
        records,
        tars_models,
    )
    from shared.market import runs as market_runs
    from shared.market.run_views import RunStatus
    from shared.media import stripe_topups, x402_purchase
    from shared.media.affiliates import commissions, profiles

    now = dt.datetime.now(dt.UTC)
    account = identity.create_account(email=f"idx-{uuid.uuid4().hex[:10]}@example.com")
    key_raw = identity.create_api_key(account_id=account.id, site=identity.Site.GRID)
    key = identity.authenticate_key(key_raw)
    filters: list[dict[str, Any]] = [
        {},
        {"status": "pending"},
        {"model": "m"},
        {"tag": "t"},
        {"start": now - dt.timedelta(days=1), "end": now},
        {"status": "running", "model": "m", "tag": "t", "start": now, "end": now},
    ]
    for extra in filters:
        args = {"status": None, "model": None, "tag": None, "start": None, "end": None, **extra}
        grid_jobs.list_jobs(account_id=account.id, offset=0, **args)
    grid_jobs.cancel_all(account_id=account.id)
    grid_jobs.release_quota_held(now=now)
    claims._candidates(models={"m"}, families={"f"}, catch_all=True)
    claims._candidates(
        models={"m", "n"}, families={"f", "g"}, catch_all=True, slots=[1, -1], depth=2
    )
    claims.held_count(workers.Worker(id=1, account_id=account.id, last_seen=now, created_at=now))
    grid_queue.backfill()
    blobs.sweep_uploads(now - dt.timedelta(days=365))
    work.sweep_grid(now=now)
    workers.register(
        key=key, request=workers.RegisterRequest(name="idx", models=[]), key_worker_id=None
    )
    workers.catalog(now)
    jobs.overdue(now=now)
    market_runs.tars_model_by_slug("idx-no-such-model")
    for run_status in (None, RunStatus.RUNNING):
        market_runs.list_runs(account_id=account.id, status=run_status, page=2, limit=5)
    ledger.expire_reservations()
    ledger.entries(account.id)
    audit.check(account.id)
    identity.list_api_keys(account.id)
    from shared.engine.errors import AppError
    from shared.media import signin

    with pytest.raises(AppError):  # no live code: a guess from a network without one
        signin.verify_email(email="idx@example.com", code="000000", network="192.0.2.1")
    stripe_topups._topup_for_payment_intent(f"pi_{uuid.uuid4().hex}")
    x402_purchase.reconcile()
    analytics.creator_runs(creator_id=account.id, since=now - dt.timedelta(days=7))
    analytics.creator_runs(creator_id=account.id, since=None)
    earnings.payouts_of(account.id)
    payout_events.sweep(now)
    profiles.newest(
        db().collection("affiliates").document(account.id).collection("commissions"),
        field="created_at",
        limit=5,
    )
    commissions.held_micros(account.id)
    from shared.media.affiliates import fingerprints

    fingerprints.same_payer(account.id, f"idx-{uuid.uuid4().hex[:10]}")
    from tests.market_helpers import register_developer

    register_developer(account.id)
    notebooks.owned_by(account.id)
    notebooks.published()
    for status in (None, "DRAFT"):
        query = tars_models.TarsListQuery.model_validate({"status": status})
        tars_models.list_own(account_id=account.id, query=query)
    marketplace.list_published(marketplace.MarketQuery())
    developers.pending_payout_credits(account.id)
    developers.notebook_count(account.id)
    catalog.active_base_models(category=None)
    catalog.active_base_models(category=records.Category.IMAGE)
    _run_library_query_paths()
    _run_arcade_query_paths(account.id)
    from shared.media.jobs import completion as media_completion

    media_completion.sweep(now)  # terminal media jobs whose callback is still pending
    _run_studio_query_paths(account.id)


def _run_library_query_paths() -> None:
    from shared.library import catalog as library_catalog
    from shared.library import scan as library_scan
    from shared.library import user_images

    for sort in library_catalog.records.SORTS:
        for extra in ({}, {"maxNsfwLevel": "3"}, {"search": "x", "tags": "a,b"}):
            query = library_catalog.ListQuery.from_args([("sort", sort), *extra.items()])
            library_catalog.list_models(query)
    user_images.list_docs(1)
    library_scan.run(under="index-probe-empty-folder")  # the records-under-a-folder range


def _run_studio_query_paths(account_id: str) -> None:
    from shared.media.studio import listing, snapshot, workspace

    project = workspace.create_project(account_id=account_id, title="idx")
    thread = workspace.create_thread(account_id=account_id, project_id=project.id)
    workspace.messages(thread)
    workspace.list_threads(account_id, project.id)
    listing.list_assets(account_id=account_id, project_id=project.id, search="x")
    snapshot.build(account_id)  # projects, first asset page, runs, approvals, arcade games
    from shared.media.studio.agent import tools as agent_tools

    ctx = agent_tools.ToolContext(account_id=account_id, project_id=project.id)
    agent_tools.list_assets(ctx, {})
    agent_tools._attached(ctx, "00000000-0000-0000-0000-000000000000")


def _run_arcade_query_paths(account_id: str) -> None:
    from shared.media.arcade import games as arcade_games
    from shared.media.arcade import releases as arcade_releases

    for channel in arcade_games.Channel:
        for admin in (False, True):
            arcade_games.catalog(channel, caller_id=account_id, admin=admin)
    arcade_releases.for_owner(account_id)
    arcade_releases.in_status(arcade_releases.Status.IN_REVIEW)


def test_every_query_shape_has_its_composite_index(stack, recorded) -> None:
    _run_every_query_path()
    indexes = declared()
    missing = [
        f"{s[0]}: equal {sorted(s[1])} then {list(s[2])} (built in {sorted(files)})"
        for s, files in recorded.items()
        if needs_composite(s) and not covered(s, indexes)
    ]
    assert not missing, "\n".join(["no composite index for:", *missing])


def test_every_file_that_builds_queries_is_exercised(stack, recorded) -> None:
    _run_every_query_path()
    exercised = set().union(*recorded.values())
    building = {
        str(p.relative_to(REPO))
        for p in (REPO / "shared").rglob("*.py")
        if ".where(" in p.read_text() or ".order_by(" in p.read_text()
    }
    assert building <= exercised, sorted(building - exercised)
