"""Idempotent submit: one key, one job, one hold; over HTTP at PicShapes and in the engine."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from shared.engine import audit, idempotency, jobs, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from tests.helpers import auth, new_account, site_url
from tests.integration.runpod_faults import idle_create

INDEXES = Path(__file__).parents[2] / "infra" / "firestore" / "firestore.indexes.json"
BODY = {"prompt": "a lighthouse", "model": "z-image-turbo", "tier": "basic", "width": 64}


def _holds(account_id: str) -> list[dict]:
    return [e for e in ledger.entries(account_id) if e["kind"] == "hold"]


def _post(stack, key: str, body: dict, idem: str | bytes | None) -> httpx.Response:
    headers = auth(key) | ({"Idempotency-Key": idem} if idem is not None else {})
    return httpx.post(
        f"{site_url(stack, 'pics')}/api/v1/jobs", json=body, headers=headers, timeout=60
    )


def test_same_idempotency_key_retried_returns_the_first_job_and_holds_once(stack) -> None:
    account_id, key = new_account(credits=5)
    idem = f"retry-{uuid.uuid4()}"
    first = _post(stack, key, BODY, idem)
    again = _post(stack, key, BODY, idem)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert len(_holds(account_id)) == 1
    assert ledger.balance(account_id).available_micros == 40_000
    assert audit.check(account_id)["ok"]


def test_twenty_concurrent_submits_with_one_key_make_one_job_and_one_hold(stack) -> None:
    account_id, key = new_account(credits=1)  # affords exactly one job
    idem = f"race-{uuid.uuid4()}"
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda _: _post(stack, key, BODY, idem), range(20)))
    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(_holds(account_id)) == 1
    money = ledger.balance(account_id)
    assert (money.balance_micros, money.held_micros, money.available_micros) in (
        (10_000, 10_000, 0),  # still held
        (0, 0, 0),  # or already captured
    )
    assert audit.check(account_id)["ok"]


def test_idempotency_key_reused_with_another_body_is_409_and_holds_nothing(stack) -> None:
    account_id, key = new_account(credits=5)
    idem = f"reuse-{uuid.uuid4()}"
    assert _post(stack, key, BODY, idem).status_code == 201
    other = _post(stack, key, BODY | {"prompt": "a different picture"}, idem)
    assert other.status_code == 409
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(_holds(account_id)) == 1
    assert ledger.balance(account_id).available_micros == 40_000


def test_the_same_key_on_two_accounts_makes_two_jobs(stack) -> None:
    idem = f"shared-{uuid.uuid4()}"
    (_, key_a), (_, key_b) = new_account(credits=1), new_account(credits=1)
    a, b = _post(stack, key_a, BODY, idem), _post(stack, key_b, BODY, idem)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.parametrize("bad", ["x" * 256, "", "caf\u00e9", "tab\there"])
def test_malformed_idempotency_key_is_400_and_changes_nothing(stack, bad: str) -> None:
    account_id, key = new_account(credits=1)
    response = _post(stack, key, BODY, bad.encode())  # bytes: sent as they are
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_REQUEST"
    assert ledger.entries(account_id) and not _holds(account_id)
    assert ledger.balance(account_id).available_micros == 10_000


def test_engine_submit_refuses_a_reused_key_before_reserving(stack) -> None:
    account_id, _ = new_account(credits=2)
    idem = f"engine-{uuid.uuid4()}"
    first = jobs.submit(
        idle_create(account_id, idempotency_key=idem, request_fingerprint="a"), dispatch=False
    )
    with pytest.raises(AppError) as caught:
        jobs.submit(
            idle_create(account_id, idempotency_key=idem, request_fingerprint="b"),
            dispatch=False,
        )
    assert caught.value.kind is ErrorKind.CONFLICT
    assert caught.value.details == {"code": "IDEMPOTENCY_KEY_REUSED"}
    found = jobs.find_by_idempotency_key(account_id=account_id, key=idem)
    assert found is not None and found.id == first.id
    assert ledger.balance(account_id).available_micros == 10_000


def test_a_duplicate_reserving_after_the_first_landed_answers_the_first_job(stack) -> None:
    """The window the 20-way race hits now and then: a duplicate checked for the key just
    before the first submit landed, then reserves after the first one spent the account's
    last money. It must answer the first job, not "insufficient credits"."""
    account_id, _ = new_account(credits=1)  # affords exactly one job
    create = idle_create(
        account_id, idempotency_key=f"late-{uuid.uuid4()}", request_fingerprint="a"
    )
    first = jobs.submit(create, dispatch=False)
    # The racing duplicate's next step after its (too early) replay check: the atomic create.
    again, created = jobs._create(
        create, job_id=str(uuid.uuid4()), initial_state=jobs.JobState.PENDING, fields=None
    )
    assert (again.id, created) == (first.id, False)
    assert len(_holds(account_id)) == 1
    assert ledger.balance(account_id).available_micros == 0
    assert audit.check(account_id)["ok"]


def test_a_duplicate_while_the_first_is_reserved_but_not_landed_waits_for_its_job(
    stack,
) -> None:
    """The other window of the race: the first submit has reserved the account's last money
    under the key's reservation and is still writing its batch. The duplicate finds nothing
    to reserve; it must wait for the first job, not answer "insufficient credits"."""
    account_id, _ = new_account(credits=1)  # affords exactly one job
    create = idle_create(account_id, idempotency_key=f"mid-{uuid.uuid4()}", request_fingerprint="a")
    reservation = idempotency.reservation_id(account_id=account_id, key=create.idempotency_key)
    shard = ledger.reserve(account_id=account_id, reservation_id=reservation, micros=10_000)
    with ThreadPoolExecutor(1) as pool:
        duplicate = pool.submit(
            jobs._create,
            create,
            job_id=str(uuid.uuid4()),
            initial_state=jobs.JobState.PENDING,
            fields=None,
        )
        time.sleep(0.5)  # the duplicate is waiting now (or would already have failed)
        assert not duplicate.done()
        # The first submit's batch: give its reservation back and let it land whole.
        ledger.undo_reservation(
            account_id=account_id, reservation_id=reservation, shard=shard, micros=10_000
        )
        first = jobs.submit(create, dispatch=False)
        again, created = duplicate.result(timeout=30)
    assert (again.id, created) == (first.id, False)
    assert len(_holds(account_id)) == 1
    assert audit.check(account_id)["ok"]


def test_a_duplicate_whose_first_never_lands_is_a_retryable_conflict_not_402(stack) -> None:
    account_id, _ = new_account(credits=1)
    create = idle_create(
        account_id, idempotency_key=f"stuck-{uuid.uuid4()}", request_fingerprint="a"
    )
    reservation = idempotency.reservation_id(account_id=account_id, key=create.idempotency_key)
    ledger.reserve(account_id=account_id, reservation_id=reservation, micros=10_000)
    with pytest.raises(AppError) as caught:
        jobs.submit(create, dispatch=False)
    assert caught.value.kind is ErrorKind.CONFLICT
    assert not _holds(account_id)


def test_idempotency_record_is_kept_thirty_days_under_a_ttl_policy(stack) -> None:
    account_id, _ = new_account(credits=1)
    idem = f"ttl-{uuid.uuid4()}"
    jobs.submit(
        idle_create(account_id, idempotency_key=idem, request_fingerprint="a"), dispatch=False
    )
    ref = (
        db()
        .collection(idempotency.IDEMPOTENCY)
        .document(idempotency.record_id(account_id=account_id, key=idem))
    )
    record = ref.get().to_dict()
    assert record[idempotency.EXPIRES_AT] - record["created_at"] == dt.timedelta(days=30)
    overrides = json.loads(INDEXES.read_text())["fieldOverrides"]
    assert {
        "collectionGroup": idempotency.IDEMPOTENCY,
        "fieldPath": idempotency.EXPIRES_AT,
        "ttl": True,
        "indexes": [],
    } in overrides


def test_key_whose_record_expired_makes_a_new_job_not_a_stuck_conflict(stack) -> None:
    account_id, _ = new_account(credits=2)
    idem = f"expired-{uuid.uuid4()}"
    first = jobs.submit(
        idle_create(account_id, idempotency_key=idem, request_fingerprint="a"), dispatch=False
    )
    # What the TTL policy does once the record's expires_at has passed.
    db().collection(idempotency.IDEMPOTENCY).document(
        idempotency.record_id(account_id=account_id, key=idem)
    ).delete()
    second = jobs.submit(
        idle_create(account_id, idempotency_key=idem, request_fingerprint="b"), dispatch=False
    )
    assert second.id != first.id
    assert len(_holds(account_id)) == 2
    assert ledger.balance(account_id).available_micros == 0
    assert audit.check(account_id)["ok"]
