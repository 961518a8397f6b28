"""Each integration module that uses the stack starts from an empty Firestore and ends with
a ledger that audits clean.

The gateway serves one project id, so isolation is per module: before a module's first
test, the emulator's documents are wiped (its REST `DELETE .../documents`). What the stack
made at start lives outside Firestore (the tasks queue, the buckets, the RunPod workers)
and survives. Counts and ledger checks in a module therefore see only that module's data.

After a module's last test, the full ledger audit (`relay ledger check` with no account:
every account, earnings accounts and the house included) runs over what the module left;
a module that leaves money inconsistent fails at its teardown, by name. A module that must
leave an inconsistent ledger behind opts out with `pytestmark = pytest.mark.no_ledger_audit`
(a module that breaks the ledger on purpose should rather repair it, as test_ledger does).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from infra.local.stack import PROJECT

# The audit reads entries, shards and jobs in separate reads, not one snapshot: work a
# module set off (a worker's callback, a task) may land between them. A real inconsistency
# persists, so a failed audit is repeated once after the stack has had time to settle.
SETTLE_S = 3.0


def wipe_firestore(stack: object, *, patience_s: float = 60.0) -> None:
    """Clear the emulator between modules. It answers 409 while a transaction still holds a
    lock (one a timed-out request left open ends at the emulator's lock timeout): wait for
    that, so one module's stuck transaction fails that module, not the next one's setup."""
    port = stack.ports["firestore"]  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}/emulator/v1/projects/{PROJECT}/databases/(default)/documents"
    deadline = time.monotonic() + patience_s
    while True:
        response = httpx.delete(url, timeout=30)
        if response.status_code != 409 or time.monotonic() > deadline:
            response.raise_for_status()
            return
        time.sleep(1.0)


def audit_module_ledger(module: str) -> None:
    from shared.engine import audit

    result = audit.check()
    if not result["ok"]:
        time.sleep(SETTLE_S)
        result = audit.check()
    if not result["ok"]:
        problems = "\n  ".join(result["problems"])
        pytest.fail(
            f"{module} left the ledger inconsistent ({result['accounts']} accounts, "
            f"{result['entries']} entries):\n  {problems}",
            pytrace=False,
        )


@pytest.fixture(autouse=True, scope="module")
def fresh_firestore(request: pytest.FixtureRequest) -> Iterator[None]:
    uses_stack = any(
        "stack" in item.fixturenames
        for item in request.session.items
        if getattr(item, "module", None) is request.module
    )
    if uses_stack:
        wipe_firestore(request.getfixturevalue("stack"))
    yield
    if uses_stack and not request.node.get_closest_marker("no_ledger_audit"):
        audit_module_ledger(request.node.nodeid)
