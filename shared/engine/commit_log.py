"""Log lines for what a committed batch did to money and jobs, read from the batch itself.

`store.commit(batch, label=...)` calls `observe` with a batch's writes once it landed. It
logs one line per ledger entry written (`ledger/<kind>:<ref>`: kind, account, deltas) and
one per job state change (`jobs/<id>` with a `state` field), each with the commit's label.
It only reads the write protobufs: it never writes, never reads Firestore, and a value it
cannot decode (a timestamp, a map) is left out of the line rather than guessed.
"""

from __future__ import annotations

from typing import Any

from shared.engine import logs
from shared.engine.store import JOBS, LEDGER, Committed, on_commit

_SCALARS = ("string_value", "integer_value", "boolean_value", "null_value")
LEDGER_FIELDS = ("kind", "ref", "account_id", "job_id", "balance_delta_micros", "held_delta_micros")
JOB_FIELDS = ("state", "account_id", "site", "model", "error")


def _scalar(value: Any) -> Any:
    kind = value.WhichOneof("value_type")
    if kind not in _SCALARS:
        return None
    return None if kind == "null_value" else getattr(value, kind)


def _updated_document(write: Any) -> tuple[str, str, dict[str, Any]] | None:
    """(collection, document id, decoded scalar fields) of a top-level document write."""
    pb = getattr(write, "_pb", write)
    if pb.WhichOneof("operation") != "update":
        return None
    path = pb.update.name.split("/documents/", 1)[-1].split("/")
    if len(path) != 2:
        return None  # subcollections (shards, reservations) are not what the lines are about
    fields = {name: _scalar(value) for name, value in pb.update.fields.items()}
    return path[0], path[1], {k: v for k, v in fields.items() if v is not None}


def observe(committed: Committed, label: str) -> None:
    for write in committed.writes:
        document = _updated_document(write)
        if document is None:
            continue
        collection, doc_id, fields = document
        if collection == LEDGER and "kind" in fields:
            line = {k: fields[k] for k in LEDGER_FIELDS if k in fields}
            logs.info(f"ledger entry {doc_id}", entry_id=doc_id, commit=label, **line)
        elif collection == JOBS and "state" in fields:
            line = {k: fields[k] for k in JOB_FIELDS if k in fields}
            logs.info(f"job {doc_id} -> {fields['state']}", job_id=doc_id, commit=label, **line)


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        _registered = True
        on_commit(observe)
