"""Payment fingerprints: the same card or wallet behind two accounts makes them one payer.

Invariants: a settled top-up that the provider identifies by a payment fingerprint (Stripe:
the Charge's `payment_method_details.card.fingerprint`; x402: the payer's wallet address)
adds its account to `payment_fingerprints/<id>`, in the top-up's own settlement batch
(fingerprint_writes(); an ArrayUnion, so replays are harmless). The id is
HMAC-SHA256(provider:fingerprint) under a key derived from settings.media_token_key: the raw
fingerprint is never stored, and the collection cannot be joined with outside data. Two
accounts share a payer when some fingerprint document lists both (same_payer()); an
affiliate and an account they refer that share a payer are a self-referral, whichever of
them paid first.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from shared.engine import clock
from shared.engine.settings import get_settings
from shared.engine.store import db
from shared.media.affiliates.models import FINGERPRINTS

_KEY_LABEL = b"relay media payment fingerprint v1"


def fingerprint_id(provider: str, fingerprint: str) -> str:
    key = hmac.new(get_settings().media_token_key.encode(), _KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, f"{provider}:{fingerprint}".encode(), hashlib.sha256).hexdigest()


def fingerprint_writes(batch: Any, *, account_id: str, provider: str, fingerprint_key: str) -> None:
    """Add `account_id` to the payer `fingerprint_key` (a fingerprint_id()) in `batch`."""
    from google.cloud.firestore_v1 import ArrayUnion

    batch.set(
        db().collection(FINGERPRINTS).document(fingerprint_key),
        {"provider": provider, "account_ids": ArrayUnion([account_id]), "seen_at": clock.now()},
        merge=True,
    )


def same_payer(account_id: str, other_account_id: str, fingerprint_key: str | None = None) -> bool:
    """Whether the two accounts paid with one card or wallet: a recorded fingerprint lists
    both, or `fingerprint_key` (a payment being settled for `account_id`, not yet recorded)
    lists the other."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    if fingerprint_key is not None:
        snap = db().collection(FINGERPRINTS).document(fingerprint_key).get()
        if snap.exists and other_account_id in (snap.get("account_ids") or []):
            return True
    query = (
        db()
        .collection(FINGERPRINTS)
        .where(filter=FieldFilter("account_ids", "array_contains", account_id))
    )
    return any(other_account_id in (s.get("account_ids") or []) for s in query.stream())
