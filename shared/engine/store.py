"""Firestore collection names and small helpers shared by every repository module."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc

ACCOUNTS = "accounts"
SHARDS = "shards"  # subcollection of an account
LEDGER = "ledger"
RESERVATIONS = "reservations"
JOBS = "jobs"
API_KEYS = "api_keys"
RATE_WINDOWS = "rate_windows"
WEBHOOK_DELIVERIES = "webhook_deliveries"

# What a batch commit raises when a create() hits an existing document or a precondition
# (exists / last_update_time) no longer holds: the write was a no-op, retry or give up.
CONFLICTS = (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.Conflict, gexc.NotFound)


def db() -> Any:
    from shared.engine.clients import firestore_client

    return firestore_client()


def increment(value: int) -> Any:
    from google.cloud import firestore

    return firestore.Increment(value)


def transform_value(write_result: Any, index: int = 0) -> int:
    """The value a field transform (Increment) left in the document, atomically."""
    value = write_result.transform_results[index]
    return int(value.integer_value)
