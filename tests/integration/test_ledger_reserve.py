"""ledger.reserve, consolidate, expire_reservations and debit, one function at a time,
against the Firestore emulator."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.engine import audit, clock, identity, ledger, reservations, store
from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings
from shared.engine.store import LEDGER, RESERVATIONS, db


@pytest.fixture
def account(stack: object) -> str:
    return identity.create_account(email=f"reserve-{uuid.uuid4().hex[:10]}@example.com").id


def _grant(account_id: str, micros: int) -> None:
    ledger.credit(
        account_id=account_id, kind=ledger.EntryKind.GRANT, ref=str(uuid.uuid4()), micros=micros
    )


def _age(reservation_id: str, by: dt.timedelta) -> None:
    db().collection(RESERVATIONS).document(reservation_id).update({"created_at": clock.now() - by})


def test_reserve_larger_than_any_shard_consolidates_and_succeeds(account: str) -> None:
    for _ in range(12):
        _grant(account, 10_000)
    assert max(s["available_micros"] for s in ledger.read_shards(account).values()) < 120_000
    shard = ledger.reserve(account_id=account, reservation_id=str(uuid.uuid4()), micros=120_000)
    shards = ledger.read_shards(account)
    assert shards[shard]["available_micros"] == 0
    assert ledger.balance(account).balance_micros == 120_000
    assert ledger.balance(account).available_micros == 0
    assert audit.check(account)["ok"]


def test_consolidate_moves_every_available_micro_to_the_target(account: str) -> None:
    for _ in range(8):
        _grant(account, 7_000)
    ledger.consolidate(account, target=1)
    shards = ledger.read_shards(account)
    assert shards[1]["available_micros"] == shards[1]["balance_micros"] == 56_000
    assert all(s["balance_micros"] == 0 for k, s in shards.items() if k != 1)
    assert audit.check(account)["ok"]


def test_concurrent_reserves_never_overdraw(account: str) -> None:
    _grant(account, 100_000)

    def attempt(_: int) -> bool:
        try:
            ledger.reserve(account_id=account, reservation_id=str(uuid.uuid4()), micros=7_000)
        except AppError as exc:
            assert exc.kind is ErrorKind.INSUFFICIENT_FUNDS
            return False
        return True

    with ThreadPoolExecutor(24) as pool:
        won = sum(pool.map(attempt, range(24)))
    assert won == 100_000 // 7_000
    assert ledger.balance(account).available_micros == 100_000 - won * 7_000
    assert all(s["available_micros"] >= 0 for s in ledger.read_shards(account).values())
    assert audit.check(account)["ok"]


def test_expire_reservations_returns_stale_ones_and_keeps_fresh_ones(account: str) -> None:
    _grant(account, 50_000)
    stale, fresh = str(uuid.uuid4()), str(uuid.uuid4())
    ledger.reserve(account_id=account, reservation_id=stale, micros=20_000)
    ledger.reserve(account_id=account, reservation_id=fresh, micros=10_000)
    _age(stale, ledger.STALE_RESERVATION + dt.timedelta(seconds=5))
    assert ledger.expire_reservations() == 1
    assert not db().collection(RESERVATIONS).document(stale).get().exists
    assert db().collection(RESERVATIONS).document(fresh).get().exists
    assert ledger.balance(account).available_micros == 40_000
    assert audit.check(account)["ok"]


def test_debit_in_flight_elsewhere_is_a_conflict_not_applied(account: str) -> None:
    _grant(account, 50_000)
    ref = str(uuid.uuid4())
    eid = ledger.entry_id(ledger.EntryKind.PAYOUT, ref)
    # Another request has reserved this very debit and not yet written it.
    ledger.reserve(account_id=account, reservation_id=eid, micros=20_000)
    with pytest.raises(AppError) as err:
        ledger.debit(account_id=account, kind=ledger.EntryKind.PAYOUT, ref=ref, micros=20_000)
    assert err.value.kind is ErrorKind.CONFLICT
    assert not db().collection(LEDGER).document(eid).get().exists
    assert ledger.balance(account).balance_micros == 50_000


def test_debit_waits_for_the_same_debit_finishing_elsewhere(account: str) -> None:
    _grant(account, 50_000)
    ref = str(uuid.uuid4())
    eid = ledger.entry_id(ledger.EntryKind.PAYOUT, ref)
    shard = ledger.reserve(account_id=account, reservation_id=eid, micros=20_000)
    # The other request gives up its reservation shortly: this debit then goes ahead.
    threading.Timer(
        0.3,
        lambda: ledger.undo_reservation(
            account_id=account, reservation_id=eid, shard=shard, micros=20_000
        ),
    ).start()
    assert ledger.debit(account_id=account, kind=ledger.EntryKind.PAYOUT, ref=ref, micros=20_000)
    assert ledger.balance(account).balance_micros == 30_000
    assert audit.check(account)["ok"]


def test_debit_left_by_a_crash_is_undone_and_applied(account: str) -> None:
    _grant(account, 50_000)
    ref = str(uuid.uuid4())
    eid = ledger.entry_id(ledger.EntryKind.PAYOUT, ref)
    ledger.reserve(account_id=account, reservation_id=eid, micros=20_000)  # then it died
    _age(eid, ledger.STALE_RESERVATION + dt.timedelta(seconds=5))
    assert ledger.debit(account_id=account, kind=ledger.EntryKind.PAYOUT, ref=ref, micros=20_000)
    assert db().collection(LEDGER).document(eid).get().exists
    money = ledger.balance(account)
    assert (money.balance_micros, money.available_micros) == (30_000, 30_000)
    # Applied means applied: the same debit again changes nothing.
    assert not ledger.debit(
        account_id=account, kind=ledger.EntryKind.PAYOUT, ref=ref, micros=20_000
    )
    assert ledger.balance(account).balance_micros == 30_000
    assert audit.check(account)["ok"]


def test_debit_whose_commit_response_is_lost_reports_applied_once(account: str) -> None:
    _grant(account, 50_000)
    ref = str(uuid.uuid4())
    with store.lose_commit_responses("ledger.debit"):
        applied = ledger.debit(
            account_id=account, kind=ledger.EntryKind.PAYOUT, ref=ref, micros=20_000
        )
    assert applied is True
    assert ledger.balance(account).balance_micros == 30_000
    assert (
        not db()
        .collection(RESERVATIONS)
        .document(ledger.entry_id(ledger.EntryKind.PAYOUT, ref))
        .get()
        .exists
    )
    assert audit.check(account)["ok"]


def test_credit_whose_commit_response_is_lost_reports_applied_once(account: str) -> None:
    ref = str(uuid.uuid4())
    with store.lose_commit_responses("ledger.credit"):
        first = ledger.credit(
            account_id=account, kind=ledger.EntryKind.GRANT, ref=ref, micros=9_000
        )
    again = ledger.credit(account_id=account, kind=ledger.EntryKind.GRANT, ref=ref, micros=9_000)
    assert (first, again) == (True, False)
    assert ledger.balance(account).balance_micros == 9_000


def test_the_house_may_go_below_zero_and_still_audits(stack: object) -> None:
    ref = str(uuid.uuid4())
    batch = db().batch()
    ledger.house_debit_writes(batch, kind=ledger.EntryKind.EXPENSE, ref=ref, micros=1_234)
    store.commit(batch, label="ledger.expense")
    assert ledger.balance(ledger.PLATFORM_ACCOUNT).balance_micros == -1_234
    # The house and its earnings account; the module's only house entry is this expense.
    result = audit.check(ledger.PLATFORM_ACCOUNT)
    assert result == {"ok": True, "accounts": 2, "entries": 1, "problems": []}, result


def test_a_stale_shard_hint_costs_an_undone_attempt_never_money(account: str) -> None:
    """reserve() first tries the shard this process last saw covering the amount, without a
    read; a hint that is wrong (money spent elsewhere) must not let anything overdraw."""
    _grant(account, 10_000)
    shards = get_settings().ledger_shards
    reservations._LAST_SEEN[account] = {k: 10**9 for k in range(shards)}  # every shard "covers"
    first = str(uuid.uuid4())
    shard = ledger.reserve(account_id=account, reservation_id=first, micros=10_000)
    assert ledger.read_shards(account)[shard]["available_micros"] == 0
    reservations._LAST_SEEN[account] = {k: 10**9 for k in range(shards)}
    with pytest.raises(AppError) as refused:
        ledger.reserve(account_id=account, reservation_id=str(uuid.uuid4()), micros=10_000)
    assert refused.value.kind is ErrorKind.INSUFFICIENT_FUNDS
    assert all(s["available_micros"] >= 0 for s in ledger.read_shards(account).values())
    assert ledger.undo_reservation(
        account_id=account, reservation_id=first, shard=shard, micros=10_000
    )
    assert ledger.balance(account).available_micros == 10_000
