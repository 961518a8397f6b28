"""Projects and conversations (threads): create, read owner-only, update, list.

Invariants: a project or thread is visible only to its account (anyone else, or an unknown
id, is the same NOT_FOUND); a thread belongs to one of its account's projects for life;
messages are appended in a transaction that takes the next sequence number from the
thread's `message_count`, so concurrent appends never share a number and the message ids
sort in turn order.
"""

from __future__ import annotations

from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.engine import clock
from shared.engine.errors import AppError, ErrorKind
from shared.engine.store import db
from shared.media.studio.llm import DEFAULT_AGENT_MODEL
from shared.media.studio.models import (
    MESSAGES,
    PROJECTS,
    THREADS,
    Message,
    Project,
    Thread,
    new_id,
)

DEFAULT_REASONING = "default"


def _missing(what: str) -> AppError:
    return AppError(ErrorKind.NOT_FOUND, f"{what} not found")


def _owned(collection: str, doc_id: str, account_id: str, what: str) -> dict[str, Any]:
    snap = db().collection(collection).document(doc_id).get()
    data = snap.to_dict() if snap.exists else None
    if data is None or data.get("account_id") != account_id:
        raise _missing(what)
    return {"id": snap.id, **data}


# --- projects ------------------------------------------------------------------------------


def create_project(*, account_id: str, title: str, description: str = "") -> Project:
    now = clock.now()
    project = Project(
        id=new_id("prj"),
        account_id=account_id,
        title=title,
        description=description,
        created_at=now,
        updated_at=now,
    )
    db().collection(PROJECTS).document(project.id).create(project.model_dump(exclude={"id"}))
    return project


def owned_project(account_id: str, project_id: str) -> Project:
    return Project(**_owned(PROJECTS, project_id, account_id, "project"))


def update_project(
    *, account_id: str, project_id: str, title: str | None, description: str | None
) -> Project:
    owned_project(account_id, project_id)
    changes: dict[str, Any] = {"updated_at": clock.now()}
    if title is not None:
        changes["title"] = title
    if description is not None:
        changes["description"] = description
    db().collection(PROJECTS).document(project_id).update(changes)
    return owned_project(account_id, project_id)


def list_projects(account_id: str, *, limit: int = 200) -> list[Project]:
    owner = FieldFilter("account_id", "==", account_id)
    query = db().collection(PROJECTS).where(filter=owner).limit(limit)
    projects = [Project(id=s.id, **s.to_dict()) for s in query.stream()]
    return sorted(projects, key=lambda p: p.updated_at, reverse=True)


# --- threads -------------------------------------------------------------------------------


def create_thread(
    *,
    account_id: str,
    project_id: str,
    title: str = "New conversation",
    agent_model: str = DEFAULT_AGENT_MODEL,
    reasoning_level: str = DEFAULT_REASONING,
) -> Thread:
    owned_project(account_id, project_id)
    now = clock.now()
    thread = Thread(
        id=new_id("thr"),
        account_id=account_id,
        project_id=project_id,
        title=title,
        agent_model=agent_model,
        reasoning_level=reasoning_level,
        created_at=now,
        updated_at=now,
    )
    db().collection(THREADS).document(thread.id).create(thread.model_dump(exclude={"id"}))
    return thread


def owned_thread(account_id: str, thread_id: str) -> Thread:
    return Thread(**_owned(THREADS, thread_id, account_id, "conversation"))


def rename_thread(*, account_id: str, thread_id: str, title: str) -> Thread:
    owned_thread(account_id, thread_id)
    db().collection(THREADS).document(thread_id).update({"title": title, "updated_at": clock.now()})
    return owned_thread(account_id, thread_id)


def list_threads(
    account_id: str, project_id: str | None = None, *, limit: int = 200
) -> list[Thread]:
    query = db().collection(THREADS).where(filter=FieldFilter("account_id", "==", account_id))
    if project_id is not None:
        query = query.where(filter=FieldFilter("project_id", "==", project_id))
    threads = [Thread(id=s.id, **s.to_dict()) for s in query.limit(limit).stream()]
    return sorted(threads, key=lambda t: t.updated_at, reverse=True)


def append_message(
    *,
    thread: Thread,
    role: str,
    content: str,
    request_id: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> Message:
    """Append one message to a thread, numbered after the last, in one transaction."""
    from google.cloud import firestore

    thread_ref = db().collection(THREADS).document(thread.id)

    @firestore.transactional
    def append(transaction: Any) -> Message:
        count = int(thread_ref.get(transaction=transaction).get("message_count") or 0)
        now = clock.now()
        message = Message(
            seq=count + 1,
            role=role,
            content=content,
            request_id=request_id,
            tool_calls=tool_calls or [],
            created_at=now,
        )
        transaction.set(
            thread_ref.collection(MESSAGES).document(f"{message.seq:08d}"), message.model_dump()
        )
        transaction.update(thread_ref, {"message_count": message.seq, "updated_at": now})
        return message

    return append(db().transaction())


def messages(thread: Thread, *, limit: int = 500) -> list[Message]:
    """The thread's last `limit` messages, oldest first."""
    from google.cloud import firestore

    ref = db().collection(THREADS).document(thread.id).collection(MESSAGES)
    query = ref.order_by("seq", direction=firestore.Query.DESCENDING).limit(limit)
    return sorted((Message(**s.to_dict()) for s in query.stream()), key=lambda m: m.seq)
