"""The per-module wipe (tests/integration/conftest.py) empties Firestore and nothing else;
the closing audit fails a module that leaves the ledger inconsistent, by name."""

from __future__ import annotations

import uuid

import pytest

from shared.engine import identity, ledger, queue
from shared.engine.store import ACCOUNTS, SHARDS, db
from tests.integration.conftest import audit_module_ledger, wipe_firestore


def test_this_module_starts_with_no_documents_and_the_wipe_keeps_the_stack(stack) -> None:
    # The autouse wipe ran before this module: no accounts or ledger from other modules.
    assert not list(db().collection("accounts").limit(1).stream())
    assert not list(db().collection("ledger").limit(1).stream())
    marker = db().collection("accounts").document(f"marker-{uuid.uuid4().hex}")
    marker.set({"email": "marker@example.com"})
    wipe_firestore(stack)
    assert not marker.get().exists
    # The queue the stack made at start is not Firestore's: tasks still enqueue.
    queue.enqueue(queue.Target.DISPATCH, {"job_id": f"no-such-job-{uuid.uuid4().hex}"})


def test_the_closing_ledger_audit_fails_naming_the_module_and_the_problem(stack) -> None:
    account = identity.create_account(email=f"iso-{uuid.uuid4().hex[:10]}@example.com").id
    ledger.credit(account_id=account, kind=ledger.EntryKind.GRANT, ref="iso", micros=10_000)
    shard = db().collection(ACCOUNTS).document(account).collection(SHARDS).document("0")
    module = "tests/integration/test_isolation.py"

    def tamper(micros: int) -> None:
        shard.set({"balance_micros": ledger.increment(micros)}, merge=True)

    tamper(1)  # money changed without an entry, as a bug that bypassed the ledger would
    try:
        with pytest.raises(pytest.fail.Exception) as failed:
            audit_module_ledger(module)
    finally:
        tamper(-1)
    message = str(failed.value)
    assert message.startswith(f"{module} left the ledger inconsistent")
    assert f"{account}: balance 10001 != entries 10000" in message
    audit_module_ledger(module)  # repaired: the same audit passes
