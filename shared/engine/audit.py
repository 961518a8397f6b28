"""Ledger audit: what `relay ledger check` proves about money at rest.

For every account: balance = sum of its entries' balance deltas; held = sum of the holds
not yet settled; available = balance - held - open reservations; nothing negative, except
on the platform's own account (`ledger.PLATFORM_ACCOUNT`), the house, which pays grid
workers out of pocket (EXPENSE) and alone may go below zero. A person's earnings account
(`ledger.earnings_account`) is checked with their prepaid one and never holds money for a
job. For every hold (a job's run): at most one settlement (capture or release), a
settlement only for a hold that exists, and a job's current hold settled exactly when the
job is terminal (earlier runs' holds always settled). For every capture that has shares
(an EARNING or REVENUE entry with the capture's ref): captured = earnings + revenue; an
earning paid by the house (EXPENSE) has no capture and is not compared with one; where
the house pays part of a captured job's shares, captured + expense = earnings + revenue.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from shared.engine import ledger
from shared.engine.jobs import TERMINAL, JobState
from shared.engine.store import ACCOUNTS, JOBS, LEDGER, RESERVATIONS, SHARDS, db


def check(account_id: str | None = None) -> dict[str, Any]:
    problems: list[str] = []
    if account_id:
        accounts = [account_id, ledger.earnings_account(account_id)]
    else:
        ids = {ref.id for ref in db().collection(ACCOUNTS).list_documents()}
        ids |= {snap.reference.parent.parent.id for snap in db().collection_group(SHARDS).stream()}
        accounts = sorted(ids)
    entry_count = 0
    for account in accounts:
        entries = ledger.entries(account)
        entry_count += len(entries)
        problems += _check_account(account, entries)
    return {
        "ok": not problems,
        "accounts": len(accounts),
        "entries": entry_count,
        "problems": problems[:50],
    }


def _check_account(account_id: str, entries: list[dict[str, Any]]) -> list[str]:
    problems = []
    shards = ledger.read_shards(account_id).values()
    balance = sum(s["balance_micros"] for s in shards)
    held = sum(s["held_micros"] for s in shards)
    available = sum(s["available_micros"] for s in shards)
    from google.cloud.firestore_v1.base_query import FieldFilter

    reserved = sum(
        int(snap.get("micros"))
        for snap in db()
        .collection(RESERVATIONS)
        .where(filter=FieldFilter("account_id", "==", account_id))
        .stream()
    )
    entry_balance = sum(int(e["balance_delta_micros"]) for e in entries)
    entry_held = sum(int(e["held_delta_micros"]) for e in entries)
    if balance != entry_balance:
        problems.append(f"{account_id}: balance {balance} != entries {entry_balance}")
    if held != entry_held:
        problems.append(f"{account_id}: held {held} != open holds {entry_held}")
    if available != balance - held - reserved:
        problems.append(
            f"{account_id}: available {available} != balance - held - reserved "
            f"({balance} - {held} - {reserved})"
        )
    house = account_id == ledger.PLATFORM_ACCOUNT
    if not house and (balance < 0 or held < 0 or available < 0):
        problems.append(f"{account_id}: negative money {balance}/{held}/{available}")
    if account_id.endswith(ledger.EARNINGS_SUFFIX) and held:
        problems.append(f"{account_id}: an earnings account holds {held}")
    problems += _check_shares([e for e in entries if e["kind"] == ledger.EntryKind.CAPTURE])
    # Holds and settlements are keyed by their ref: the job id, or `<job>:r<n>` for a retry.
    settlements: dict[str, list[str]] = defaultdict(list)
    holds: dict[str, str] = {}
    for e in entries:
        if e["kind"] == ledger.EntryKind.HOLD:
            holds[e["ref"]] = e["job_id"]
        elif e["kind"] in (ledger.EntryKind.CAPTURE, ledger.EntryKind.RELEASE):
            settlements[e["ref"]].append(e["kind"])
    for ref, kinds in settlements.items():
        if len(kinds) > 1:
            problems.append(f"hold {ref} settled {len(kinds)} times: {kinds}")
        if ref not in holds:
            problems.append(f"hold {ref} settled without a hold")
    job_ids = sorted(set(holds.values()))
    refs = [db().collection(JOBS).document(job_id) for job_id in job_ids]
    for snap in db().get_all(refs) if refs else []:
        if not snap.exists:
            problems.append(f"hold for missing job {snap.id}")
            continue
        state = JobState(snap.get("state"))
        current = (snap.to_dict() or {}).get("hold_ref") or snap.id
        for ref in (r for r, job_id in holds.items() if job_id == snap.id):
            settled = ref in settlements
            should_be = state in TERMINAL if ref == current else True
            if settled != should_be:
                problems.append(f"job {snap.id} ({state}) hold {ref}: settled={settled}")
    return problems


def _check_shares(captures: list[dict[str, Any]]) -> list[str]:
    """captured = earnings + revenue, for each capture whose ref has shares (less what the
    house paid toward them under the same ref, an EXPENSE, when it topped a share up)."""
    if not captures:
        return []
    shares = (ledger.EntryKind.EARNING, ledger.EntryKind.REVENUE, ledger.EntryKind.EXPENSE)
    refs = [
        db().collection(LEDGER).document(ledger.entry_id(kind, c["ref"]))
        for c in captures
        for kind in shares
    ]
    paid: dict[str, int] = defaultdict(int)
    has_shares: set[str] = set()
    for snap in db().get_all(refs):
        if snap.exists:
            data = snap.to_dict() or {}
            if data["kind"] != ledger.EntryKind.EXPENSE:
                has_shares.add(data["ref"])
            paid[data["ref"]] += int(data["balance_delta_micros"])
    problems = []
    for c in captures:
        captured = -int(c["balance_delta_micros"])
        if c["ref"] in has_shares and paid[c["ref"]] != captured:
            problems.append(
                f"capture {c['ref']}: captured {captured} != earnings + revenue {paid[c['ref']]}"
            )
    return problems
