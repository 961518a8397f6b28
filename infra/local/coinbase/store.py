"""The in-memory state of the local Coinbase Commerce server: charges, events and webhook
endpoints.

Each charge is kept as the exact JSON dict the API returns and changed in place; its status is
the last timeline entry, so a status change is always a new timeline entry (`Store.move`), and
an event carries a deep copy of the charge as it was when the event was made. Events are kept
in the order they were sent and go to every endpoint known at that moment. A NEW or PENDING
charge that no payment has reached expires (``charge:failed``) once its time is up. One lock
guards everything; the HTTP layer holds it for the whole of each request.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from infra.local.coinbase.webhooks import Deliverer, SentEvent
from infra.local.coinbase.wire import iso, not_found

OPEN = frozenset({"NEW", "PENDING"})


@dataclass
class Store:
    api_version: str  # what events carry
    charge_ttl_s: float  # how long a charge no payment reached stays open
    deliverer: Deliverer
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id, creation order
    codes: dict[str, str] = field(default_factory=dict)  # code -> id
    expiry: dict[str, float] = field(default_factory=dict)  # id -> unix expires_at
    events: dict[str, SentEvent] = field(default_factory=dict)  # sent order
    endpoints: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.stopping.set()
        self.deliverer.close()

    def find(self, key: str) -> dict[str, Any]:
        charge = self.charges.get(key) or self.charges.get(self.codes.get(key.upper(), ""))
        if charge is None:
            raise not_found()
        return charge

    def emit(self, event_type: str, charge: dict[str, Any]) -> None:
        at = time.time()
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "resource": "event",
            "type": event_type,
            "api_version": self.api_version,
            "created_at": iso(at),
            "data": copy.deepcopy(charge),
        }
        delivery = {
            "id": str(uuid.uuid4()),
            "scheduled_for": iso(at),
            "attempt_number": 1,
            "event": event,
        }
        body = json.dumps(delivery, separators=(",", ":")).encode()
        sent = SentEvent(event["id"], event_type, charge["id"], event["created_at"], delivery, body)
        self.events[sent.id] = sent
        for url in self.endpoints:
            self.deliverer.submit(sent, url)

    def resend(self, event_id: str) -> list[str]:
        sent = self.events.get(event_id)
        if sent is None:
            raise not_found()
        for url in self.endpoints:
            self.deliverer.submit(sent, url)
        return list(self.endpoints)

    def expire_due(self) -> None:
        now = time.time()
        for charge_id, expires in self.expiry.items():
            charge = self.charges[charge_id]
            if expires <= now and status_of(charge) in OPEN and not charge["payments"]:
                self.move(charge, "EXPIRED", event="charge:failed")

    def move(
        self,
        charge: dict[str, Any],
        status: str,
        *,
        event: str | None,
        context: str | None = None,
    ) -> None:
        entry: dict[str, Any] = {"time": iso(time.time()), "status": status}
        if context is not None:
            entry["context"] = context
        charge["timeline"].append(entry)
        if event is not None:
            self.emit(event, charge)


def status_of(charge: dict[str, Any]) -> str:
    return str(charge["timeline"][-1]["status"])


def context_of(charge: dict[str, Any]) -> str | None:
    return charge["timeline"][-1].get("context")
