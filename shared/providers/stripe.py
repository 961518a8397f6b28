"""The Payments port for Stripe: one lazily built client, and verified webhook events.

The same `stripe` SDK code talks to Stripe and to the local Stripe server
(infra/local/stripe_server.py); only `stripe_api_base` differs. Events are trusted only
after `stripe.Webhook.construct_event` has checked their signature.
"""

from __future__ import annotations

import functools
from typing import Any

from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings


@functools.cache
def client() -> Any:
    import stripe

    settings = get_settings()
    return stripe.StripeClient(
        settings.stripe_api_key,
        base_addresses={"api": settings.stripe_api_base},
        max_network_retries=2,
        # One connection pool for every thread: the default (requests) keeps a session per
        # thread, so each request of a thread-per-request server opened a new connection.
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
    )


def verified_event(payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event as plain data (the SDK's objects are not dicts), once its signature holds."""
    import stripe

    if not signature:
        raise AppError(ErrorKind.INVALID, "missing Stripe-Signature")
    try:
        event = stripe.Webhook.construct_event(
            payload, signature, get_settings().stripe_webhook_secret
        )
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise AppError(ErrorKind.INVALID, "invalid Stripe webhook") from exc
    return event.to_dict()
