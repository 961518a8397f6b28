"""Each integration module that uses the stack starts from an empty Firestore.

The gateway serves one project id, so isolation is per module: before a module's first
test, the emulator's documents are wiped (its REST `DELETE .../documents`). What the stack
made at start lives outside Firestore (the tasks queue, the buckets, the RunPod workers)
and survives. Counts and ledger checks in a module therefore see only that module's data.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from infra.local.stack import PROJECT


def wipe_firestore(stack: object) -> None:
    port = stack.ports["firestore"]  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}/emulator/v1/projects/{PROJECT}/databases/(default)/documents"
    httpx.delete(url, timeout=30).raise_for_status()


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
