"""The ledger against the Firestore emulator: exactly-once entries and exact spending."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.engine import audit, identity, jobs, ledger
from shared.engine.errors import AppError, ErrorKind
from shared.engine.jobs import JobCreate
from shared.engine.store import ACCOUNTS, SHARDS, db
from tests.stack_fixture import IDLE_MODEL


@pytest.fixture
def account(stack: object) -> str:
    return identity.create_account(email=f"ledger-{uuid.uuid4().hex[:10]}@example.com").id


def _reserve_and_hold(account_id: str, micros: int) -> str:
    """A job that holds `micros` and waits on a RunPod endpoint with no workers."""
    job = jobs.submit(
        JobCreate(
            account_id=account_id,
            site="pics",
            model=IDLE_MODEL,
            backend="runpod",
            input={},
            price_micros=micros,
        )
    )
    return job.id


def test_repeated_credit_entry_is_applied_once(account: str) -> None:
    ref = str(uuid.uuid4())
    applied = [
        ledger.credit(account_id=account, kind=ledger.EntryKind.GRANT, ref=ref, micros=70_000)
        for _ in range(3)
    ]
    assert applied == [True, False, False]
    assert ledger.balance(account).balance_micros == 70_000
    assert audit.check(account)["ok"]


def test_concurrent_repeats_of_one_credit_apply_once(account: str) -> None:
    ref = str(uuid.uuid4())
    with ThreadPoolExecutor(10) as pool:
        applied = list(
            pool.map(
                lambda _: ledger.credit(
                    account_id=account, kind=ledger.EntryKind.TOPUP, ref=ref, micros=5_000
                ),
                range(10),
            )
        )
    assert applied.count(True) == 1
    assert ledger.balance(account).balance_micros == 5_000


def test_concurrent_holds_never_exceed_the_balance(account: str) -> None:
    ledger.credit(
        account_id=account, kind=ledger.EntryKind.GRANT, ref=str(uuid.uuid4()), micros=25 * 10_000
    )

    def attempt(_: int) -> bool:
        try:
            _reserve_and_hold(account, 10_000)
            return True
        except AppError as exc:
            assert exc.kind is ErrorKind.INSUFFICIENT_FUNDS
            return False

    with ThreadPoolExecutor(40) as pool:
        outcomes = list(pool.map(attempt, range(40)))
    assert outcomes.count(True) == 25
    money = ledger.balance(account)
    assert (money.balance_micros, money.held_micros, money.available_micros) == (
        250_000,
        250_000,
        0,
    )
    assert audit.check(account)["ok"]


def test_hold_larger_than_any_shard_consolidates(account: str) -> None:
    # Many small grants land on different shards; one hold needs them all.
    for _ in range(12):
        ledger.credit(
            account_id=account, kind=ledger.EntryKind.GRANT, ref=str(uuid.uuid4()), micros=10_000
        )
    shards = ledger.read_shards(account)
    assert max(s["available_micros"] for s in shards.values()) < 120_000
    _reserve_and_hold(account, 120_000)
    assert ledger.balance(account).available_micros == 0
    assert audit.check(account)["ok"]


def test_hold_beyond_available_is_refused_and_changes_nothing(account: str) -> None:
    ledger.credit(
        account_id=account, kind=ledger.EntryKind.GRANT, ref=str(uuid.uuid4()), micros=10_000
    )
    with pytest.raises(AppError) as err:
        _reserve_and_hold(account, 20_000)
    assert err.value.kind is ErrorKind.INSUFFICIENT_FUNDS
    assert ledger.balance(account).available_micros == 10_000
    assert audit.check(account)["ok"]


def test_audit_detects_money_changed_without_an_entry(account: str) -> None:
    ledger.credit(
        account_id=account, kind=ledger.EntryKind.GRANT, ref=str(uuid.uuid4()), micros=10_000
    )
    shard = db().collection(ACCOUNTS).document(account).collection(SHARDS).document("0")

    def tamper(micros: int) -> None:
        shard.set(
            {
                "balance_micros": ledger.increment(micros),
                "available_micros": ledger.increment(micros),
            },
            merge=True,
        )

    tamper(1)
    try:
        result = audit.check(account)
    finally:
        tamper(-1)  # repaired, so the module's closing full-ledger audit still runs
    assert not result["ok"]
    assert result["problems"] == [f"{account}: balance 10001 != entries 10000"]
    assert audit.check(account)["ok"]


def test_crashed_reservation_is_returned_by_the_sweep(account: str) -> None:
    import datetime as dt

    ledger.credit(
        account_id=account, kind=ledger.EntryKind.GRANT, ref=str(uuid.uuid4()), micros=30_000
    )
    ledger.reserve(account_id=account, reservation_id=str(uuid.uuid4()), micros=20_000)
    assert ledger.balance(account).available_micros == 10_000
    assert ledger.expire_reservations(older_than=dt.timedelta(0)) == 1
    assert ledger.balance(account).available_micros == 30_000
    assert audit.check(account)["ok"]
