"""The per-module wipe (tests/integration/conftest.py) empties Firestore and nothing else."""

from __future__ import annotations

import uuid

from shared.engine import queue
from shared.engine.store import db
from tests.integration.conftest import wipe_firestore


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
