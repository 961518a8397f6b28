"""The marketplace's money split: what a captured run pays its creator and the platform.

Registered as the market's settlement share writer (shared/engine/shares.py), so it runs
inside the batch that captures a run's hold, under the same precondition on the job: the
capture, the creator's EARNING and the platform's REVENUE land together exactly once.
creator = floor(captured x CREATOR_SHARE_PERCENT / 100), platform = captured - creator, in
integer micros, so captured == earning + revenue always (the audit checks it). Both entries
use the capture's ref; an entry of 0 is not written. The creator's share goes to their
earnings account, the only money a payout may draw on.
"""

from __future__ import annotations

from typing import Any

from shared.engine import ledger
from shared.market.records import CREATOR_SHARE_PERCENT


def creator_share(captured_micros: int) -> int:
    return captured_micros * CREATOR_SHARE_PERCENT // 100


def write_shares(batch: Any, job: Any, captured_micros: int) -> None:
    """Add the creator's earning and the platform's revenue of a capture to `batch`."""
    if captured_micros <= 0:
        return
    creator_id = job.site_fields.get("creator_id")
    if not creator_id:
        # A market job always names its creator (runs.submit_run); without one there is
        # nobody to pay, and the capture must not land unsplit.
        raise ValueError(f"market job {job.id} has no creator_id")
    ref = job.hold_ref or job.id
    memo = f"market:{job.site_fields.get('tars_model_id')}"
    earning = creator_share(captured_micros)
    revenue = captured_micros - earning
    if earning:
        ledger.credit_writes(
            batch,
            account_id=ledger.earnings_account(str(creator_id)),
            kind=ledger.EntryKind.EARNING,
            ref=ref,
            micros=earning,
            job_id=job.id,
            memo=memo,
        )
    if revenue:
        ledger.credit_writes(
            batch,
            account_id=ledger.PLATFORM_ACCOUNT,
            kind=ledger.EntryKind.REVENUE,
            ref=ref,
            micros=revenue,
            job_id=job.id,
            memo=memo,
        )
