"""A creator's earnings: the summary and the per-run history, read from the ledger.

Invariants: the ledger is the only source of money figures. A market earning is an EARNING
entry on the creator's earnings account (`ledger.earnings_account`) whose memo is
`market:<tars model id>` and whose ref is the run's job id; the platform's share of the same
run is the REVENUE entry with that ref. gross = earning + revenue, net = earning. Sums are
taken in integer micros and converted to credits once, rounding down; a row's platform fee
is gross - net in credits, so the three figures always add up. Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.engine import clock, ledger
from shared.engine.ledger import EntryKind
from shared.engine.store import JOBS, LEDGER, db
from shared.market import records
from shared.market.developers import require as require_developer
from shared.market.paging import cut, meta

MEMO_PREFIX = "market:"
GET_ALL_CHUNK = 300


def credits(micros: int) -> int:
    """Micros as whole credits, rounded down (the one conversion of every figure)."""
    return micros // records.CREDIT_MICROS


@dataclass(frozen=True)
class Earning:
    """One market run's earning: the creator's entry and the platform's share of the run."""

    entry_id: str
    job_id: str
    tars_model_id: str
    net_micros: int
    fee_micros: int
    created_at: dt.datetime

    @property
    def gross_micros(self) -> int:
        return self.net_micros + self.fee_micros


def _get_all(collection: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Documents by id (missing ones left out), read in chunks."""
    found: dict[str, dict[str, Any]] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), GET_ALL_CHUNK):
        refs = [
            db().collection(collection).document(i) for i in unique[start : start + GET_ALL_CHUNK]
        ]
        for snap in db().get_all(refs):
            if snap.exists:
                found[snap.id] = snap.to_dict() or {}
    return found


def market_earnings(account_id: str) -> list[Earning]:
    """Every market earning of `account_id`, newest first, with the platform's share."""
    mine = [
        e
        for e in ledger.entries(ledger.earnings_account(account_id))
        if e["kind"] == EntryKind.EARNING and str(e.get("memo", "")).startswith(MEMO_PREFIX)
    ]
    revenue = _get_all(LEDGER, (ledger.entry_id(EntryKind.REVENUE, e["ref"]) for e in mine))
    rows = [
        Earning(
            entry_id=e["id"],
            job_id=e["ref"],
            tars_model_id=str(e["memo"])[len(MEMO_PREFIX) :],
            net_micros=int(e["balance_delta_micros"]),
            fee_micros=int(
                revenue.get(ledger.entry_id(EntryKind.REVENUE, e["ref"]), {}).get(
                    "balance_delta_micros", 0
                )
            ),
            created_at=e["created_at"],
        )
        for e in mine
    ]
    rows.sort(key=lambda r: (r.created_at, r.entry_id), reverse=True)
    return rows


def titles(*, job_ids: Iterable[str], tars_model_ids: Iterable[str]) -> dict[str, str]:
    """Tars model titles: from the runs' jobs (the title a run was sold under), else from
    the tars model itself."""
    found: dict[str, str] = {}
    for job in _get_all(JOBS, job_ids).values():
        fields = job.get("site_fields") or {}
        if fields.get("tars_model_id") and fields.get("title"):
            found.setdefault(str(fields["tars_model_id"]), str(fields["title"]))
    missing = set(tars_model_ids) - set(found)
    for model_id, model in _get_all(records.TARS_MODELS, missing).items():
        found[model_id] = str(model.get("title", ""))
    return found


def _money(gross_micros: int, net_micros: int) -> dict[str, int]:
    gross, net = credits(gross_micros), credits(net_micros)
    return {"gross": gross, "platformFee": gross - net, "net": net}


def _month_start(moment: dt.datetime, months_back: int = 0) -> dt.datetime:
    year, month = moment.year, moment.month - months_back
    while month < 1:
        year, month = year - 1, month + 12
    return dt.datetime(year, month, 1, tzinfo=dt.UTC)


def payouts_of(account_id: str) -> list[records.PayoutRecord]:
    """Every payout of `account_id`, newest first."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        db().collection(records.PAYOUTS).where(filter=FieldFilter("account_id", "==", account_id))
    )
    found = [records.PayoutRecord(id=s.id, **(s.to_dict() or {})) for s in query.stream()]
    found.sort(key=lambda p: (p.requested_at, p.id), reverse=True)
    return found


def _payout_totals(account_id: str) -> dict[records.PayoutStatus, int]:
    totals = dict.fromkeys(records.PayoutStatus, 0)
    for payout in payouts_of(account_id):
        totals[payout.status] += payout.amount_credits
    return totals


def summary(account_id: str) -> dict[str, Any]:
    """GET /earnings: lifetime earnings, payouts by state, this and last calendar month
    (UTC), and (Relay extension) what can be paid out now."""
    require_developer(account_id)
    rows = market_earnings(account_id)
    now = clock.now().astimezone(dt.UTC)
    this_start, last_start = _month_start(now), _month_start(now, 1)

    def month(start: dt.datetime, end: dt.datetime | None) -> dict[str, int]:
        picked = [r for r in rows if r.created_at >= start and (end is None or r.created_at < end)]
        return _money(sum(r.gross_micros for r in picked), sum(r.net_micros for r in picked))

    payouts = _payout_totals(account_id)
    available = ledger.balance(ledger.earnings_account(account_id)).available_micros
    return {
        "totalEarnings": credits(sum(r.net_micros for r in rows)),
        "pendingPayout": payouts[records.PayoutStatus.PENDING]
        + payouts[records.PayoutStatus.PROCESSING],
        "totalPaidOut": payouts[records.PayoutStatus.COMPLETED],
        "platformFeeRate": records.PLATFORM_FEE_RATE,
        "thisMonth": month(this_start, None),
        "lastMonth": month(last_start, this_start),
        "availableForPayout": credits(available),
    }


def history(
    *,
    account_id: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    page: int,
    limit: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """GET /earnings/history: one row per market run that earned, newest first, within
    [start, end) when given; returns (rows of the page, meta)."""
    require_developer(account_id)
    rows = [
        r
        for r in market_earnings(account_id)
        if (start is None or r.created_at >= start) and (end is None or r.created_at < end)
    ]
    shown = cut(rows, page=page, limit=limit)
    names = titles(
        job_ids=(r.job_id for r in shown), tars_model_ids=(r.tars_model_id for r in shown)
    )
    items = []
    for r in shown:
        money = _money(r.gross_micros, r.net_micros)
        items.append(
            {
                "id": r.entry_id,
                "notebookId": r.tars_model_id,
                "notebookTitle": names.get(r.tars_model_id),
                "executionId": r.job_id,
                "creditsEarned": money["gross"],
                "platformFee": money["platformFee"],
                "netEarning": money["net"],
                "createdAt": records.iso(r.created_at),
            }
        )
    return items, meta(page=page, limit=limit, total=len(rows))
